package plotfile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/plotfile"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // a poll interval, not a synchronisation
	}
}

// tinyPNG is a valid 1×1 PNG: the pool's tests go through the real
// renderer, files, state file and retention, without the 80 ms of drawing
// a real plot costs.
var tinyPNG = func() []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		panic(err)
	}
	return b.Bytes()
}()

var spec = events.ModelSpec{Prior: "uniform", GridPoints: 30}

func state(name string, epoch, w, n int64) command.ModelState {
	return command.ModelState{Name: name, Counts: model.Counts{W: w, N: n}, Epoch: epoch}
}

// images records every image the pool encodes, by model, and can hold the
// encoding of chosen states until the test releases them.
type images struct {
	mu      sync.Mutex
	drawn   map[string][]model.Counts
	hold    func(plotfile.Snapshot) bool
	release chan struct{}
	held    chan plotfile.Snapshot // each held snapshot, as its encoding begins
	fail    func(plotfile.Snapshot) error
	cur     atomic.Int64
	peak    atomic.Int64
}

func newImages() *images {
	return &images{drawn: map[string][]model.Counts{}, release: make(chan struct{}), held: make(chan plotfile.Snapshot, 100)}
}

func (im *images) encode(s plotfile.Snapshot) ([]byte, error) {
	c := im.cur.Add(1)
	defer im.cur.Add(-1)
	for p := im.peak.Load(); c > p && !im.peak.CompareAndSwap(p, c); p = im.peak.Load() {
	}
	im.mu.Lock()
	hold, fail := im.hold, im.fail
	im.mu.Unlock()
	if hold != nil && hold(s) {
		im.held <- s
		<-im.release
	}
	if fail != nil {
		if err := fail(s); err != nil {
			return nil, err
		}
	}
	im.mu.Lock()
	im.drawn[s.Name] = append(im.drawn[s.Name], s.Counts)
	im.mu.Unlock()
	return tinyPNG, nil
}

func (im *images) of(name string) []model.Counts {
	im.mu.Lock()
	defer im.mu.Unlock()
	return slices.Clone(im.drawn[name])
}

func (im *images) total() int {
	im.mu.Lock()
	defer im.mu.Unlock()
	n := 0
	for _, d := range im.drawn {
		n += len(d)
	}
	return n
}

func (im *images) setHold(f func(plotfile.Snapshot) bool) {
	im.mu.Lock()
	im.hold = f
	im.mu.Unlock()
}

func waitHeld(t *testing.T, im *images, name string, c model.Counts) {
	t.Helper()
	select {
	case s := <-im.held:
		if s.Name != name || s.Counts != c {
			t.Fatalf("held %s %+v, want %s %+v", s.Name, s.Counts, name, c)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the draw of %s %+v never started", name, c)
	}
}

func newModels(t testing.TB, dir string, opts ...plotfile.Option) *plotfile.Models {
	t.Helper()
	m, err := plotfile.NewModels(dir, 10, spec, discard, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run runs m until the test ends (or stop is called); stop returns Run's
// result once it has returned.
func run(t testing.TB, m *plotfile.Models) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// However many models are pending, at most the pool's size are drawn at
// once, and the pool is used to the full.
func TestPoolBoundsConcurrentDraws(t *testing.T) {
	im := newImages()
	im.setHold(func(s plotfile.Snapshot) bool { return s.Counts.N == 1 })
	const workers = 3
	m := newModels(t, t.TempDir(), plotfile.WithImage(im.encode), plotfile.WithWorkers(workers))
	if m.Workers() != workers {
		t.Fatalf("%d workers", m.Workers())
	}
	run(t, m)
	for i := range 50 {
		m.Notify(state(fmt.Sprintf("m%d", i), 0, 0, 1))
	}
	for range workers { // until every worker is inside a draw
		select {
		case <-im.held:
		case <-time.After(20 * time.Second):
			t.Fatal("the workers never all drew at once")
		}
	}
	if got := m.QueueLen(); got != 50-workers {
		t.Fatalf("queue %d, want %d", got, 50-workers)
	}
	im.setHold(nil)
	close(im.release)
	waitFor(t, "50 models drawn", func() bool { return m.Stats().Draws == 50 })
	if p := im.peak.Load(); p != workers {
		t.Fatalf("at most %d draws at once, want %d", p, workers)
	}
	if m.QueueLen() != 0 {
		t.Fatalf("queue %d after every draw", m.QueueLen())
	}
	if d, want := newModels(t, t.TempDir()), max(runtime.GOMAXPROCS(0)-1, 1); d.Workers() != want {
		t.Fatalf("default pool of %d, want GOMAXPROCS-1 (at least 1) = %d", d.Workers(), want)
	}
}

// A burst of states of one model while it is drawn costs one more image,
// of the newest state; Notify never waits for a draw.
func TestBurstOfOneModelDrawsFewImages(t *testing.T) {
	im := newImages()
	im.setHold(func(s plotfile.Snapshot) bool { return s.Counts.N == 1 })
	dir := t.TempDir()
	m := newModels(t, dir, plotfile.WithImage(im.encode))
	run(t, m)
	m.Notify(state("ab", 0, 1, 1))
	waitHeld(t, im, "ab", model.Counts{W: 1, N: 1})

	const burst = 10_000
	notified := make(chan struct{})
	go func() {
		defer close(notified)
		for n := int64(2); n <= burst+1; n++ {
			m.Notify(state("ab", 0, n/2, n))
		}
	}()
	select {
	case <-notified:
	case <-time.After(20 * time.Second):
		t.Fatal("Notify blocked while a draw was running")
	}
	if got := m.QueueLen(); got != 0 {
		t.Fatalf("queue %d while the model is in flight, want 0 (it is queued again when the draw ends)", got)
	}
	close(im.release)
	final := model.Counts{W: burst / 2, N: burst + 1}
	// The image is encoded before its file is written: wait for both (a
	// loaded machine once saw the encode and not yet the file).
	file := filepath.Join(dir, "ab", plotfile.FileName(final))
	waitFor(t, "the newest state drawn and its file written", func() bool {
		d := im.of("ab")
		return len(d) > 0 && d[len(d)-1] == final && exists(file)
	})
	if d := im.of("ab"); len(d) != 2 {
		t.Fatalf("%d images for one burst, want 2: %v", len(d), d)
	}
}

// Older states and repeats are ignored, a later epoch is drawn even with
// fewer trials, and a failed draw's state is welcome again.
func TestOrderingResetAndRetry(t *testing.T) {
	im := newImages()
	im.fail = func(s plotfile.Snapshot) error {
		if s.Counts.N == 7 {
			return errors.New("disk full")
		}
		return nil
	}
	dir := t.TempDir()
	m := newModels(t, dir, plotfile.WithImage(im.encode))
	// Before Run: an older state must not replace the pending one.
	m.Notify(state("ab", 0, 3, 5))
	m.Notify(state("ab", 0, 1, 3))
	run(t, m)
	waitFor(t, "n=5 drawn", func() bool { return m.Stats().Draws == 1 })
	m.Notify(state("ab", 0, 3, 5)) // a repeat
	m.Notify(state("ab", 0, 1, 4)) // older
	m.Notify(state("ab", 0, 4, 7)) // fails
	waitFor(t, "the failing draw", func() bool { return m.Stats().Errors == 1 })
	m.Notify(state("ab", 0, 4, 7)) // a redelivery retries it
	waitFor(t, "the retry", func() bool { return m.Stats().Errors == 2 })
	if s := m.Stats(); s.Ignored != 3 {
		t.Fatalf("ignored %d, want 3", s.Ignored)
	}

	// A reset: epoch 1 with fewer trials is drawn, and the numbered files
	// of epoch 0 are gone; a late state of epoch 0 is ignored.
	m.Notify(state("ab", 1, 1, 2))
	waitFor(t, "the reset state drawn", func() bool { return m.Stats().Draws == 2 })
	m.Notify(state("ab", 0, 5, 9))
	if got := names(t, filepath.Join(dir, "ab")); !slices.Equal(got, []string{plotfile.StateName, plotfile.LatestName, "n_2_w_1.png"}) {
		t.Fatalf("after the reset the folder holds %v", got)
	}
	if want := []model.Counts{{W: 3, N: 5}, {W: 1, N: 2}}; !slices.Equal(im.of("ab"), want) {
		t.Fatalf("drawn %v, want %v (failed draws are not recorded)", im.of("ab"), want)
	}
	if s := m.Stats(); s.Ignored != 4 {
		t.Fatalf("ignored %d, want 4", s.Ignored)
	}
	// The default model's numbered files live in the graphs dir itself, with
	// the models' folders: a reset removes its own files only.
	m.Notify(state("default", 0, 1, 1))
	waitFor(t, "default drawn", func() bool { return exists(filepath.Join(dir, "n_1_w_1.png")) })
	m.Notify(state("default", 2, 0, 1))
	waitFor(t, "default's reset drawn", func() bool { return exists(filepath.Join(dir, "n_1_w_0.png")) })
	if exists(filepath.Join(dir, "n_1_w_1.png")) || !exists(filepath.Join(dir, "ab", "n_2_w_1.png")) {
		t.Fatalf("after default's reset the graphs dir holds %v", names(t, dir))
	}
}

// A deletion drops the pending state, waits for the draw in flight, then
// removes the folder; a state from before the deletion does not bring it
// back, the model's re-creation does. The default model is never removed.
func TestDeleteRemovesTheFolder(t *testing.T) {
	im := newImages()
	dir := t.TempDir()
	m := newModels(t, dir, plotfile.WithImage(im.encode))
	run(t, m)
	folder := filepath.Join(dir, "gone")
	m.Notify(state("gone", 3, 1, 1))
	waitFor(t, "the first draw", func() bool { return exists(filepath.Join(folder, plotfile.LatestName)) })

	im.setHold(func(s plotfile.Snapshot) bool { return s.Name == "gone" && s.Counts.N == 2 })
	m.Notify(state("gone", 3, 1, 2))
	waitHeld(t, im, "gone", model.Counts{W: 1, N: 2}) // in flight
	m.Notify(state("gone", 3, 2, 3))                  // pending
	m.Notify(command.ModelState{Name: "gone", Deleted: true})
	m.Notify(state("gone", 3, 3, 4)) // accepted before the deletion, arriving late
	if !exists(folder) {
		t.Fatal("the folder went while a draw of it was in flight")
	}
	close(im.release)
	waitFor(t, "the folder removed", func() bool { return !exists(folder) && m.QueueLen() == 0 })
	if want := []model.Counts{{W: 1, N: 1}, {W: 1, N: 2}}; !slices.Equal(im.of("gone"), want) {
		t.Fatalf("drawn %v, want %v: nothing after the deletion", im.of("gone"), want)
	}
	if s := m.Stats(); s.Ignored != 1 {
		t.Fatalf("ignored %d, want the late state", s.Ignored)
	}

	// Re-created: a later epoch, drawn afresh.
	m.Notify(state("gone", 4, 0, 1))
	// The state file is written last.
	waitFor(t, "the re-created model drawn", func() bool { return exists(filepath.Join(folder, plotfile.StateName)) })
	if got := names(t, folder); !slices.Equal(got, []string{plotfile.StateName, plotfile.LatestName, "n_1_w_0.png"}) {
		t.Fatalf("re-created folder holds %v", got)
	}

	// A deletion of a model this process never drew removes its folder
	// from an earlier run too; one of default is refused.
	old := filepath.Join(dir, "old")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, old, plotfile.LatestName, tinyPNG)
	m.Notify(command.ModelState{Name: "old", Deleted: true, Epoch: 9})
	m.Notify(command.ModelState{Name: "default", Deleted: true})
	waitFor(t, "old removed", func() bool { return !exists(old) && m.QueueLen() == 0 })
	if !exists(dir) || !exists(folder) {
		t.Fatal("a deletion removed more than its model's folder")
	}
	m.Notify(state("old", 8, 1, 1)) // from before that deletion
	m.Notify(state("old", 9, 1, 1)) // re-created in the epoch the deletion started
	waitFor(t, "old re-created", func() bool { return exists(filepath.Join(old, "n_1_w_1.png")) })
	if want := []model.Counts{{W: 1, N: 1}}; !slices.Equal(im.of("old"), want) {
		t.Fatalf("old drawn %v, want %v", im.of("old"), want)
	}
}

// Cancelling Run draws what is pending (a model waiting for its interval
// too) on a live context, then stops every worker.
func TestShutdownDrawsPendingThenStops(t *testing.T) {
	before := runtime.NumGoroutine()
	im := newImages()
	im.setHold(func(s plotfile.Snapshot) bool { return s.Name == "a" && s.Counts.N == 1 })
	dir := t.TempDir()
	m := newModels(t, dir, plotfile.WithImage(im.encode), plotfile.WithMinInterval(time.Hour), plotfile.WithWorkers(2))
	stop := run(t, m)
	m.Notify(state("a", 0, 1, 1))
	waitHeld(t, im, "a", model.Counts{W: 1, N: 1})
	m.Notify(state("a", 0, 1, 2)) // pending behind the draw in flight
	m.Notify(state("b", 0, 0, 1))
	waitFor(t, "b drawn", func() bool { return len(im.of("b")) == 1 })
	m.Notify(state("b", 0, 0, 2)) // waits for its hour
	waitFor(t, "b waiting", func() bool { return m.QueueLen() == 1 })
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	close(im.release)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, f := range []string{filepath.Join(dir, "a", "n_2_w_1.png"), filepath.Join(dir, "b", "n_2_w_0.png")} {
		if !exists(f) {
			t.Errorf("%s: not drawn at shutdown", f)
		}
	}
	if m.QueueLen() != 0 {
		t.Fatalf("queue %d after shutdown", m.QueueLen())
	}
	waitFor(t, "the workers gone", func() bool { return runtime.NumGoroutine() <= before })
	if err := m.Run(context.Background()); err == nil {
		t.Fatal("a second Run was allowed")
	}
}

// Shutdown is bounded: with more pending than the final timeout allows,
// Run returns after about that long and leaves the rest undrawn.
func TestShutdownIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for FinalDrawTimeout")
	}
	slow := func(plotfile.Snapshot) ([]byte, error) {
		time.Sleep(50 * time.Millisecond) // the cost of a draw, not a synchronisation
		return tinyPNG, nil
	}
	m := newModels(t, t.TempDir(), plotfile.WithImage(slow), plotfile.WithWorkers(2))
	const pending = 1000 // 25 s of drawing on two workers
	for i := range pending {
		m.Notify(state(fmt.Sprintf("m%d", i), 0, 0, 1))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // at once: everything is a final draw
	start := time.Now()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// The slack is for a loaded machine; without the bound it would be 25 s.
	if took > plotfile.FinalDrawTimeout+5*time.Second {
		t.Fatalf("Run took %s after cancel, want about %s", took, plotfile.FinalDrawTimeout)
	}
	s := m.Stats()
	if s.Draws == 0 || s.Draws >= pending || int64(m.QueueLen()) != pending-s.Draws {
		t.Fatalf("%d drawn, %d left, of %d", s.Draws, m.QueueLen(), pending)
	}
	t.Logf("shutdown drew %d of %d pending models in %s", s.Draws, pending, took.Round(time.Millisecond))
}

// A model waiting for its interval holds no worker: another is drawn at
// once, and the waiting one draws its newest state when the interval ends.
func TestMinIntervalPerModel(t *testing.T) {
	var mu sync.Mutex
	starts := map[string][]time.Time{}
	im := newImages()
	encode := func(s plotfile.Snapshot) ([]byte, error) {
		mu.Lock()
		starts[s.Name] = append(starts[s.Name], time.Now())
		mu.Unlock()
		return im.encode(s)
	}
	const gap = 300 * time.Millisecond
	m := newModels(t, t.TempDir(), plotfile.WithImage(encode), plotfile.WithMinInterval(gap), plotfile.WithWorkers(1))
	run(t, m)
	m.Notify(state("a", 0, 1, 1))
	waitFor(t, "a drawn", func() bool { return len(im.of("a")) == 1 })
	for n := int64(2); n <= 50; n++ {
		m.Notify(state("a", 0, n, n))
	}
	m.Notify(state("b", 0, 1, 1))
	waitFor(t, "b drawn", func() bool { return len(im.of("b")) == 1 })
	waitFor(t, "a's newest drawn", func() bool { return len(im.of("a")) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if got := im.of("a"); got[1] != (model.Counts{W: 50, N: 50}) {
		t.Fatalf("a drawn %v, want the first state, then the newest", got)
	}
	// The interval runs from when a worker takes the model; the image starts
	// after the folder's I/O, which varies, hence the slack. Without the
	// interval the second draw would follow the first by a millisecond.
	if d := starts["a"][1].Sub(starts["a"][0]); d < gap/2 {
		t.Fatalf("a's second draw %s after its first, before the %s minimum", d, gap)
	}
	if !starts["b"][0].Before(starts["a"][1]) {
		t.Fatal("b waited behind a's interval")
	}
}

// Ten thousand models notified at once: every one's latest.png is drawn,
// with no more goroutines than the pool, and each idle model costs a small
// record.
func TestTenThousandModels(t *testing.T) {
	const models = 10_000
	dir := t.TempDir()
	var mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&mem)
	heapBefore := mem.HeapAlloc
	goroutinesBefore := runtime.NumGoroutine()

	im := newImages()
	m := newModels(t, dir, plotfile.WithImage(im.encode), plotfile.WithWorkers(2))
	for i := range models {
		m.Notify(state(fmt.Sprintf("m%05d", i), 0, int64(i%3), 2))
	}
	runtime.GC()
	runtime.ReadMemStats(&mem)
	perModel := (int64(mem.HeapAlloc) - int64(heapBefore)) / models
	t.Logf("heap per notified model: %d B (%d models pending)", perModel, m.QueueLen())
	if perModel > 1024 {
		t.Errorf("%d B of heap per pending model, want at most 1 KiB", perModel)
	}

	start := time.Now()
	stop := run(t, m)
	peak := 0
	waitFor(t, "every model drawn", func() bool {
		peak = max(peak, runtime.NumGoroutine())
		return m.Stats().Draws == models
	})
	t.Logf("%d models drawn (tiny images, real files) in %s; goroutines %d before, %d at most while drawing",
		models, time.Since(start).Round(time.Millisecond), goroutinesBefore, peak)
	if peak > goroutinesBefore+2+3 { // the pool, Run, and the test's poll
		t.Errorf("%d goroutines while drawing, %d before: the pool is 2", peak, goroutinesBefore)
	}
	for i := range models {
		if f := filepath.Join(dir, fmt.Sprintf("m%05d", i), plotfile.LatestName); !exists(f) {
			t.Fatalf("%s missing", f)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&mem)
	t.Logf("heap per idle drawn model: %d B", (int64(mem.HeapAlloc)-int64(heapBefore))/models)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the workers gone", func() bool { return runtime.NumGoroutine() <= goroutinesBefore })
	runtime.KeepAlive(m)
}

// A restart does not redraw a model whose latest.png shows its state
// already (the folder's state file says so), and plot.png is served from
// that file.
func TestRestartSkipsDrawnStatesAndServesThem(t *testing.T) {
	dir := t.TempDir()
	var encoded atomic.Int64
	encode := func(s plotfile.Snapshot) ([]byte, error) { encoded.Add(1); return plotfile.Draw(s) }
	m := newModels(t, dir, plotfile.WithImage(encode))
	stop := run(t, m)
	m.Notify(state("ab", 0, 3, 4))
	m.Notify(state("default", 0, 7, 10))
	waitFor(t, "both drawn", func() bool { return m.Stats().Draws == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	m2 := newModels(t, dir, plotfile.WithImage(encode))
	run(t, m2)
	m2.Notify(state("ab", 0, 3, 4))
	m2.Notify(state("default", 0, 7, 10))
	waitFor(t, "both seen", func() bool { return m2.Stats().Skipped == 2 })
	if s := m2.Stats(); s.Draws != 0 || encoded.Load() != 2 {
		t.Fatalf("restart redrew: %+v, %d images encoded", s, encoded.Load())
	}

	// Served from latest.png: replace it with another PNG, and that is
	// what comes back for the state it stands for.
	latest := filepath.Join(dir, "ab", plotfile.LatestName)
	touch(t, filepath.Join(dir, "ab"), plotfile.LatestName, tinyPNG)
	v := query.ModelView{Name: "ab", W: 3, N: 4, PriorSpec: spec.Prior, GridPoints: spec.GridPoints}
	var b bytes.Buffer
	if err := m2.WritePNG(context.Background(), &b, v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), tinyPNG) || encoded.Load() != 2 {
		t.Fatalf("plot.png of the drawn state was not latest.png (%d bytes, %d encoded)", b.Len(), encoded.Load())
	}
	// Another state (newer than drawn, or another spec) is drawn on request.
	snap, err := plotfile.SnapshotFunc(spec.GridPoints, model.UniformPrior())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []model.Counts{{W: 4, N: 5}, {W: 3, N: 4}} {
		s, err := snap(c)
		if err != nil {
			t.Fatal(err)
		}
		v := query.ModelView{Name: "ab", W: c.W, N: c.N, PriorSpec: spec.Prior, GridPoints: spec.GridPoints,
			Grid: s.Grid, Prior: s.Prior, Posterior: s.Posterior}
		if c.N == 4 {
			v.PriorSpec = "beta:2,2"
		}
		b.Reset()
		before := encoded.Load()
		if err := m2.WritePNG(context.Background(), &b, v); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(b.Bytes(), tinyPNG) || encoded.Load() != before+1 {
			t.Fatalf("%+v %s: served latest.png, want a drawing", c, v.PriorSpec)
		}
		decodePNG(t, latest) // untouched
	}
}
