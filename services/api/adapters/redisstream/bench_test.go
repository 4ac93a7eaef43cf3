package redisstream_test

import (
	"context"
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
