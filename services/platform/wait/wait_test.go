package wait_test

import (
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/wait"
)

func TestUntilReturnsWhenTheConditionHolds(t *testing.T) {
	n := 0
	wait.Until(t, 5*time.Second, "third look", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("looked %d times", n)
	}
}

// fakeT records Fatalf instead of stopping the real test.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f) // Fatalf must not return
}

func TestUntilStateFailsAfterTheDeadline(t *testing.T) {
	ft := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		wait.UntilState(ft, 20*time.Millisecond, "never", func() (bool, string) { return false, "n=1" })
	}()
	if ft.failed == "" {
		t.Fatal("no failure after the deadline")
	}
}
