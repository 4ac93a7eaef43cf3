package redisstream

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Models reads the named models in one round trip (query.ModelStore).
func (l *Ledger) Models(ctx context.Context, names ...string) ([]query.StoredModel, error) {
	return readModels(ctx, l.rdb, names, func(string) Keys { return l.keys })
}

// readModels reads the named models in one pipeline, each from the keys
// keysOf gives it. A cluster client sends each node its part of the
// pipeline, so the names of many shards still cost one round trip per node.
func readModels(ctx context.Context, rdb redis.UniversalClient, names []string, keysOf func(name string) Keys) ([]query.StoredModel, error) {
	pipe := rdb.Pipeline()
	counts := make([]*redis.SliceCmd, len(names))
	specs := make([]*redis.StringCmd, len(names))
	for i, name := range names {
		k := keysOf(name)
		counts[i] = pipe.HMGet(ctx, k.State(name), "w", "n", "e")
		specs[i] = pipe.Get(ctx, k.Spec(name))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("reading %d models: %w", len(names), err)
	}
	out := make([]query.StoredModel, len(names))
	for i, name := range names {
		k := keysOf(name)
		vals := counts[i].Val()
		c, exists, err := parseCounts(vals)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", k.State(name), err)
		}
		sm := query.StoredModel{Name: name, Counts: c, Exists: exists}
		if len(vals) > 2 && vals[2] != nil {
			s, _ := vals[2].(string)
			if sm.Epoch, err = strconv.ParseInt(s, 10, 64); err != nil || sm.Epoch < 0 {
				return nil, fmt.Errorf("reading %s: epoch %q is not a whole number", k.State(name), s)
			}
		}
		if enc, err := specs[i].Result(); err == nil {
			spec, err := events.DecodeModelSpec(enc)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", k.Spec(name), err)
			}
			sm.Spec, sm.Exists = spec, true
		} else if err != redis.Nil {
			return nil, fmt.Errorf("reading %s: %w", k.Spec(name), err)
		}
		out[i] = sm
	}
	return out, nil
}

// ModelPage lists, in byte order, at most limit created models other than
// the default one whose names start with prefix ("" for all) and come
// strictly after after ("" for the start), and says whether there are more
// (query.ModelStore). One ZRANGEBYLEX on the names' index: its cost grows
// with limit, not with the number of models.
func (l *Ledger) ModelPage(ctx context.Context, after, prefix string, limit int) ([]string, bool, error) {
	if limit <= 0 {
		return nil, false, nil
	}
	names, err := l.rdb.ZRangeByLex(ctx, l.keys.Index, pageRange(after, prefix, limit)).Result()
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", l.keys.Index, err)
	}
	names, more := pageOf(names, limit)
	return names, more, nil
}

// pageRange is the ZRANGEBYLEX of a page of limit names (see ModelPage).
// One more than asked says whether there are more; one more again in case
// the default model is among them (it is listed apart).
func pageRange(after, prefix string, limit int) *redis.ZRangeBy {
	lo, hi := "-", "+"
	if prefix != "" {
		// Names are ASCII letters, digits, '-' and '_': every name with the
		// prefix sorts before prefix + "\xff".
		lo, hi = "["+prefix, "("+prefix+"\xff"
	}
	if after != "" && (prefix == "" || after >= prefix) {
		lo = "(" + after
	}
	return &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(limit) + 2}
}

// pageOf turns what pageRange read into a page: the default model left out,
// at most limit names, and whether there are more.
func pageOf(names []string, limit int) ([]string, bool) {
	names = slices.DeleteFunc(names, func(n string) bool { return n == events.DefaultModel })
	if len(names) > limit {
		return names[:limit], true
	}
	return names, false
}

// ModelCount says how many models were created, the default one included
// if it was (query.ModelStore).
func (l *Ledger) ModelCount(ctx context.Context) (int, error) {
	n, err := l.rdb.ZCard(ctx, l.keys.Index).Result()
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", l.keys.Index, err)
	}
	return int(n), nil
}

// IndexNames adds every name of the models set to the sorted index, for a
// deployment whose models were created before the index existed. It runs
// at start-up, in batches of SSCAN; adding a name that is there changes
// nothing, so replicas may run it at once.
func (l *Ledger) IndexNames(ctx context.Context) (int, error) {
	have, err := l.rdb.SCard(ctx, l.keys.Models).Result()
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", l.keys.Models, err)
	}
	indexed, err := l.ModelCount(ctx)
	if err != nil || int64(indexed) >= have {
		return 0, err
	}
	added := 0
	iter := l.rdb.SScan(ctx, l.keys.Models, 0, "", 1000).Iterator()
	batch := make([]redis.Z, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := l.rdb.ZAddNX(ctx, l.keys.Index, batch...).Result()
		added += int(n)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, redis.Z{Member: iter.Val()})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return added, fmt.Errorf("indexing %s: %w", l.keys.Models, err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return added, fmt.Errorf("scanning %s: %w", l.keys.Models, err)
	}
	if err := flush(); err != nil {
		return added, fmt.Errorf("indexing %s: %w", l.keys.Models, err)
	}
	return added, nil
}

// ModelNames lists every created model, sorted (query.ModelStore).
func (l *Ledger) ModelNames(ctx context.Context) ([]string, error) {
	names, err := l.rdb.SMembers(ctx, l.keys.Models).Result()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", l.keys.Models, err)
	}
	slices.Sort(names)
	return names, nil
}

func parseCounts(vals []any) (model.Counts, bool, error) {
	var c model.Counts
	exists := false
	for i, dst := range []*int64{&c.W, &c.N} {
		if i >= len(vals) || vals[i] == nil {
			continue
		}
		exists = true
		s, _ := vals[i].(string)
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return model.Counts{}, false, fmt.Errorf("field %d is %q: %w", i, s, err)
		}
		*dst = x
	}
	if !c.Valid() {
		return model.Counts{}, false, fmt.Errorf("impossible counts w=%d n=%d", c.W, c.N)
	}
	return c, exists, nil
}
