package redisstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// SpecReader reads model specs with GET and counts the models with SCARD
// (command.Catalog): the only reads the api's Redis user may make.
type SpecReader struct {
	client redis.Cmdable
	stream string
	models string // the set of every model's name, as bayes keeps it
}

// NewSpecReader returns a reader of the specs of stream's models.
func NewSpecReader(client redis.Cmdable, stream string) (*SpecReader, error) {
	if client == nil || stream == "" {
		return nil, errors.New("redisstream: nil client or empty stream name")
	}
	return &SpecReader{client: client, stream: stream, models: ModelsKey(stream)}, nil
}

// ModelsKey is the set bayes adds every model's name to when it creates
// the model (bayes' adapters/redisstream.KeysFor names it the same way).
func ModelsKey(stream string) string { return stream + ":models" }

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

// Lookup reads model's spec and the number of models in one pipelined
// round trip (GET and SCARD; both O(1)).
func (r *SpecReader) Lookup(ctx context.Context, model string) (command.Lookup, error) {
	key := events.SpecKey(r.stream, model)
	var get *redis.StringCmd
	var card *redis.IntCmd
	// Each command carries its own error; a missing spec is redis.Nil.
	_, _ = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		card = p.SCard(ctx, r.models)
		return nil
	})
	n, err := card.Result()
	if err != nil {
		return command.Lookup{}, fmt.Errorf("SCARD %s: %w", r.models, err)
	}
	b, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return command.Lookup{Count: n}, nil
	}
	if err != nil {
		return command.Lookup{}, fmt.Errorf("GET %s: %w", key, err)
	}
	spec, err := events.DecodeModelSpec(b)
	if err != nil {
		return command.Lookup{}, fmt.Errorf("GET %s: %w", key, err)
	}
	return command.Lookup{Spec: spec, Exists: true, Count: n}, nil
}
