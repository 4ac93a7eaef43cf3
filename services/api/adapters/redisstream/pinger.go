package redisstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/shardcount"
)

// Pinger checks that the node of every shard answers: the one server, or
// in a Redis Cluster the master of each shard's stream. The api is ready
// only when it can write every model's events, and only when its
// STREAM_SHARDS is the deployment's (shardcount.Check): an api with
// another number would write models to shards where no bayes looks.
type Pinger struct {
	client redis.UniversalClient
	shards events.Shards
	// agreed: the number of shards was checked once; it cannot change
	// afterwards while models exist.
	agreed atomic.Bool
}

// NewPinger returns a Pinger of shards' masters through client.
func NewPinger(client redis.UniversalClient, shards events.Shards) (*Pinger, error) {
	if client == nil {
		return nil, errors.New("redisstream: nil client")
	}
	if shards.Count() < 1 {
		return nil, errors.New("redisstream: no shards")
	}
	return &Pinger{client: client, shards: shards}, nil
}

// Ping sends PING to every shard's master, once each and all at once; the
// caller's context bounds how long it may take. A failure makes a cluster
// client read the slot map again, so a failover is seen by the next Ping.
func (p *Pinger) Ping(ctx context.Context) error {
	masters := map[*redis.Client]string{} // node → the first shard stream it serves
	for i := range p.shards.Count() {
		stream := p.shards.Stream(i)
		node, err := redisconf.MasterFor(ctx, p.client, stream)
		if err != nil {
			redisconf.Reload(ctx, p.client)
			return fmt.Errorf("PING redis: %w", err)
		}
		if _, ok := masters[node]; !ok {
			masters[node] = stream
		}
	}
	errs := make(chan error, len(masters))
	var wg sync.WaitGroup
	for node, stream := range masters {
		wg.Go(func() {
			if err := node.Ping(ctx).Err(); err != nil {
				errs <- fmt.Errorf("PING redis %s (master of %s): %w", node.Options().Addr, stream, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		redisconf.Reload(ctx, p.client)
		return err
	}
	if !p.agreed.Load() {
		if err := shardcount.Check(ctx, p.client, p.shards, nil); err != nil {
			return err
		}
		p.agreed.Store(true)
	}
	return nil
}
