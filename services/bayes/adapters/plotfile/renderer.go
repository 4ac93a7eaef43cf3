// Package plotfile draws the globe-tossing model's prior and posterior as PNG
// files with gonum/plot: one numbered file per state (n_N_w_W.png, the
// original project's naming) plus latest.png, the newest state, for whoever
// serves or watches the directory.
//
// Every file appears through a rename of a finished temp file in the same
// directory, so a reader never sees a half-written PNG. The directory is kept
// to a bounded number of numbered files, and drawing is decoupled from event
// consumption by a Coalescer, so a burst of events costs a few images, not
// one image per event.
package plotfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// LatestName is the file that always holds the newest state drawn.
const LatestName = "latest.png"

// The image size matches matplotlib's default figure (6.4 × 4.8 inches),
// the size the original's plots had.
const (
	width  = 6.4 * vg.Inch
	height = 4.8 * vg.Inch
)

// Temp files start with a dot and end in .tmp so that they never match the
// numbered pattern, are hidden from casual listings and are recognisable as
// ours when a crash left one behind.
const (
	tempPrefix = ".plotfile-"
	tempSuffix = ".tmp"
	// staleTemp is how old a temp file must be before start-up removes it: a
	// younger one may belong to another replica writing into the same dir.
	staleTemp = time.Hour
)

// Snapshot is everything one image needs: the state and the three series,
// all of the same length, Grid ascending from 0 to 1.
type Snapshot struct {
	// Name is the model's; the default model's plots keep the original's
	// title, others say whose they are.
	Name       string
	Counts     model.Counts
	GridPoints int
	Grid       []float64
	Prior      []float64
	Posterior  []float64
}

// Renderer writes Snapshots as PNG files into one directory. It is safe for
// concurrent use, but the order in which concurrent calls replace
// latest.png is not defined: the Coalescer is what keeps calls in order.
type Renderer struct {
	dir  string
	keep int
	log  *slog.Logger

	// mu serialises the file-system half of Render, so the retention index
	// and the directory agree.
	mu    sync.Mutex
	index retention

	// What happened, for the tests (export_test.go).
	renders  atomic.Int64
	failures atomic.Int64
	lastDur  atomic.Int64
}

// New returns a Renderer writing into dir, creating it if missing, that keeps
// at most keep numbered files (0 keeps all). It scans dir once, so files from
// previous runs count towards keep, and trims them to keep straight away.
func New(dir string, keep int, logger *slog.Logger) (*Renderer, error) {
	switch {
	case dir == "":
		return nil, errors.New("graphs dir is empty")
	case keep < 0:
		return nil, fmt.Errorf("keep %d: want 0 (keep all) or more", keep)
	case logger == nil:
		return nil, errors.New("logger is nil")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating graphs dir %q: %w", dir, err)
	}
	// A failed probe now is a clear start-up error instead of every render
	// failing later.
	probe, err := os.CreateTemp(dir, tempPrefix+"probe-*"+tempSuffix)
	if err != nil {
		return nil, fmt.Errorf("graphs dir %q is not writable: %w", dir, err)
	}
	_ = probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return nil, fmt.Errorf("graphs dir %q: removing write probe: %w", dir, err)
	}

	r := &Renderer{dir: dir, keep: keep, log: logger}
	if err := r.scan(); err != nil {
		return nil, err
	}
	return r, nil
}

// scan seeds the retention index from the directory, the only listing the
// Renderer ever does, and removes temp files a crash left behind.
func (r *Renderer) scan() error {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return fmt.Errorf("listing graphs dir %q: %w", r.dir, err)
	}
	var found, stale int
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix) {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
				if os.Remove(filepath.Join(r.dir, name)) == nil {
					stale++
				}
			}
			continue
		}
		if c, ok := ParseFileName(name); ok && r.keep > 0 {
			r.index.add(c, name)
			found++
		}
	}
	removed := r.prune("")
	r.log.Info("graphs dir ready", "dir", r.dir, "keep", r.keep,
		"numbered_found", found, "numbered_removed", removed, "stale_temp_removed", stale)
	return nil
}

// Render draws s and writes n_N_w_W.png and latest.png. If the numbered file
// already exists (another replica drew the same state) it is left as it is,
// but latest.png is still replaced, so it shows this state.
func (r *Renderer) Render(ctx context.Context, s Snapshot) error {
	start := time.Now()
	if err := r.render(ctx, s); err != nil {
		r.failures.Add(1)
		return err
	}
	r.renders.Add(1)
	r.lastDur.Store(int64(time.Since(start)))
	return nil
}

func (r *Renderer) render(ctx context.Context, s Snapshot) error {
	if err := s.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rendering %s: %w", FileName(s.Counts), err)
	}
	img, err := draw(s)
	if err != nil {
		return fmt.Errorf("drawing %s: %w", FileName(s.Counts), err)
	}
	// Drawing is the slow part and cannot be interrupted; checking again
	// here keeps a cancelled caller from touching the directory.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rendering %s: %w", FileName(s.Counts), err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	name := FileName(s.Counts)
	_, err = os.Stat(filepath.Join(r.dir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := r.writeFile(name, img); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("checking %s: %w", name, err)
	}
	if err := r.writeFile(LatestName, img); err != nil {
		return err
	}
	if r.keep > 0 {
		r.index.add(s.Counts, name)
		r.prune(name)
	}
	return nil
}

// prune removes the oldest numbered files until at most keep are left, but
// never protect (the file just written: after a reset of the state it may be
// the oldest by N, and deleting the image just drawn helps nobody). It
// returns how many files it removed.
func (r *Renderer) prune(protect string) int {
	if r.keep == 0 {
		return 0
	}
	var removed, heldN int
	var held entry
	for r.index.len()+heldN > r.keep && r.index.len() > 0 {
		e := r.index.popOldest()
		if e.name == protect {
			held, heldN = e, 1
			continue
		}
		err := os.Remove(filepath.Join(r.dir, e.name))
		switch {
		case err == nil:
			removed++
		case errors.Is(err, fs.ErrNotExist):
			// Another replica sharing the dir removed it first.
		default:
			// Forget it anyway: retrying on every render would not help and
			// would keep the index over keep for good.
			r.log.Warn("removing old graph", "file", e.name, "err", err)
		}
	}
	if heldN == 1 {
		r.index.push(held)
	}
	return removed
}

// writeFile writes data to dir/name atomically: a temp file in the same dir
// (so the rename never crosses file systems) renamed over name. There is no
// fsync: the files are a view that the next render rebuilds, and a reader
// only needs never to see a partial file, which the rename alone ensures.
func (r *Renderer) writeFile(name string, data []byte) (err error) {
	f, err := os.CreateTemp(r.dir, tempPrefix+name+"-*"+tempSuffix)
	if err != nil {
		return fmt.Errorf("creating temp file for %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	// CreateTemp makes the file 0600; the images are for other processes
	// (a web server, another container) to read.
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("setting mode of %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(r.dir, name)); err != nil {
		return fmt.Errorf("renaming temp file to %s: %w", name, err)
	}
	return nil
}

// Dir returns the directory the Renderer writes into.
func (r *Renderer) Dir() string { return r.dir }

// Title is the plot's title, the original's wording.
func Title(c model.Counts, points int) string {
	return fmt.Sprintf("w: %d, n: %d, grid approx (%d points)", c.W, c.N, points)
}

func (s Snapshot) validate() error {
	n := len(s.Grid)
	switch {
	case !s.Counts.Valid():
		return fmt.Errorf("snapshot counts w=%d n=%d are impossible", s.Counts.W, s.Counts.N)
	case n < model.MinGridPoints:
		return fmt.Errorf("snapshot has %d grid points, want at least %d", n, model.MinGridPoints)
	case len(s.Prior) != n || len(s.Posterior) != n:
		return fmt.Errorf("snapshot series lengths differ: grid %d, prior %d, posterior %d", n, len(s.Prior), len(s.Posterior))
	case s.GridPoints != n:
		return fmt.Errorf("snapshot says %d grid points but has %d", s.GridPoints, n)
	}
	return nil
}

// draw returns the PNG bytes of s. Encoding to memory first means the file
// is written in one short step, holding the lock only for I/O.
func draw(s Snapshot) ([]byte, error) {
	p := plot.New()
	p.Title.Text = Title(s.Counts, s.GridPoints)
	if s.Name != "" && s.Name != events.DefaultModel {
		p.Title.Text = s.Name + " — " + p.Title.Text
	}
	p.X.Label.Text = "Proportion of w"
	p.Y.Label.Text = "Probability"
	p.X.Min, p.X.Max = 0, 1
	p.Add(plotter.NewGrid())

	prior, err := plotter.NewLine(series(s.Grid, s.Prior))
	if err != nil {
		return nil, fmt.Errorf("prior line: %w", err)
	}
	prior.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	prior.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}

	post, points, err := plotter.NewLinePoints(series(s.Grid, s.Posterior))
	if err != nil {
		return nil, fmt.Errorf("posterior line: %w", err)
	}
	post.Color = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	points.Color = post.Color
	points.Radius = vg.Points(1.5)

	p.Add(prior, post, points)
	p.Legend.Add("prior", prior)
	p.Legend.Add("posterior", post, points)
	p.Legend.Top = true

	wt, err := p.WriterTo(width, height, "png")
	if err != nil {
		return nil, fmt.Errorf("png canvas: %w", err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encoding png: %w", err)
	}
	return buf.Bytes(), nil
}

func series(x, y []float64) plotter.XYs {
	xys := make(plotter.XYs, len(x))
	for i := range x {
		xys[i] = plotter.XY{X: x[i], Y: y[i]}
	}
	return xys
}
