// Package redisstream is the api's Redis adapter: it publishes observations
// to a Redis Stream with XADD and checks that Redis answers. It implements
// the interfaces of the app layer and knows nothing of HTTP.
package redisstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Publisher appends observations to one stream.
type Publisher struct {
	client  redis.Cmdable
	stream  string
	timeout time.Duration
}

// NewPublisher returns a Publisher appending to stream through client. Every
// Publish gives up after timeout, so a Redis that accepts connections but
// does not answer cannot make a request hang.
func NewPublisher(client redis.Cmdable, stream string, timeout time.Duration) (*Publisher, error) {
	if client == nil {
		return nil, errors.New("redisstream: nil client")
	}
	if stream == "" {
		return nil, errors.New("redisstream: empty stream name")
	}
	if timeout <= 0 {
		return nil, errors.New("redisstream: publish timeout must be positive")
	}
	return &Publisher{client: client, stream: stream, timeout: timeout}, nil
}

// Publish stores o with XADD and returns the entry id once Redis has stored
// it. The stream is not trimmed here: the consumer trims only what it has
// processed, so an entry is never dropped before it is counted.
func (p *Publisher) Publish(ctx context.Context, o events.Observation) (string, error) {
	// Guard the contract: the consumer dead-letters a bad trial, so refuse to
	// produce one in the first place.
	if !events.ValidTrial(o.Trial) {
		return "", fmt.Errorf("publishing to stream %q: invalid trial %q", p.stream, o.Trial)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	id, err := p.client.XAdd(ctx, &redis.XAddArgs{Stream: p.stream, Values: o.Fields()}).Result()
	if err != nil {
		return "", fmt.Errorf("XADD to stream %q: %w", p.stream, err)
	}
	return id, nil
}

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
