// Package shardcount guards the one number a sharded deployment must never
// change while models exist: STREAM_SHARDS. A model's shard is a hash of
// its name modulo that number (events.Shards), so an api or a bayes started
// with another number would write or look for models where they are not.
// The number of a deployment of more than one shard is recorded in Redis
// (events.Shards.ShardsKey, SET NX by whichever service starts first); both
// services compare theirs with it.
package shardcount

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// ErrChanged is wrapped by Check's error when the data in Redis was laid
// out for another number of shards.
var ErrChanged = errors.New("STREAM_SHARDS does not match the data in Redis")

// Check makes sure the data in Redis was laid out for shards. It refuses,
// with an error wrapping ErrChanged, a recorded number that is not
// shards.Count() (with one shard: any recorded number but 1). When nothing
// is recorded and shards.Count() > 1 it records the number with SET NX,
// after beforeRecord (nil: none) has had its say: an error from it is
// returned as it is. Any other error is Redis' (unreachable): the caller
// may try again.
func Check(ctx context.Context, rdb redis.UniversalClient, shards events.Shards, beforeRecord func(context.Context) error) error {
	key, n := shards.ShardsKey(), shards.Count()
	recorded, err := Recorded(ctx, rdb, key)
	if err != nil {
		return err
	}
	if recorded == 0 && n > 1 {
		if beforeRecord != nil {
			if err := beforeRecord(ctx); err != nil {
				return err
			}
		}
		set, err := rdb.SetNX(ctx, key, n, 0).Result()
		if err != nil {
			return fmt.Errorf("recording STREAM_SHARDS=%d in %s: %w", n, key, err)
		}
		if set {
			return nil
		}
		// Another service recorded a number meanwhile: it must be ours.
		if recorded, err = Recorded(ctx, rdb, key); err != nil {
			return err
		}
	}
	if recorded != 0 && recorded != n {
		return fmt.Errorf("%w: STREAM_SHARDS=%d, but %s records %d: the models were placed on %d shards; start every api and bayes with STREAM_SHARDS=%d",
			ErrChanged, n, key, recorded, recorded, recorded)
	}
	return nil
}

// Recorded reads the number of shards recorded in key, 0 when none is.
func Recorded(ctx context.Context, rdb redis.UniversalClient, key string) (int, error) {
	raw, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", key, err)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: %s holds %q, not a number of shards", ErrChanged, key, raw)
	}
	return n, nil
}
