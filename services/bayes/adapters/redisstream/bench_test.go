package redisstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// BenchmarkDrain reads and commits a backlog the way the consume loop does
// (XREADGROUP, decide, one commit script per batch), against a real Redis.
func BenchmarkDrain(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	keys := redisstream.KeysFor("obs")
	c := redisstream.NewConsumer(rdb, keys, "bench")
	led := redisstream.NewLedger(rdb, keys, testSpec)
	if err := c.EnsureGroup(ctx); err != nil {
		b.Fatal(err)
	}
	const batchSize = 500
	fill := func(n int) {
		for done := 0; done < n; {
			pipe := rdb.Pipeline()
			for i := 0; i < 10_000 && done < n; i++ {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.Stream, Values: []any{"trial", "w", "ts", "1700000000000000", "source", "api"}})
				done++
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	fill(b.N)
	b.ResetTimer()
	for done := 0; done < b.N; {
		batch, err := c.ReadNew(ctx, batchSize, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		res, err := led.Commit(ctx, batch) // read and decoded in ReadNew

		if err != nil {
			b.Fatal(err)
		}
		done += res.Applied
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
