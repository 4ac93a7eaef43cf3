package plotfile_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/plotfile"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// fakeRender records every state drawn and can be held inside a draw until
// the test releases it.
type fakeRender struct {
	mu      sync.Mutex
	drawn   []model.Counts
	ctxErrs []error
	started chan model.Counts // receives each state as its draw begins
	release chan struct{}     // closed to let draws finish
	fail    func(model.Counts) error
}

func newFakeRender() *fakeRender {
	return &fakeRender{started: make(chan model.Counts, 100), release: make(chan struct{})}
}

func (f *fakeRender) render(ctx context.Context, c model.Counts) error {
	select {
	case f.started <- c:
	default:
	}
	<-f.release
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drawn = append(f.drawn, c)
	f.ctxErrs = append(f.ctxErrs, ctx.Err())
	if f.fail != nil {
		return f.fail(c)
	}
	return nil
}

func (f *fakeRender) snapshot() []model.Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.drawn)
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // a poll interval, not a synchronisation
	}
}

// startCoalescer runs a Coalescer over f; done is closed when Run returns,
// and *runErr then holds its result.
func startCoalescer(t *testing.T, f *fakeRender) (c *plotfile.Coalescer, cancel context.CancelFunc, done <-chan struct{}, runErr *error) {
	t.Helper()
	c, err := plotfile.NewCoalescer(f.render, discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	runErr = new(error)
	go func() {
		defer close(finished)
		*runErr = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.release:
		default:
			close(f.release)
		}
		<-finished
	})
	return c, cancel, finished, runErr
}

func waitStarted(t *testing.T, f *fakeRender, want model.Counts) {
	t.Helper()
	select {
	case got := <-f.started:
		if got != want {
			t.Fatalf("draw started for %+v, want %+v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("draw of %+v never started", want)
	}
}

func TestCoalescerBurstDrawsOnlyTheLatest(t *testing.T) {
	f := newFakeRender()
	c, _, _, _ := startCoalescer(t, f)
	c.Notify(model.Counts{W: 1, N: 1})
	waitStarted(t, f, model.Counts{W: 1, N: 1}) // Run is now held inside this draw

	// Notify must return while the draw is blocked: run the burst with a
	// deadline instead of hanging the test if it does not.
	const burst = 10_000
	final := model.Counts{W: burst / 2, N: burst + 1}
	notified := make(chan struct{})
	go func() {
		defer close(notified)
		for n := int64(2); n <= burst+1; n++ {
			c.Notify(model.Counts{W: n / 2, N: n})
		}
	}()
	select {
	case <-notified:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked while a draw was running")
	}

	close(f.release)
	waitFor(t, "the final state to be drawn", func() bool {
		d := f.snapshot()
		return len(d) > 0 && d[len(d)-1] == final
	})
	if d := f.snapshot(); len(d) > 3 {
		t.Fatalf("%d draws for one burst, want at most 3: %v", len(d), d)
	}
	if s := c.Stats(); s.Draws < 2 || s.Errors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCoalescerDrawsThePendingStateOnCancel(t *testing.T) {
	f := newFakeRender()
	c, cancel, done, runErr := startCoalescer(t, f)
	c.Notify(model.Counts{W: 1, N: 1})
	waitStarted(t, f, model.Counts{W: 1, N: 1})
	c.Notify(model.Counts{W: 1, N: 2}) // pending while the first draw is held
	cancel()
	close(f.release)

	select {
	case <-done:
		if *runErr != nil {
			t.Fatalf("Run returned %v", *runErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	d := f.snapshot()
	if len(d) != 2 || d[1] != (model.Counts{W: 1, N: 2}) {
		t.Fatalf("drawn %v, want the pending state last", d)
	}
	f.mu.Lock()
	finalCtxErr := f.ctxErrs[1]
	f.mu.Unlock()
	if finalCtxErr != nil {
		t.Fatalf("final draw got a dead context: %v", finalCtxErr)
	}
}

func TestCoalescerIgnoresOlderStates(t *testing.T) {
	f := newFakeRender()
	close(f.release) // no blocking in this test
	c, err := plotfile.NewCoalescer(f.render, discard)
	if err != nil {
		t.Fatal(err)
	}
	// Before Run starts: an older state must not replace the pending one.
	c.Notify(model.Counts{W: 3, N: 5})
	c.Notify(model.Counts{W: 1, N: 3})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "n=5 drawn", func() bool { return len(f.snapshot()) == 1 })
	// After a draw: older than drawn, and a repeat of the drawn state, are
	// both ignored; the newer state after them is what gets drawn next.
	c.Notify(model.Counts{W: 1, N: 4})
	c.Notify(model.Counts{W: 3, N: 5})
	c.Notify(model.Counts{W: 4, N: 7})
	waitFor(t, "n=7 drawn", func() bool { return len(f.snapshot()) == 2 })
	want := []model.Counts{{W: 3, N: 5}, {W: 4, N: 7}}
	if got := f.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("drawn %v, want %v", got, want)
	}
	if s := c.Stats(); s.Ignored != 3 {
		t.Fatalf("ignored %d, want 3", s.Ignored)
	}
}

func TestCoalescerKeepsGoingAfterARenderError(t *testing.T) {
	f := newFakeRender()
	close(f.release)
	f.fail = func(c model.Counts) error {
		if c.N == 1 {
			return errors.New("disk full")
		}
		return nil
	}
	c, _, _, _ := startCoalescer(t, f)
	c.Notify(model.Counts{W: 1, N: 1})
	waitFor(t, "the failing draw", func() bool { return c.Stats().Errors == 1 })
	// The failed state is welcome again (a redelivery may retry it)...
	c.Notify(model.Counts{W: 1, N: 1})
	waitFor(t, "the retry", func() bool { return c.Stats().Errors == 2 })
	// ...and the loop still draws newer states.
	c.Notify(model.Counts{W: 1, N: 2})
	waitFor(t, "n=2 drawn", func() bool { return c.Stats().Draws == 1 })
}

func TestCoalescerRejectsNilAndSecondRun(t *testing.T) {
	if _, err := plotfile.NewCoalescer(nil, discard); err == nil {
		t.Error("nil render accepted")
	}
	if _, err := plotfile.NewCoalescer(func(context.Context, model.Counts) error { return nil }, nil); err == nil {
		t.Error("nil logger accepted")
	}
	f := newFakeRender()
	c, _, _, _ := startCoalescer(t, f)
	c.Notify(model.Counts{W: 0, N: 1})
	waitStarted(t, f, model.Counts{W: 0, N: 1}) // the first Run is surely running
	if err := c.Run(context.Background()); err == nil {
		t.Error("a second concurrent Run was allowed")
	}
}

// End to end with the real Renderer: after a burst, the final state's file
// appears soon after the last Notify.
func TestCoalescerWithRenderer(t *testing.T) {
	dir := t.TempDir()
	r := newRenderer(t, dir, 5)
	snap, err := plotfile.SnapshotFunc(120, model.DefaultPrior())
	if err != nil {
		t.Fatal(err)
	}
	c, err := plotfile.NewCoalescer(func(ctx context.Context, cs model.Counts) error {
		s, err := snap(cs)
		if err != nil {
			return err
		}
		return r.Render(ctx, s)
	}, discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for n := int64(1); n <= 2000; n++ {
		c.Notify(model.Counts{W: n * 7 / 10, N: n})
	}
	// The numbered file is renamed into place before latest.png: wait for both.
	waitFor(t, "n_2000_w_1400.png and latest.png", func() bool {
		_, err := readIfExists(dir + "/n_2000_w_1400.png")
		_, lerr := readIfExists(dir + "/latest.png")
		return err == nil && lerr == nil
	})
	decodePNG(t, dir+"/latest.png")
	if s := r.Stats(); s.Renders > 10 {
		t.Fatalf("%d images for one burst", s.Renders)
	}
}

func readIfExists(path string) ([]byte, error) { return os.ReadFile(path) }

// With a minimum interval, a second draw waits for it and then draws the
// newest state: a steady stream costs one image per interval.
func TestCoalescerMinInterval(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	var drawn []model.Counts
	render := func(_ context.Context, c model.Counts) error {
		mu.Lock()
		defer mu.Unlock()
		starts, drawn = append(starts, time.Now()), append(drawn, c)
		return nil
	}
	const gap = 150 * time.Millisecond
	c, err := plotfile.NewCoalescer(render, discard, plotfile.WithMinInterval(gap))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	c.Notify(model.Counts{W: 1, N: 1})
	waitFor := func(n int) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			got := len(drawn)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d draws, want %d", got, n)
			}
			time.Sleep(time.Millisecond) // poll interval; the deadline bounds it
		}
	}
	waitFor(1)
	for i := int64(2); i <= 50; i++ {
		c.Notify(model.Counts{W: i, N: i})
	}
	waitFor(2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(drawn) != 2 || drawn[1] != (model.Counts{W: 50, N: 50}) {
		t.Fatalf("drew %v; want the first state, then the newest", drawn)
	}
	if gotGap := starts[1].Sub(starts[0]); gotGap < gap {
		t.Fatalf("second draw started %s after the first, before the %s minimum", gotGap, gap)
	}
}
