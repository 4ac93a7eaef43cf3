// Package wait is how tests wait for something to happen: poll a condition
// until it holds or a deadline passes. Never a sleep as synchronisation; the
// short pause between polls only keeps a waiting test from spinning.
package wait

import (
	"testing"
	"time"
)

// pollEvery is the pause between two looks at the condition.
const pollEvery = 5 * time.Millisecond

// Until fails t unless cond holds within limit.
func Until(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	UntilState(t, limit, what, func() (bool, string) { return cond(), "" })
}

// UntilState is Until for a condition that also describes the state it saw,
// so a timeout says how far things got.
func UntilState(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if state != "" {
				t.Fatalf("%s: not within %s; last state: %s", what, limit, state)
			}
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(pollEvery)
	}
}
