package redisstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Router publishes each event to its model's shard (command.Publisher):
// one group-commit Publisher per shard's stream, the shard picked by
// events.Shards.Of for observations, definitions, deletions and resets
// alike, so a model's events stay in one stream, in order. With one shard
// it is the one Publisher on REDIS_STREAM, as before shards existed.
type Router struct {
	shards events.Shards
	pubs   []*Publisher
}

// NewRouter returns a Router over every shard of shards, each Publisher
// made with client, timeout and opts (NewPublisher). Metrics given with
// WithMetrics are shared, and their shards gauge says how many there are.
func NewRouter(client redis.UniversalClient, shards events.Shards, timeout time.Duration, opts ...Option) (*Router, error) {
	if shards.Count() < 1 {
		return nil, errors.New("redisstream: no shards")
	}
	r := &Router{shards: shards, pubs: make([]*Publisher, 0, shards.Count())}
	for i := range shards.Count() {
		p, err := NewPublisher(client, shards.Stream(i), timeout, opts...)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("publisher of shard %d: %w", i, err)
		}
		r.pubs = append(r.pubs, p)
	}
	if m := r.pubs[0].metrics; m != nil {
		m.shards.Set(float64(shards.Count()))
	}
	return r, nil
}

// Publish stores e on its model's shard; see Publisher.Publish.
func (r *Router) Publish(ctx context.Context, e events.Event) (string, error) {
	return r.pubs[r.shards.Of(e.ModelName())].Publish(ctx, e)
}

// Close closes every shard's Publisher (Publisher.Close): each writes what
// is queued, then refuses.
func (r *Router) Close() {
	for _, p := range r.pubs {
		p.Close()
	}
}
