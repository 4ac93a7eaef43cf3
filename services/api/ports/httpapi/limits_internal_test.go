package httpapi

import (
	"testing"
	"time"
)

func TestClientLimiterIsAPerClientTokenBucket(t *testing.T) {
	cl := newClientLimiter(10, 2, 100) // 10/s: a token every 100ms
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 2 {
		if wait := cl.reserve("a", t0); wait != 0 {
			t.Fatalf("burst request %d waited %s", i+1, wait)
		}
	}
	if wait := cl.reserve("a", t0); wait != 100*time.Millisecond {
		t.Fatalf("third request at once: wait %s, want 100ms", wait)
	}
	// A refused request takes no token: still 100ms from t0, 50ms later.
	if wait := cl.reserve("a", t0.Add(50*time.Millisecond)); wait != 50*time.Millisecond {
		t.Fatalf("after a refusal: wait %s, want 50ms", wait)
	}
	if wait := cl.reserve("a", t0.Add(100*time.Millisecond)); wait != 0 {
		t.Fatalf("a token later: wait %s, want 0", wait)
	}
	// Another client has its own bucket.
	if wait := cl.reserve("b", t0); wait != 0 {
		t.Fatalf("client b throttled by client a: wait %s", wait)
	}
}

func TestClientLimiterBurstDefaultsToTheRate(t *testing.T) {
	cl := newClientLimiter(3, 0, 10)
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if wait := cl.reserve("a", now); wait != 0 {
			t.Fatalf("request %d waited %s", i+1, wait)
		}
	}
	if wait := cl.reserve("a", now); wait == 0 {
		t.Fatal("a fourth request in the same instant went through")
	}
}

func TestClientLimiterMemoryIsBounded(t *testing.T) {
	cl := newClientLimiter(1, 1, 3)
	now := time.Unix(1_700_000_000, 0)
	for _, k := range []string{"a", "b", "c"} {
		cl.reserve(k, now)
	}
	cl.reserve("a", now) // a is now the most recently seen; b the least
	cl.reserve("d", now) // evicts b
	if n := cl.tracked(); n != 3 {
		t.Fatalf("tracking %d clients, want the cap of 3", n)
	}
	if wait := cl.reserve("c", now); wait == 0 {
		t.Fatal("c was forgotten; b, the least recently seen, should have been")
	}
	if wait := cl.reserve("b", now); wait != 0 {
		t.Fatalf("b should have been forgotten and start with a full bucket; wait %s", wait)
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]int{time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 0: 1} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}
