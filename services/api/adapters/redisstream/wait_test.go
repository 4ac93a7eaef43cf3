package redisstream_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// WAIT's timeout leaves the reply time to arrive before the batch's
// deadline and the connection's read timeout, and is never 0 (forever).
func TestWaitTimeout(t *testing.T) {
	for _, tc := range []struct{ left, read, want time.Duration }{
		{2 * time.Second, 3 * time.Second, 1850 * time.Millisecond},
		{5 * time.Second, 3 * time.Second, 2850 * time.Millisecond},
		{5 * time.Second, 0, 4850 * time.Millisecond}, // no read timeout
		{300 * time.Millisecond, 3 * time.Second, 150 * time.Millisecond},
		{150 * time.Millisecond, 3 * time.Second, 50 * time.Millisecond},
		{3 * time.Millisecond, 3 * time.Second, time.Millisecond},
		{time.Millisecond, 3 * time.Second, time.Millisecond},
		{0, 3 * time.Second, time.Millisecond},
		{-time.Second, 3 * time.Second, time.Millisecond},
	} {
		if got := redisstream.WaitTimeout(tc.left, tc.read); got != tc.want {
			t.Errorf("waitTimeout(%s, read %s) = %s, want %s", tc.left, tc.read, got, tc.want)
		}
	}
}

// One server with a replica (REPLICAOF): WAIT 1 passes while the replica is
// linked; with the replica dead the event is stored but the publish fails
// with ErrNotReplicated within its timeout. A negative count is refused.
func TestWaitReplicasOnOneServer(t *testing.T) {
	primary := redistest.Start(t)
	replica := redistest.Start(t)
	ctx := context.Background()
	// The first sync at once, not after the default 5 s of waiting for
	// more replicas to share it.
	if err := primary.Client().ConfigSet(ctx, "repl-diskless-sync-delay", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := replica.Client().ReplicaOf(ctx, "127.0.0.1", strconv.Itoa(primary.Port)).Err(); err != nil {
		t.Fatal(err)
	}
	// Linked, and online as the primary sees it: after a diskless sync
	// the primary counts a replica only from its first ACK.
	waitUntil(t, func() bool {
		info, err := primary.Client().Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, ",state=online,")
	})
	if _, err := redisstream.NewPublisher(newClient(t, primary), stream, time.Second, redisstream.WithWaitReplicas(-1)); err == nil {
		t.Fatal("WithWaitReplicas(-1) accepted")
	}
	// A generous timeout while the replica is up (a loaded test machine
	// may take a while to schedule it), a short one once it is dead.
	patient, err := redisstream.NewPublisher(newClient(t, primary), stream, 5*time.Second, redisstream.WithWaitReplicas(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(patient.Close)
	pub, err := redisstream.NewPublisher(newClient(t, primary), stream, time.Second, redisstream.WithWaitReplicas(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	id, err := patient.Publish(ctx, events.Event{Trial: events.TrialWater})
	if err != nil {
		t.Fatalf("publish with the replica linked: %v", err)
	}
	if n, err := replica.Client().XLen(ctx, stream).Result(); err != nil || n != 1 {
		t.Fatalf("replica has %d entries (%v) once %s was confirmed, want 1", n, err, id)
	}

	replica.Kill()
	start := time.Now()
	id, err = pub.Publish(ctx, events.Event{Trial: events.TrialLand})
	var nr *command.NotReplicatedError
	if !errors.Is(err, redisstream.ErrNotReplicated) || !errors.As(err, &nr) || *nr != (command.NotReplicatedError{Want: 1, Got: 0}) || id != "" {
		t.Fatalf("publish with the replica dead: %q, %v; want ErrNotReplicated, 0 of 1", id, err)
	}
	// Generous for a loaded machine: it catches a WAIT without a timeout
	// (blocked until a replica returns), not a slow one.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s: WAIT did not give up at the publish timeout (1s)", took)
	}
	if n, err := primary.Client().XLen(ctx, stream).Result(); err != nil || n != 2 {
		t.Fatalf("primary has %d entries (%v), want 2: the unconfirmed event is stored", n, err)
	}
}
