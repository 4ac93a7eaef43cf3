package plotfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// FinalDrawTimeout bounds what Run does after its context is cancelled (the
// draws in flight and the states still pending, all together), so shutdown
// waits for the final images but not for ever.
const FinalDrawTimeout = 2 * time.Second

// maxTombstones bounds how many deleted models Models remembers (to refuse a
// state accepted before the deletion): names created and deleted for ever
// must not grow the map for ever.
const maxTombstones = 4096

// RenderFunc draws one state of one model.
type RenderFunc func(ctx context.Context, c model.Counts) error

// Option configures Models.
type Option func(*Models)

// WithMinInterval makes the draws of one model start at least d apart. A
// draw costs tens of milliseconds of CPU; back to back under a steady
// stream of events they would take a whole core from the consumer on a
// small machine. The state drawn is still the newest one, and after the
// last event its image is written within d plus one draw (plus the wait
// for a free worker). A model waiting for its interval holds no worker.
func WithMinInterval(d time.Duration) Option {
	return func(m *Models) { m.minGap = max(d, 0) }
}

// WithWorkers sets how many draws run at once, whatever the number of
// models; n <= 0 means one per core bayes may use but one, at least one:
// the core left over keeps consuming events while a burst of new models
// is drawn (measured on 2 cores: a second draw worker made the burst's
// plots no faster and the consumer slower).
func WithWorkers(n int) Option {
	return func(m *Models) { m.workers = n }
}

// Models draws every model into its own folder: the default model into the
// graphs folder itself (where the original put its plots), model "name"
// into <folder>/name.
//
// Drawing is decoupled from event consumption by per-model coalescing in
// front of a fixed pool of workers. Notify records the model's newest state
// in a small slot and puts the model's name in a FIFO queue, once however
// many states arrive before a worker takes it: a burst of thousands of
// events on one model costs a couple of images, the last of the last state,
// and ten thousand models cost ten thousand slots (a few hundred bytes
// each), not ten thousand goroutines, canvases or retention indexes. A
// model is drawn by one worker at a time, so its images never go back in
// time; the workers take models in the order they became pending, so a
// busy model cannot starve the others.
type Models struct {
	dir        string
	keep       int
	defaults   events.ModelSpec
	log        *slog.Logger
	instrument func(RenderFunc) RenderFunc
	workers    int
	minGap     time.Duration
	image      func(Snapshot) ([]byte, error)
	// defaultRenderer draws the default model into dir itself; the only
	// Renderer kept between draws, because a scan of dir lists every
	// model's folder. Other models open theirs for each draw.
	defaultRenderer *Renderer
	base            time.Time // the clock of slot.last and later.at
	// wake tells idle workers that a model was queued; one token per
	// worker is enough, since a worker that takes a model passes the word
	// on when more are queued.
	wake chan struct{}

	mu       sync.Mutex
	slots    map[string]*slot
	ready    fifo  // models to draw or remove now, in the order they became pending
	waiting  later // models waiting for their minimum interval
	nWaiting int   // valid entries of waiting (a removal invalidates one)
	tombs    fifo  // deleted models, oldest first, at most maxTombstones
	running  bool

	// What happened (Stats).
	draws, skipped, errs, ignored atomic.Int64
}

// slot is all Models keeps of a model between draws.
type slot struct {
	st    command.ModelState // the newest state accepted
	drawn drawnState         // what latest.png shows, when drawnOK
	last  time.Duration      // start of the last draw, since Models.base
	tomb  int64              // when deleted: states of an epoch up to tomb are from before the deletion
	seq   uint32             // draws started, so WritePNG can tell that none started while it read

	seen     bool // st is set
	pending  bool // st waits to be drawn
	retry    bool // st's draw failed, so the same state is welcome again
	remove   bool // the model was deleted and its folder waits to be removed
	deleted  bool // the model is deleted (and not created again since)
	queued   bool // in Models.ready
	delayed  bool // in Models.waiting
	inFlight bool // a worker is drawing it or removing its folder
	started  bool // last is set
	drawnOK  bool // drawn is set and latest.png shows it
}

// accepts says whether st is to be drawn: a newer state (Epoch, then N), or
// the newest again when its draw failed. After a deletion only a state of a
// later epoch is, which is how the model's re-creation arrives.
func (s *slot) accepts(st command.ModelState) bool {
	switch {
	case s.deleted:
		return st.Epoch > s.tomb
	case !s.seen:
		return true
	case st.Newer(s.st):
		return true
	}
	return s.retry && st.Epoch == s.st.Epoch && st.Counts == s.st.Counts
}

func (s *slot) idle() bool {
	return !s.pending && !s.remove && !s.queued && !s.delayed && !s.inFlight
}

// NewModels checks the graphs folder at once (so a bad GRAPHS_DIR stops
// bayes at start-up) and returns the plotter, which draws once Run runs.
// instrument, when not nil, wraps every render (metrics).
func NewModels(dir string, keep int, defaults events.ModelSpec, logger *slog.Logger, instrument func(RenderFunc) RenderFunc, opts ...Option) (*Models, error) {
	if logger == nil {
		return nil, errors.New("plot models: nil logger")
	}
	// The default model's renderer, made here so a bad folder fails now;
	// its scan of the folder is the only one of the graphs dir.
	r, err := New(dir, keep, logger)
	if err != nil {
		return nil, err
	}
	if instrument == nil {
		instrument = func(r RenderFunc) RenderFunc { return r }
	}
	m := &Models{dir: dir, keep: keep, defaults: defaults, log: logger, instrument: instrument,
		image: draw, defaultRenderer: r, base: time.Now(), slots: map[string]*slot{}}
	for _, o := range opts {
		o(m)
	}
	if m.workers <= 0 {
		m.workers = max(runtime.GOMAXPROCS(0)-1, 1)
	}
	r.image = m.image
	m.wake = make(chan struct{}, m.workers)
	return m, nil
}

// Workers is how many draws run at once.
func (m *Models) Workers() int { return m.workers }

// DirFor is the folder of a model's plots.
func (m *Models) DirFor(name string) string {
	if name == events.DefaultModel {
		return m.dir
	}
	return filepath.Join(m.dir, name)
}

// QueueLen is how many models wait for a worker (to be drawn, or to have
// their folder removed), each counted once however many states arrived.
func (m *Models) QueueLen() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready.len() + m.nWaiting
}

// DrawStats are the pool's counters since NewModels.
type DrawStats struct {
	Draws   int64 // states drawn (images written)
	Skipped int64 // states whose image the folder held already (its state file says so)
	Errors  int64 // draws and folder removals that failed
	Ignored int64 // Notify calls dropped as not newer than a state already accepted
}

// Stats returns the pool's counters.
func (m *Models) Stats() DrawStats {
	return DrawStats{Draws: m.draws.Load(), Skipped: m.skipped.Load(), Errors: m.errs.Load(), Ignored: m.ignored.Load()}
}

// Notify records a model's new state, or its deletion, for the workers; it
// never waits for a draw and does no I/O. A state not newer than the newest
// one accepted is ignored (the image must not go back in time), except a
// state of a later epoch: a reset or a re-creation, drawn even though its
// counts are lower.
func (m *Models) Notify(st command.ModelState) {
	if !events.ValidModelName(st.Name) { // names come from Redis; never a path
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.slots[st.Name]
	if st.Deleted {
		m.deleteLocked(st, s)
		return
	}
	if s == nil {
		s = &slot{}
		m.slots[st.Name] = s
	}
	if !s.accepts(st) {
		m.ignored.Add(1)
		return
	}
	s.st, s.seen, s.deleted, s.retry, s.pending = st, true, false, false, true
	m.scheduleLocked(st.Name, s)
}

// deleteLocked drops the model's pending state and queues the removal of
// its folder, which a worker does once any draw of the model in flight has
// ended, so that draw cannot bring the folder back.
func (m *Models) deleteLocked(st command.ModelState, s *slot) {
	if st.Name == events.DefaultModel {
		// The api and the events refuse it; its folder is the graphs dir.
		m.log.Warn("ignoring a deletion of the default model: it can be reset, not deleted")
		return
	}
	if s == nil {
		s = &slot{}
		m.slots[st.Name] = s
	}
	// A state from before the deletion has at most the epoch the model had
	// (st.Epoch-1 if the deletion carries the epoch it started); its
	// re-creation gets a later one, since every deletion grows the epochs
	// counter.
	tomb := st.Epoch - 1
	if s.seen {
		tomb = max(tomb, s.st.Epoch)
	}
	if s.deleted {
		tomb = max(tomb, s.tomb)
	}
	*s = slot{tomb: tomb, deleted: true, remove: true, queued: s.queued, delayed: s.delayed, inFlight: s.inFlight}
	m.scheduleLocked(st.Name, s)
	m.tombs.push(st.Name)
	for m.tombs.len() > maxTombstones {
		name := m.tombs.pop()
		if t := m.slots[name]; t != nil && t.deleted && t.idle() {
			delete(m.slots, name)
		}
	}
}

// scheduleLocked puts a model with work in the ready queue unless it is
// there already, or in flight (the worker queues it again when done), or
// waiting for its interval (a removal does not wait).
func (m *Models) scheduleLocked(name string, s *slot) {
	if s.inFlight || s.queued {
		return
	}
	if s.delayed {
		if !s.remove {
			return
		}
		s.delayed = false // its entry in waiting is now stale
		m.nWaiting--
	}
	s.queued = true
	m.ready.push(name)
	m.signal()
}

func (m *Models) signal() {
	select {
	case m.wake <- struct{}{}:
	default: // every worker has a token already
	}
}

func (m *Models) now() time.Duration { return time.Since(m.base) }

// job is one unit of a worker's work: draw st, or remove name's folder.
type job struct {
	name   string
	st     command.ModelState
	remove bool
}

// take returns the next job, if any, marking its model in flight. Models
// whose interval has not passed move to waiting; final (shutdown) ignores
// intervals. Without a job, wait is how long until a waiting model is due
// (-1: none is).
func (m *Models) take(final bool) (j job, wait time.Duration, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for m.waiting.Len() > 0 && (final || m.waiting[0].at <= now) {
		d := m.waiting.next()
		s := m.slots[d.name]
		if s == nil || !s.delayed {
			continue // stale: the model's removal went ahead of it
		}
		s.delayed, s.queued = false, true
		m.nWaiting--
		m.ready.push(d.name)
	}
	for m.ready.len() > 0 {
		name := m.ready.pop()
		s := m.slots[name]
		if s == nil {
			continue
		}
		s.queued = false
		switch {
		case s.remove:
			s.remove, s.inFlight = false, true
			j, ok = job{name: name, remove: true}, true
		case !s.pending:
			continue
		case !final && s.started && now < s.last+m.minGap:
			s.delayed = true
			m.nWaiting++
			m.waiting.add(s.last+m.minGap, name)
			continue
		default:
			s.pending, s.inFlight, s.started, s.last = false, true, true, now
			s.seq++
			j, ok = job{name: name, st: s.st}, true
		}
		if m.ready.len() > 0 {
			m.signal() // another worker may take the next one
		}
		return j, 0, true
	}
	if m.waiting.Len() > 0 {
		return job{}, max(m.waiting[0].at-now, 0), false
	}
	return job{}, -1, false
}

// finish records how a job ended and queues the model again if more work
// arrived meanwhile.
func (m *Models) finish(j job, drawn drawnState, skipped bool, err error, interrupted bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.slots[j.name] // in flight: never evicted
	s.inFlight = false
	switch {
	case j.remove:
		// A re-created model draws at once, with nothing left to show.
		s.drawnOK, s.started = false, false
	case err == nil:
		s.drawn, s.drawnOK = drawn, true
		if skipped {
			m.skipped.Add(1)
		} else {
			m.draws.Add(1)
		}
	case interrupted:
		// Cancelled by the shutdown's deadline with nothing newer queued:
		// put it back, so the count of what was not drawn is right.
		if !s.deleted && !s.pending && s.st.Epoch == j.st.Epoch && s.st.Counts == j.st.Counts {
			s.pending = true
		}
	default:
		m.errs.Add(1)
		if !s.deleted && s.st.Epoch == j.st.Epoch && s.st.Counts == j.st.Counts {
			s.retry = true
		}
	}
	if s.pending || s.remove {
		m.scheduleLocked(j.name, s)
	}
}

// Run draws with the pool of workers until ctx is cancelled. Then the
// workers draw what is still pending, intervals aside, until nothing is or
// FinalDrawTimeout has passed: the draws then in flight are cancelled (a
// draw cannot stop halfway, so Run returns at most one draw's time after
// the deadline, and the cancelled draw leaves the folder as it was) and the
// rest stays undrawn. It returns nil.
func (m *Models) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("plot models: already running")
	}
	m.running = true
	m.mu.Unlock()
	// The draws' context keeps ctx's values but not its cancellation: a
	// draw in flight at shutdown is worth finishing, up to the deadline.
	drawCtx, cancelDraws := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDraws()
	var wg sync.WaitGroup
	for range m.workers {
		wg.Go(func() { m.work(ctx, drawCtx) })
	}
	<-ctx.Done()
	deadline := time.AfterFunc(FinalDrawTimeout, cancelDraws)
	wg.Wait()
	deadline.Stop()
	if n := m.QueueLen(); n > 0 {
		m.log.Warn("plots left undrawn at shutdown", "models", n, "timeout", FinalDrawTimeout)
	}
	return nil
}

// work is one worker: take a job, do it, until ctx is cancelled and nothing
// is left (or the final deadline passes).
func (m *Models) work(ctx, drawCtx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		final := ctx.Err() != nil
		if drawCtx.Err() != nil {
			return
		}
		j, wait, ok := m.take(final)
		if ok {
			m.do(drawCtx, j)
			continue
		}
		if final {
			return
		}
		var due <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			due = timer.C
		}
		select {
		case <-m.wake:
		case <-due:
		case <-ctx.Done():
		}
		timer.Stop()
	}
}

func (m *Models) do(ctx context.Context, j job) {
	if j.remove {
		err := m.removeDir(j.name)
		if err != nil {
			m.errs.Add(1)
			m.log.Error("removing a deleted model's plots", "model", j.name, "err", err)
		}
		m.finish(j, drawnState{}, false, err, false)
		return
	}
	want := drawnState{epoch: j.st.Epoch, counts: j.st.Counts, spec: m.specOf(j.st)}
	skipped, err := m.drawState(ctx, j.st.Name, want)
	interrupted := err != nil && ctx.Err() != nil
	switch {
	case interrupted:
		m.log.Debug("graph draw interrupted by shutdown", "model", j.st.Name, "n", want.counts.N, "w", want.counts.W, "err", err)
	case err != nil:
		m.log.Error("drawing graph", "model", j.st.Name, "n", want.counts.N, "w", want.counts.W, "err", err)
	}
	m.finish(j, want, skipped, err, interrupted)
}

func (m *Models) specOf(st command.ModelState) events.ModelSpec {
	if st.Spec.Prior == "" {
		return m.defaults
	}
	return st.Spec
}

// drawState draws one state into the model's folder, unless the folder's
// state file says latest.png shows it already (a restart, or a redelivery);
// skipped says so. When the folder's numbered files are of another epoch
// (the model was reset, or deleted and created again, since they were
// drawn) they are removed first: the numbers of two epochs must not mix.
func (m *Models) drawState(ctx context.Context, name string, want drawnState) (skipped bool, err error) {
	dir := m.DirFor(name)
	prev, known, err := readDrawnState(dir)
	if err != nil {
		return false, fmt.Errorf("plots of model %q: %w", name, err)
	}
	if known && prev == want {
		if _, err := os.Stat(filepath.Join(dir, LatestName)); err == nil {
			return true, nil
		}
	}
	prior, err := model.ParsePrior(want.spec.Prior)
	if err != nil {
		return false, fmt.Errorf("plots of model %q: %w", name, err)
	}
	snapshot, err := SnapshotFunc(want.spec.GridPoints, prior)
	if err != nil {
		return false, fmt.Errorf("plots of model %q: %w", name, err)
	}
	r := m.defaultRenderer
	if name != events.DefaultModel {
		if r, _, err = open(dir, m.keep, m.log, m.image); err != nil {
			return false, fmt.Errorf("plots of model %q: %w", name, err)
		}
	}
	// A folder without a state file is of epoch 0: the files of a model
	// drawn before epochs existed, or of one never reset, stay.
	if prev.epoch != want.epoch {
		n, err := r.removeNumbered()
		if err != nil {
			return false, fmt.Errorf("plots of model %q: %w", name, err)
		}
		m.log.Debug("removed the plots of an earlier epoch", "model", name, "files", n, "epoch", want.epoch, "previous", prev.epoch)
	}
	render := m.instrument(func(ctx context.Context, c model.Counts) error {
		s, err := snapshot(c)
		if err != nil {
			return err
		}
		s.Name = name
		return r.Render(ctx, s)
	})
	if err := render(ctx, want.counts); err != nil {
		return false, fmt.Errorf("plots of model %q: %w", name, err)
	}
	if err := r.writeFile(StateName, want.encode()); err != nil {
		return false, fmt.Errorf("plots of model %q: %w", name, err)
	}
	return false, nil
}

// removeDir removes a deleted model's folder, and never the graphs dir
// itself: only a folder right under it, of a model other than default.
func (m *Models) removeDir(name string) error {
	root := filepath.Clean(m.dir)
	dir := m.DirFor(name)
	if name == events.DefaultModel || !events.ValidModelName(name) || filepath.Dir(dir) != root || dir == root {
		return fmt.Errorf("refusing to remove %q for model %q", dir, name)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the plots of deleted model %q: %w", name, err)
	}
	return nil
}

// WritePNG writes a model view's image, for GET /models/{name}/plot.png:
// the model's latest.png when it shows the view's state (counts and spec,
// which are all the image depends on) and no draw of the model started
// while it was read, otherwise an image drawn on request.
func (m *Models) WritePNG(_ context.Context, w io.Writer, v query.ModelView) error {
	b, ok := m.drawnImage(v)
	if !ok {
		var err error
		if b, err = m.image(viewSnapshot(v)); err != nil {
			return err
		}
	}
	_, err := w.Write(b)
	return err
}

func (m *Models) drawnImage(v query.ModelView) ([]byte, bool) {
	if !events.ValidModelName(v.Name) {
		return nil, false
	}
	want := drawnState{counts: model.Counts{W: v.W, N: v.N}, spec: events.ModelSpec{Prior: v.PriorSpec, GridPoints: v.GridPoints}}
	check := func() (*slot, uint32, bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		s := m.slots[v.Name]
		if s == nil || !s.drawnOK || s.inFlight || !s.drawn.sameImage(want) {
			return nil, 0, false
		}
		return s, s.seq, true
	}
	s, seq, ok := check()
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(m.DirFor(v.Name), LatestName))
	if err != nil {
		return nil, false
	}
	// Nothing started to replace or remove the file while it was read.
	if s2, seq2, ok := check(); !ok || s2 != s || seq2 != seq {
		return nil, false
	}
	return b, true
}

// PNG draws a model view on request, for GET /models/{name}/plot.png, when
// no plotter serves drawn images (tests, tools).
type PNG struct{}

// WritePNG writes the view's prior and posterior as a PNG to w.
func (PNG) WritePNG(_ context.Context, w io.Writer, v query.ModelView) error {
	b, err := draw(viewSnapshot(v))
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func viewSnapshot(v query.ModelView) Snapshot {
	return Snapshot{Name: v.Name, Counts: model.Counts{W: v.W, N: v.N}, GridPoints: v.GridPoints,
		Grid: v.Grid, Prior: v.Prior, Posterior: v.Posterior}
}
