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
	pipe := l.rdb.Pipeline()
	counts := make([]*redis.SliceCmd, len(names))
	specs := make([]*redis.StringCmd, len(names))
	for i, name := range names {
		counts[i] = pipe.HMGet(ctx, l.keys.State(name), "w", "n")
		specs[i] = pipe.Get(ctx, l.keys.Spec(name))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("reading %d models: %w", len(names), err)
	}
	out := make([]query.StoredModel, len(names))
	for i, name := range names {
		c, exists, err := parseCounts(counts[i].Val())
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", l.keys.State(name), err)
		}
		sm := query.StoredModel{Name: name, Counts: c, Exists: exists}
		if enc, err := specs[i].Result(); err == nil {
			spec, err := events.DecodeModelSpec(enc)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", l.keys.Spec(name), err)
			}
			sm.Spec, sm.Exists = spec, true
		} else if err != redis.Nil {
			return nil, fmt.Errorf("reading %s: %w", l.keys.Spec(name), err)
		}
		out[i] = sm
	}
	return out, nil
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
