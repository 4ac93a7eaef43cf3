package pubsubbridge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/pubsubbridge"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/wait"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, 15*time.Second, what, cond)
}

type replica struct {
	cancel context.CancelFunc
	done   chan struct{}
	active atomic.Bool
}

func start(t *testing.T, rdb *redis.Client, ttl time.Duration) *replica {
	t.Helper()
	b, err := pubsubbridge.New(rdb, pubsubbridge.Config{Channel: "ch", Stream: "s", Lease: "s:lease", TTL: ttl}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{done: make(chan struct{})}
	b.Subscribed = r.active.Store
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); _ = b.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

func TestOneReplicaForwardsEachMessageOnce(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	a, b := start(t, rdb, 600*time.Millisecond), start(t, rdb, 600*time.Millisecond)
	eventually(t, "one replica subscribed", func() bool { return a.active.Load() || b.active.Load() })
	if a.active.Load() && b.active.Load() {
		t.Fatal("both replicas forward")
	}
	for _, m := range []string{"w", "l", "w", "garbage"} {
		if n, err := rdb.Publish(ctx, "ch", m).Result(); err != nil || n != 1 {
			t.Fatalf("PUBLISH reached %d (%v)", n, err)
		}
	}
	eventually(t, "4 entries", func() bool { return rdb.XLen(ctx, "s").Val() == 4 })
	msgs, _ := rdb.XRange(ctx, "s", "-", "+").Result()
	got := ""
	for _, m := range msgs {
		got += fmt.Sprint(m.Values["trial"], m.Values["source"], " ")
	}
	if got != "wpubsub lpubsub wpubsub garbagepubsub " {
		t.Fatalf("forwarded %q", got)
	}

	// The forwarding replica stops; the other takes over at once (the lease
	// is released, not left to expire).
	leader, other := a, b
	if b.active.Load() {
		leader, other = b, a
	}
	leader.stop()
	eventually(t, "the other replica takes over", other.active.Load)
	if n, _ := rdb.Publish(ctx, "ch", "w").Result(); n != 1 {
		t.Fatalf("after failover PUBLISH reached %d", n)
	}
	eventually(t, "5 entries", func() bool { return rdb.XLen(ctx, "s").Val() == 5 })
}

// A replica whose lease was taken (it paused longer than the TTL) must not
// forward even while it is still subscribed: the XADD is fenced by the lease.
func TestLostLeaseFencesForwarding(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	a := start(t, rdb, 30*time.Second) // long TTL: it will not notice by renewal soon
	eventually(t, "subscribed", a.active.Load)
	if err := rdb.Set(ctx, "s:lease", "someone-else", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Publish(ctx, "ch", "w").Result(); n != 1 {
		t.Fatalf("PUBLISH reached %d", n)
	}
	eventually(t, "the fenced replica stops forwarding", func() bool { return !a.active.Load() })
	if l := rdb.XLen(ctx, "s").Val(); l != 0 {
		t.Fatalf("a replica without the lease forwarded %d messages", l)
	}
}
