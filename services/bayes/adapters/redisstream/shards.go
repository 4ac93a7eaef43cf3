package redisstream

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/shardcount"
)

// CensusMaxAge is how old a count of the other shards' models the model
// cap may use: one read a second for all shards together, however fast
// batches are committed.
const CensusMaxAge = time.Second

// Census counts the models of every shard (SCARD of each names set, one
// pipeline), at most once per maxAge, for the model cap across shards:
// shard i's commit script cannot read the other shards' sets (they are in
// other slots of a cluster), so it is told their count. The ledgers of all
// shards share one census.
type Census struct {
	rdb    redis.UniversalClient
	shards events.Shards
	maxAge time.Duration
	now    func() time.Time

	mu      sync.Mutex
	counts  []int64 // per shard, as read at readAt; nil before the first read
	readAt  time.Time
	reading bool
}

// NewCensus returns the census of shards' models, read through rdb and
// reused for maxAge.
func NewCensus(rdb redis.UniversalClient, shards events.Shards, maxAge time.Duration) *Census {
	return &Census{rdb: rdb, shards: shards, maxAge: maxAge, now: time.Now}
}

// Others is how many models the shards other than i held at most maxAge
// ago. With one shard it is 0 without a read. While one caller reads, the
// others go on with the count in hand; a failed read is kept for maxAge
// too, so a node that is down costs one attempt per maxAge, not one per
// commit, and until it answers the last count stands (an error only when
// there never was one).
func (c *Census) Others(ctx context.Context, i int) (int, error) {
	if c.shards.Count() <= 1 {
		return 0, nil
	}
	c.mu.Lock()
	if c.counts != nil && (c.reading || c.now().Sub(c.readAt) < c.maxAge) {
		n := c.othersLocked(i)
		c.mu.Unlock()
		return n, nil
	}
	c.reading = true
	c.mu.Unlock()

	counts, err := c.read(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.reading = false
	c.readAt = c.now()
	if err == nil {
		c.counts = counts
	}
	if c.counts == nil {
		return 0, err
	}
	return c.othersLocked(i), nil
}

func (c *Census) othersLocked(i int) int {
	var n int64
	for j, x := range c.counts {
		if j != i {
			n += x
		}
	}
	return int(n)
}

func (c *Census) read(ctx context.Context) ([]int64, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, c.shards.Count())
	for j := range cmds {
		cmds[j] = pipe.SCard(ctx, c.shards.ModelsKey(j))
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	counts := make([]int64, len(cmds))
	for j, cmd := range cmds {
		n, err := cmd.Result()
		if err != nil {
			return nil, fmt.Errorf("counting the models of shard %d (%s): %w", j, c.shards.ModelsKey(j), err)
		}
		counts[j] = n
	}
	return counts, nil
}

// ErrShardsChanged is wrapped by CheckShards' error when the deployment's
// data was laid out for another number of shards: starting would look for
// models where they are not, so bayes refuses to start.
var ErrShardsChanged = shardcount.ErrChanged

// CheckShards makes sure the data in Redis was laid out for shards
// (shardcount.Check, which the api runs too). bayes refuses besides, when
// no number is recorded and shards.Count() > 1, shard 0 holding models
// other than the default one: they were created with one shard and would
// be looked for on others. Any other error is Redis' (unreachable): the
// caller may try again.
func CheckShards(ctx context.Context, rdb redis.UniversalClient, shards events.Shards) error {
	return shardcount.Check(ctx, rdb, shards, func(ctx context.Context) error {
		models := shards.ModelsKey(0)
		count, named, err := namedModels(ctx, rdb, models)
		if err != nil {
			return err
		}
		if named {
			return fmt.Errorf("%w: STREAM_SHARDS=%d, but %s holds %d models, not only %q, and %s records no number of shards: they were created with one shard; start with STREAM_SHARDS=1, or with another REDIS_STREAM for a new sharded deployment",
				ErrShardsChanged, shards.Count(), models, count, events.DefaultModel, shards.ShardsKey())
		}
		return nil
	})
}

// namedModels counts the names in the models set key and says whether one
// is not the default model's, with the commands bayes' ACL user has on it
// (SCARD, and SMEMBERS of a set of one).
func namedModels(ctx context.Context, rdb redis.UniversalClient, key string) (int64, bool, error) {
	n, err := rdb.SCard(ctx, key).Result()
	if err != nil {
		return 0, false, fmt.Errorf("reading %s: %w", key, err)
	}
	if n != 1 {
		return n, n > 1, nil
	}
	names, err := rdb.SMembers(ctx, key).Result()
	if err != nil {
		return 0, false, fmt.Errorf("reading %s: %w", key, err)
	}
	return n, len(names) > 0 && names[0] != events.DefaultModel, nil
}
