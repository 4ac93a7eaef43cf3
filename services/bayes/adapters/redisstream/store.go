package redisstream

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Store reads the models of every shard (query.ModelStore): a named model
// from its own shard, a page of names merged from every shard's index, the
// count summed. Each read is one pipeline, which a cluster client splits
// over the nodes; no command touches two shards' keys. With one shard it
// reads what the shard's Ledger reads, the same way.
type Store struct {
	rdb    redis.UniversalClient
	shards events.Shards
	keys   []Keys
}

// NewStore returns the store of shards' models, read through rdb.
func NewStore(rdb redis.UniversalClient, shards events.Shards) *Store {
	keys := make([]Keys, shards.Count())
	for i := range keys {
		keys[i] = ShardKeys(shards, i)
	}
	return &Store{rdb: rdb, shards: shards, keys: keys}
}

// Models reads the named models, each on its shard, in one pipeline.
func (s *Store) Models(ctx context.Context, names ...string) ([]query.StoredModel, error) {
	return readModels(ctx, s.rdb, names, func(name string) Keys { return s.keys[s.shards.Of(name)] })
}

// ModelPage lists a page of the names of every shard (see
// Ledger.ModelPage): each shard's index is asked for a page of limit (its
// ZRANGEBYLEX reads limit+2), in one pipeline, and the pages are merged in
// byte order. The first limit names overall are among the first limit of
// their own shard, so the merge is exact; there are more when a shard said
// so or the merge holds more than limit.
func (s *Store) ModelPage(ctx context.Context, after, prefix string, limit int) ([]string, bool, error) {
	if limit <= 0 {
		return nil, false, nil
	}
	rng := pageRange(after, prefix, limit)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(s.keys))
	for i, k := range s.keys {
		cmds[i] = pipe.ZRangeByLex(ctx, k.Index, rng)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	var merged []string
	more := false
	for i, cmd := range cmds {
		names, err := cmd.Result()
		if err != nil {
			return nil, false, fmt.Errorf("reading %s: %w", s.keys[i].Index, err)
		}
		names, m := pageOf(names, limit)
		merged, more = append(merged, names...), more || m
	}
	if len(s.keys) > 1 {
		slices.Sort(merged) // byte order, as ZRANGEBYLEX's
		merged = slices.Compact(merged)
	}
	if len(merged) > limit {
		merged, more = merged[:limit], true
	}
	return merged, more, nil
}

// ModelCount sums the shards' counts of created models (the default one
// included if it was), in one pipeline.
func (s *Store) ModelCount(ctx context.Context) (int, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(s.keys))
	for i, k := range s.keys {
		cmds[i] = pipe.ZCard(ctx, k.Index)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	total := 0
	for i, cmd := range cmds {
		n, err := cmd.Result()
		if err != nil {
			return 0, fmt.Errorf("reading %s: %w", s.keys[i].Index, err)
		}
		total += int(n)
	}
	return total, nil
}
