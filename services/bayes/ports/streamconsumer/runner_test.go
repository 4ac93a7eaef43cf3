package streamconsumer_test

import (
	"context"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/streamconsumer"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/wait"
)

type nobody struct{}

func (nobody) Notify(command.ModelState) {}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, 20*time.Second, what, cond)
}

func add(t *testing.T, rdb *redis.Client, n int, trial string) {
	t.Helper()
	for range n {
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "obs", Values: []any{"trial", trial}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// The runner recovers its own pending entries, consumes new ones, survives
// a Redis restart without losing or doubling anything, and stops on cancel.
func TestRunnerEndToEndAgainstRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	rdb := srv.Client()
	ctx := context.Background()
	keys := redisstream.KeysFor("obs")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ledger := redisstream.NewLedger(rdb, keys, testSpec)
	consumer := redisstream.NewConsumer(rdb, keys, "me")
	if err := consumer.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	// A previous run as "me" read 5 entries and died before committing.
	add(t, rdb, 5, "w")
	if b, err := consumer.ReadNew(ctx, 5, time.Second); err != nil || len(b) != 5 {
		t.Fatalf("pre-read %d %v", len(b), err)
	}
	add(t, rdb, 3, "l")

	apply, _ := command.NewApplyBatchHandler(ledger, nobody{}, log)
	r, err := streamconsumer.New(consumer, apply, streamconsumer.Config{
		BatchSize: 2, Block: 100 * time.Millisecond, ClaimEvery: time.Hour, ClaimMinIdle: time.Hour, TrimEvery: 50 * time.Millisecond,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	state := func() model.Counts {
		m, err := ledger.Models(ctx, "default")
		if err != nil {
			return model.Counts{}
		}
		return m[0].Counts
	}

	eventually(t, "own pending and new entries applied", func() bool { return state() == model.Counts{W: 5, N: 8} })

	srv.Restart() // AOF keeps everything; the runner reconnects by itself
	add(t, rdb, 4, "w")
	eventually(t, "entries after the restart applied", func() bool { return state() == model.Counts{W: 9, N: 12} })
	eventually(t, "acknowledged entries trimmed", func() bool { return rdb.XLen(ctx, "obs").Val() <= 1 })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop within 10s of cancel")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := streamconsumer.New(nil, nil, streamconsumer.Config{}, log); err == nil {
		t.Fatal("nil dependencies accepted")
	}
}

// testSpec is the spec of a model created by an observation in these tests.
var testSpec = events.ModelSpec{Prior: "uniform", GridPoints: 120}
