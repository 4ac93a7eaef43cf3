package redisstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// SpecReader reads model specs (command.SpecReader) with GET: the only
// read the api's Redis user may make.
type SpecReader struct {
	client redis.Cmdable
	stream string
}

// NewSpecReader returns a reader of the specs of stream's models.
func NewSpecReader(client redis.Cmdable, stream string) (*SpecReader, error) {
	if client == nil || stream == "" {
		return nil, errors.New("redisstream: nil client or empty stream name")
	}
	return &SpecReader{client: client, stream: stream}, nil
}

// Spec returns the spec model was created with, and whether it exists.
func (r *SpecReader) Spec(ctx context.Context, model string) (events.ModelSpec, bool, error) {
	key := events.SpecKey(r.stream, model)
	b, err := r.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return events.ModelSpec{}, false, nil
	}
	if err != nil {
		return events.ModelSpec{}, false, fmt.Errorf("GET %s: %w", key, err)
	}
	spec, err := events.DecodeModelSpec(b)
	if err != nil {
		return events.ModelSpec{}, false, fmt.Errorf("GET %s: %w", key, err)
	}
	return spec, true, nil
}
