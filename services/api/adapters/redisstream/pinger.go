package redisstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Pinger checks that Redis answers.
type Pinger struct {
	client redis.Cmdable
}

// NewPinger returns a Pinger using client.
func NewPinger(client redis.Cmdable) (*Pinger, error) {
	if client == nil {
		return nil, errors.New("redisstream: nil client")
	}
	return &Pinger{client: client}, nil
}

// Ping sends PING; the caller's context bounds how long it may take.
func (p *Pinger) Ping(ctx context.Context) error {
	if err := p.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("PING redis: %w", err)
	}
	return nil
}
