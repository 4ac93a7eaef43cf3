package redisstream_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// BenchmarkPublishParallel publishes from many goroutines at once, as
// concurrent HTTP requests do, so round trips are shared (group commit);
// allocs/op is the publisher's cost per request on the api's hot path.
func BenchmarkPublishParallel(b *testing.B) {
	srv := redistest.Start(b)
	client := newClient(b, srv)
	pub, err := redisstream.NewPublisher(client, stream, 2*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	ev := events.Event{Trial: events.TrialWater, PublishedAt: time.UnixMicro(1767322800123456), Source: events.SourceAPI}
	ctx := context.Background()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := pub.Publish(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPublishWait publishes from many goroutines at once over the
// models of 3 shards of a Redis Cluster (3 masters, a replica each), without
// WAIT and with WAIT 1 after each batch: the ratio of the two is what
// REDIS_WAIT_REPLICAS=1 costs the api's publish path (one replication
// round trip per batch, which group commit shares among the batch's
// requests).
func BenchmarkPublishWait(b *testing.B) {
	c := redistest.StartCluster(b, 3, 1)
	client := newClusterClient(b, c)
	shards, err := events.NewShards("update_model", 3, true)
	if err != nil {
		b.Fatal(err)
	}
	models := make([]events.Event, 64)
	for i := range models {
		models[i] = events.Event{Model: fmt.Sprintf("m%02d", i), Trial: events.TrialWater, Source: events.SourceAPI}
	}
	for _, k := range []int{0, 1} {
		b.Run(fmt.Sprintf("wait=%d", k), func(b *testing.B) {
			router, err := redisstream.NewRouter(client, shards, 2*time.Second, redisstream.WithWaitReplicas(k))
			if err != nil {
				b.Fatal(err)
			}
			defer router.Close()
			ctx := context.Background()
			var next atomic.Int64
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ev := models[next.Add(1)%int64(len(models))]
				for pb.Next() {
					if _, err := router.Publish(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
