package plotfile

import (
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// RenderFunc draws one state of one model.
type RenderFunc func(ctx context.Context, c model.Counts) error

// Models draws every model into its own folder: the default model into the
// graphs folder itself (where the original put its plots), model "name"
// into <folder>/name. Each model has its own Coalescer, so a burst on one
// model neither delays nor hides another's images; naming and retention
// are the same for all.
type Models struct {
	dir        string
	keep       int
	defaults   events.ModelSpec
	log        *slog.Logger
	instrument func(RenderFunc) RenderFunc
	opts       []CoalescerOption
	// defaultRenderer draws the default model into dir itself.
	defaultRenderer *Renderer

	mu      sync.Mutex
	plots   map[string]*Coalescer
	waiting []*Coalescer // made before Run started
	ctx     context.Context
	stopped bool
	wg      sync.WaitGroup
}

// NewModels checks the graphs folder at once (so a bad GRAPHS_DIR stops
// bayes at start-up) and returns the plotter. instrument, when not nil,
// wraps every model's render function (metrics).
func NewModels(dir string, keep int, defaults events.ModelSpec, logger *slog.Logger, instrument func(RenderFunc) RenderFunc, opts ...CoalescerOption) (*Models, error) {
	if logger == nil {
		return nil, errors.New("plot models: nil logger")
	}
	// The default model's renderer, made here so a bad folder fails now;
	// its scan of the folder is the only one.
	r, err := New(dir, keep, logger)
	if err != nil {
		return nil, err
	}
	if instrument == nil {
		instrument = func(r RenderFunc) RenderFunc { return r }
	}
	return &Models{dir: dir, keep: keep, defaults: defaults, log: logger, instrument: instrument,
		opts: opts, plots: map[string]*Coalescer{}, defaultRenderer: r}, nil
}

// DirFor is the folder of a model's plots.
func (m *Models) DirFor(name string) string {
	if name == events.DefaultModel {
		return m.dir
	}
	return filepath.Join(m.dir, name)
}

// Notify records a model's new state to draw; it never waits for a draw.
func (m *Models) Notify(st command.ModelState) {
	if st.Deleted {
		return // TODO(issue 12): remove the model's folder
	}
	name, c, spec := st.Name, st.Counts, st.Spec
	if !events.ValidModelName(name) { // names come from Redis; never a path
		return
	}
	m.mu.Lock()
	co, ok := m.plots[name]
	if !ok && !m.stopped {
		var err error
		co, err = NewCoalescer(m.instrument(m.renderFor(name, spec)), m.log.With("model", name), m.opts...)
		if err != nil { // only for nil arguments, which renderFor never gives
			m.mu.Unlock()
			m.log.Error("plot coalescer", "model", name, "err", err)
			return
		}
		m.plots[name] = co
		if m.ctx != nil {
			m.start(co)
		} else {
			m.waiting = append(m.waiting, co)
		}
	}
	m.mu.Unlock()
	if co != nil {
		co.Notify(c)
	}
}

// renderFor draws a model's states into its folder with its spec. The
// folder is made on the first draw, not in Notify, which must not do I/O.
func (m *Models) renderFor(name string, spec events.ModelSpec) RenderFunc {
	if spec.Prior == "" {
		spec = m.defaults
	}
	var (
		once     sync.Once
		r        *Renderer
		snapshot func(model.Counts) (Snapshot, error)
		initErr  error
	)
	return func(ctx context.Context, c model.Counts) error {
		once.Do(func() {
			prior, err := model.ParsePrior(spec.Prior)
			if err != nil {
				initErr = err
				return
			}
			if snapshot, err = SnapshotFunc(spec.GridPoints, prior); err != nil {
				initErr = err
				return
			}
			if name == events.DefaultModel {
				r = m.defaultRenderer
				return
			}
			r, initErr = New(m.DirFor(name), m.keep, m.log)
		})
		if initErr != nil {
			return fmt.Errorf("plots of model %q: %w", name, initErr)
		}
		s, err := snapshot(c)
		if err != nil {
			return err
		}
		s.Name = name
		return r.Render(ctx, s)
	}
}

func (m *Models) start(co *Coalescer) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := co.Run(m.ctx); err != nil && !errors.Is(err, context.Canceled) {
			m.log.Warn("plotter stopped with an error", "err", err)
		}
	}()
}

// Run draws until ctx is cancelled, then waits for every model's final
// draw. It returns nil.
func (m *Models) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ctx != nil {
		m.mu.Unlock()
		return errors.New("plot models: already running")
	}
	m.ctx = ctx
	for _, co := range m.waiting {
		m.start(co)
	}
	m.waiting = nil
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// PNG draws a model view on request, for GET /models/{name}/plot.png.
type PNG struct{}

// WritePNG writes the view's prior and posterior as a PNG to w.
func (PNG) WritePNG(_ context.Context, w io.Writer, v query.ModelView) error {
	b, err := draw(Snapshot{Name: v.Name, Counts: model.Counts{W: v.W, N: v.N}, GridPoints: v.GridPoints,
		Grid: v.Grid, Prior: v.Prior, Posterior: v.Posterior})
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
