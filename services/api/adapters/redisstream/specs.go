package redisstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
)

// SpecReader reads model specs with GET and counts the models with SCARD
// (command.Catalog): the only reads the api's Redis user may make. A
// model's spec is on its shard; the models are counted on every shard.
type SpecReader struct {
	client redis.UniversalClient
	shards events.Shards
	models []string // each shard's set of its models' names, as bayes keeps them
}

// NewSpecReader returns a reader of the specs of the models of shards.
func NewSpecReader(client redis.UniversalClient, shards events.Shards) (*SpecReader, error) {
	if client == nil || shards.Count() < 1 {
		return nil, errors.New("redisstream: nil client or no shards")
	}
	r := &SpecReader{client: client, shards: shards}
	for i := range shards.Count() {
		r.models = append(r.models, shards.ModelsKey(i))
	}
	return r, nil
}

// Spec returns the spec model was created with, and whether it exists.
func (r *SpecReader) Spec(ctx context.Context, model string) (events.ModelSpec, bool, error) {
	key := r.shards.SpecKey(model)
	b, err := r.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return events.ModelSpec{}, false, nil
	}
	if err != nil {
		redisconf.Reload(ctx, r.client)
		return events.ModelSpec{}, false, fmt.Errorf("GET %s: %w", key, err)
	}
	spec, err := events.DecodeModelSpec(b)
	if err != nil {
		return events.ModelSpec{}, false, fmt.Errorf("GET %s: %w", key, err)
	}
	return spec, true, nil
}

// Lookup reads model's spec and the number of models in one pipeline (GET
// and one SCARD per shard, all O(1); a cluster client sends each node its
// part at once).
func (r *SpecReader) Lookup(ctx context.Context, model string) (command.Lookup, error) {
	key := r.shards.SpecKey(model)
	var get *redis.StringCmd
	cards := make([]*redis.IntCmd, len(r.models))
	// Each command carries its own error; a missing spec is redis.Nil.
	_, _ = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		for i, m := range r.models {
			cards[i] = p.SCard(ctx, m)
		}
		return nil
	})
	var n int64
	for i, card := range cards {
		c, err := card.Result()
		if err != nil {
			redisconf.Reload(ctx, r.client)
			return command.Lookup{}, fmt.Errorf("SCARD %s: %w", r.models[i], err)
		}
		n += c
	}
	b, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return command.Lookup{Count: n}, nil
	}
	if err != nil {
		redisconf.Reload(ctx, r.client)
		return command.Lookup{}, fmt.Errorf("GET %s: %w", key, err)
	}
	spec, err := events.DecodeModelSpec(b)
	if err != nil {
		return command.Lookup{}, fmt.Errorf("GET %s: %w", key, err)
	}
	return command.Lookup{Spec: spec, Exists: true, Count: n}, nil
}
