// Package plotfile draws the globe-tossing model's prior and posterior as PNG
// files with gonum/plot: one numbered file per state (n_N_w_W.png, the
// original project's naming) plus latest.png, the newest state, for whoever
// serves or watches the directory.
//
// Every file appears through a rename of a finished temp file in the same
// directory, so a reader never sees a half-written PNG. The directory is kept
// to a bounded number of numbered files, and drawing is decoupled from event
// consumption by Models: a fixed pool of draw workers fed by per-model
// coalescing, so a burst of events costs a few images, not one image per
// event, and ten thousand models cost ten thousand small records, not ten
// thousand goroutines.
package plotfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/color"
	"image/png"
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
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

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
// latest.png is not defined: Models, which never draws one model twice at
// once, is what keeps calls in order.
type Renderer struct {
	dir  string
	keep int
	log  *slog.Logger
	// image encodes a Snapshot as PNG bytes: draw, or a cheaper stand-in
	// in the tests of the pool.
	image func(Snapshot) ([]byte, error)

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
	if logger == nil {
		return nil, errors.New("logger is nil")
	}
	if err := checkArgs(dir, keep); err != nil {
		return nil, err
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
	r, st, err := open(dir, keep, logger, draw)
	if err != nil {
		return nil, err
	}
	r.log.Info("graphs dir ready", "dir", r.dir, "keep", r.keep,
		"numbered_found", st.found, "numbered_removed", st.removed, "stale_temp_removed", st.stale)
	return r, nil
}

func checkArgs(dir string, keep int) error {
	switch {
	case dir == "":
		return errors.New("graphs dir is empty")
	case keep < 0:
		return fmt.Errorf("keep %d: want 0 (keep all) or more", keep)
	}
	return nil
}

// scanStats is what the scan of a directory found and removed.
type scanStats struct{ found, removed, stale int }

// open is New without the write probe and the log line: Models opens a
// model's folder for each draw (a Renderer per model would hold a retention
// index per model, thousands of them), and the folder was checked when the
// graphs dir was.
func open(dir string, keep int, logger *slog.Logger, image func(Snapshot) ([]byte, error)) (*Renderer, scanStats, error) {
	if err := checkArgs(dir, keep); err != nil {
		return nil, scanStats{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, scanStats{}, fmt.Errorf("creating graphs dir %q: %w", dir, err)
	}
	r := &Renderer{dir: dir, keep: keep, log: logger, image: image}
	st, err := r.scan()
	if err != nil {
		return nil, scanStats{}, err
	}
	return r, st, nil
}

// scan seeds the retention index from the directory, the only listing the
// Renderer ever does, and removes temp files a crash left behind.
func (r *Renderer) scan() (scanStats, error) {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return scanStats{}, fmt.Errorf("listing graphs dir %q: %w", r.dir, err)
	}
	var st scanStats
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix) {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
				if os.Remove(filepath.Join(r.dir, name)) == nil {
					st.stale++
				}
			}
			continue
		}
		if c, ok := ParseFileName(name); ok && r.keep > 0 {
			r.index.add(c, name)
			st.found++
		}
	}
	st.removed = r.prune("")
	return st, nil
}

// removeNumbered removes every numbered file of the directory, whatever
// keep is, and empties the retention index: the files of a model's earlier
// epoch (before a reset or a re-creation) must not mix with the new ones.
// latest.png stays until the next Render replaces it. It returns how many
// files it removed.
func (r *Renderer) removeNumbered() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index = retention{}
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return 0, fmt.Errorf("listing graphs dir %q: %w", r.dir, err)
	}
	removed := 0
	for _, e := range entries {
		if _, ok := ParseFileName(e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		switch err := os.Remove(filepath.Join(r.dir, e.Name())); {
		case err == nil:
			removed++
		case !errors.Is(err, fs.ErrNotExist):
			return removed, fmt.Errorf("removing %s of an earlier epoch: %w", e.Name(), err)
		}
	}
	return removed, nil
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
	img, err := r.image(s)
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

	c := vgimg.New(width, height)
	p.Draw(vgdraw.New(c))
	// Deflate at its fastest: the default level spends half of a draw's
	// CPU to save a few kilobytes of a file that the next draw replaces.
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, c.Image()); err != nil {
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
