package plotfile_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/plotfile"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

var discard = slog.New(slog.DiscardHandler)

func newRenderer(t testing.TB, dir string, keep int) *plotfile.Renderer {
	t.Helper()
	r, err := plotfile.New(dir, keep, discard)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func snapshot(t testing.TB, c model.Counts) plotfile.Snapshot {
	t.Helper()
	snap, err := plotfile.SnapshotFunc(120, model.DefaultPrior())
	if err != nil {
		t.Fatal(err)
	}
	s, err := snap(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func render(t testing.TB, r *plotfile.Renderer, c model.Counts) {
	t.Helper()
	if err := r.Render(context.Background(), snapshot(t, c)); err != nil {
		t.Fatal(err)
	}
}

// decodePNG fails the test unless path holds a whole, non-empty PNG.
func decodePNG(t testing.TB, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	if sz := img.Bounds().Size(); sz.X == 0 || sz.Y == 0 {
		t.Fatalf("%s: empty image %v", filepath.Base(path), sz)
	}
	return img
}

func names(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func touch(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRenderWritesNumberedAndLatest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "graphs") // New must create it
	r := newRenderer(t, dir, 500)
	render(t, r, model.Counts{W: 7, N: 10})

	if got, want := names(t, dir), []string{"latest.png", "n_10_w_7.png"}; !slices.Equal(got, want) {
		t.Fatalf("dir holds %v, want %v", got, want)
	}
	num := decodePNG(t, filepath.Join(dir, "n_10_w_7.png"))
	latest := decodePNG(t, filepath.Join(dir, "latest.png"))
	if num.Bounds() != latest.Bounds() {
		t.Fatalf("sizes differ: %v and %v", num.Bounds(), latest.Bounds())
	}
	// A blank canvas would decode too; the plot must have drawn something.
	if uniform(num) {
		t.Fatal("image is one flat colour")
	}
	if s := r.Stats(); s.Renders != 1 || s.Failures != 0 || s.LastDuration <= 0 {
		t.Fatalf("stats %+v", s)
	}
}

func uniform(img image.Image) bool {
	b := img.Bounds()
	first := color.RGBAModel.Convert(img.At(b.Min.X, b.Min.Y))
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			if color.RGBAModel.Convert(img.At(x, y)) != first {
				return false
			}
		}
	}
	return true
}

func TestTitle(t *testing.T) {
	if got, want := plotfile.Title(model.Counts{W: 7, N: 10}, 120), "w: 7, n: 10, grid approx (120 points)"; got != want {
		t.Fatalf("Title = %q, want %q", got, want)
	}
}

func TestFileName(t *testing.T) {
	c := model.Counts{W: 7, N: 10}
	if got := plotfile.FileName(c); got != "n_10_w_7.png" {
		t.Fatalf("FileName = %q", got)
	}
	if got, ok := plotfile.ParseFileName("n_10_w_7.png"); !ok || got != c {
		t.Fatalf("ParseFileName(n_10_w_7.png) = %+v, %v", got, ok)
	}
	for _, bad := range []string{"latest.png", "notes.txt", "n_10_w_7.png.tmp", "n_07_w_1.png", "n_1_w_2.png", "n_-1_w_0.png", "n_a_w_1.png", "n_1_w_1.PNG", "n_1_w_.png", "xn_1_w_1.png"} {
		if c, ok := plotfile.ParseFileName(bad); ok {
			t.Errorf("ParseFileName(%q) = %+v, accepted", bad, c)
		}
	}
}

func TestLatestIsTheNewestState(t *testing.T) {
	dir := t.TempDir()
	r := newRenderer(t, dir, 0)
	render(t, r, model.Counts{W: 1, N: 1})
	render(t, r, model.Counts{W: 1, N: 2})
	latest, _ := os.ReadFile(filepath.Join(dir, "latest.png"))
	n2, _ := os.ReadFile(filepath.Join(dir, "n_2_w_1.png"))
	n1, _ := os.ReadFile(filepath.Join(dir, "n_1_w_1.png"))
	if !bytes.Equal(latest, n2) || bytes.Equal(latest, n1) {
		t.Fatal("latest.png is not the image of the newest state")
	}
}

// Another replica drew the same state first: its file stays, and latest.png
// still moves to this state.
func TestExistingNumberedFileIsKeptAndLatestRefreshed(t *testing.T) {
	dir := t.TempDir()
	var other bytes.Buffer
	if err := png.Encode(&other, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	touch(t, dir, "n_10_w_7.png", other.Bytes())
	touch(t, dir, "latest.png", other.Bytes())
	r := newRenderer(t, dir, 500)
	render(t, r, model.Counts{W: 7, N: 10})

	if got, _ := os.ReadFile(filepath.Join(dir, "n_10_w_7.png")); !bytes.Equal(got, other.Bytes()) {
		t.Fatal("the existing numbered file was replaced")
	}
	if img := decodePNG(t, filepath.Join(dir, "latest.png")); img.Bounds().Dx() <= 1 {
		t.Fatal("latest.png was not refreshed")
	}
}

func TestRetentionKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "notes.txt", []byte("not a graph"))
	r := newRenderer(t, dir, 3)
	for n := int64(1); n <= 6; n++ {
		render(t, r, model.Counts{W: n / 2, N: n})
	}
	want := []string{"latest.png", "n_4_w_2.png", "n_5_w_2.png", "n_6_w_3.png", "notes.txt"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Fatalf("dir holds %v, want %v", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "not a graph" {
		t.Fatal("notes.txt changed")
	}
	decodePNG(t, filepath.Join(dir, "latest.png"))
}

func TestRetentionCountsFilesFromAPreviousRun(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"n_1_w_0.png", "n_2_w_1.png", "n_3_w_1.png", "n_4_w_2.png", "notes.txt", "n_07_w_1.png", "latest.png"} {
		touch(t, dir, name, []byte("old"))
	}
	r := newRenderer(t, dir, 3)
	// Start-up trims to keep, oldest first, and leaves foreign files alone.
	want := []string{"latest.png", "n_07_w_1.png", "n_2_w_1.png", "n_3_w_1.png", "n_4_w_2.png", "notes.txt"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after start-up: %v, want %v", got, want)
	}
	render(t, r, model.Counts{W: 3, N: 5})
	render(t, r, model.Counts{W: 3, N: 6})
	want = []string{"latest.png", "n_07_w_1.png", "n_4_w_2.png", "n_5_w_3.png", "n_6_w_3.png", "notes.txt"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after two renders: %v, want %v", got, want)
	}
}

// After a reset of the state the new file is the oldest by N; it must not be
// the one removed.
func TestRetentionNeverRemovesTheFileJustWritten(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"n_50_w_20.png", "n_51_w_20.png"} {
		touch(t, dir, name, []byte("old"))
	}
	r := newRenderer(t, dir, 2)
	render(t, r, model.Counts{W: 1, N: 1})
	want := []string{"latest.png", "n_1_w_1.png", "n_51_w_20.png"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Fatalf("dir holds %v, want %v", got, want)
	}
}

func TestKeepZeroKeepsAll(t *testing.T) {
	dir := t.TempDir()
	r := newRenderer(t, dir, 0)
	for n := int64(1); n <= 4; n++ {
		render(t, r, model.Counts{W: 0, N: n})
	}
	if got := len(names(t, dir)); got != 5 {
		t.Fatalf("%d files, want 4 numbered and latest.png: %v", got, names(t, dir))
	}
}

// Readers poll latest.png while it is replaced; with write-then-rename each
// read sees a whole file, old or new, and no temp file is left behind.
func TestLatestIsAlwaysWholeWhileRendering(t *testing.T) {
	dir := t.TempDir()
	r := newRenderer(t, dir, 5)
	render(t, r, model.Counts{W: 0, N: 0})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads int
	var readErr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(filepath.Join(dir, "latest.png"))
			if err == nil {
				_, err = png.Decode(bytes.NewReader(b))
			}
			if err != nil {
				readErr = err
				return
			}
			reads++
		}
	})
	for n := int64(1); n <= 20; n++ {
		render(t, r, model.Counts{W: n / 3, N: n})
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("reader saw a broken latest.png: %v", readErr)
	}
	if reads == 0 {
		t.Fatal("the reader never read")
	}
	for _, name := range names(t, dir) {
		if _, ok := plotfile.ParseFileName(name); !ok && name != "latest.png" {
			t.Errorf("left behind: %s", name)
		}
	}
	t.Logf("%d whole reads during 20 renders", reads)
}

func TestNewFailsClearly(t *testing.T) {
	parent := t.TempDir()
	touch(t, parent, "file", nil)
	if _, err := plotfile.New(filepath.Join(parent, "file", "graphs"), 10, discard); err == nil || !strings.Contains(err.Error(), "graphs dir") {
		t.Errorf("dir under a file: err = %v", err)
	}
	if _, err := plotfile.New(t.TempDir(), -1, discard); err == nil {
		t.Error("negative keep accepted")
	}
	if _, err := plotfile.New(t.TempDir(), 1, nil); err == nil {
		t.Error("nil logger accepted")
	}
	if _, err := plotfile.New("", 1, discard); err == nil {
		t.Error("empty dir accepted")
	}
}

func TestNewFailsOnReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write into a read-only dir")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
	if _, err := plotfile.New(dir, 10, discard); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("err = %v", err)
	}
}

func TestRenderWithCancelledContextWritesNothing(t *testing.T) {
	dir := t.TempDir()
	r := newRenderer(t, dir, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Render(ctx, snapshot(t, model.Counts{W: 1, N: 2})); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("dir holds %v", got)
	}
	if s := r.Stats(); s.Failures != 1 || s.Renders != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRenderRejectsBadSnapshots(t *testing.T) {
	r := newRenderer(t, t.TempDir(), 10)
	good := snapshot(t, model.Counts{W: 1, N: 2})
	for name, s := range map[string]plotfile.Snapshot{
		"impossible counts": {Counts: model.Counts{W: 3, N: 2}, GridPoints: good.GridPoints, Grid: good.Grid, Prior: good.Prior, Posterior: good.Posterior},
		"short posterior":   {Counts: good.Counts, GridPoints: good.GridPoints, Grid: good.Grid, Prior: good.Prior, Posterior: good.Posterior[1:]},
		"wrong GridPoints":  {Counts: good.Counts, GridPoints: 7, Grid: good.Grid, Prior: good.Prior, Posterior: good.Posterior},
		"empty":             {},
	} {
		if err := r.Render(context.Background(), s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSnapshotFunc(t *testing.T) {
	snap, err := plotfile.SnapshotFunc(120, model.UniformPrior())
	if err != nil {
		t.Fatal(err)
	}
	s, err := snap(model.Counts{W: 7, N: 10})
	if err != nil {
		t.Fatal(err)
	}
	if s.GridPoints != 120 || len(s.Grid) != 120 || len(s.Prior) != 120 || len(s.Posterior) != 120 {
		t.Fatalf("lengths: %d %d %d %d", s.GridPoints, len(s.Grid), len(s.Prior), len(s.Posterior))
	}
	var sum, mean float64
	for i, p := range s.Posterior {
		sum += p
		mean += p * s.Grid[i]
	}
	// Beta(8, 4) has mean 2/3.
	if math.Abs(sum-1) > 1e-12 || math.Abs(mean-2.0/3) > 1e-3 {
		t.Fatalf("posterior sum %v mean %v", sum, mean)
	}
	s.Grid[0] = 42 // a caller's change must not leak into the next snapshot
	if s2, _ := snap(model.Counts{W: 0, N: 0}); s2.Grid[0] != 0 || s2.Posterior[0] != s2.Prior[0] {
		t.Fatalf("second snapshot: grid[0]=%v", s2.Grid[0])
	}
	if _, err := snap(model.Counts{W: 2, N: 1}); err == nil {
		t.Error("impossible counts accepted")
	}
	if _, err := plotfile.SnapshotFunc(1, model.UniformPrior()); err == nil {
		t.Error("one grid point accepted")
	}
}

func BenchmarkRender(b *testing.B) {
	dir := b.TempDir()
	r := newRenderer(b, dir, 10)
	snap, err := plotfile.SnapshotFunc(120, model.DefaultPrior())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var n int64
	for b.Loop() {
		n++
		s, err := snap(model.Counts{W: n * 2 / 3, N: n})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Render(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
