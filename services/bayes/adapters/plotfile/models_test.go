package plotfile_test

import (
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"

	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/plotfile"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Each model draws into its own folder (the default model into the graphs
// folder itself), with its own spec, through the metrics' wrapper; a state
// notified before Run is drawn once Run starts. (Shutdown's final draws are
// in pool_test.go, with images cheap enough to keep a loaded machine within
// FinalDrawTimeout.)
func TestModelsDrawEachModelIntoItsFolder(t *testing.T) {
	dir := t.TempDir()
	var renders atomic.Int64
	count := func(r plotfile.RenderFunc) plotfile.RenderFunc {
		return func(ctx context.Context, c model.Counts) error { renders.Add(1); return r(ctx, c) }
	}
	m, err := plotfile.NewModels(dir, 10, events.ModelSpec{Prior: "uniform", GridPoints: 30}, discard, count)
	if err != nil {
		t.Fatal(err)
	}
	m.Notify(command.ModelState{Name: "default", Counts: model.Counts{W: 1, N: 2}, Spec: events.ModelSpec{}}) // before Run: waits for it
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	m.Notify(command.ModelState{Name: "ab", Counts: model.Counts{W: 3, N: 4}, Spec: events.ModelSpec{Prior: "beta:2,2", GridPoints: 50}})
	m.Notify(command.ModelState{Name: "../escape", Counts: model.Counts{W: 1, N: 1}, Spec: events.ModelSpec{}}) // never a path
	waitFor(t, "both models drawn", func() bool {
		_, e1 := os.Stat(filepath.Join(dir, "n_2_w_1.png"))
		_, e2 := os.Stat(filepath.Join(dir, "ab", "n_4_w_3.png"))
		return e1 == nil && e2 == nil
	})
	m.Notify(command.ModelState{Name: "ab", Counts: model.Counts{W: 4, N: 5}, Spec: events.ModelSpec{Prior: "beta:2,2", GridPoints: 50}})
	waitFor(t, "ab's newer state drawn", func() bool {
		_, err := os.Stat(filepath.Join(dir, "ab", "n_5_w_4.png"))
		return err == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(dir, "ab", "n_5_w_4.png"), filepath.Join(dir, "ab", plotfile.LatestName), filepath.Join(dir, plotfile.LatestName)} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Fatal("a model name escaped the graphs folder")
	}
	if renders.Load() < 3 {
		t.Fatalf("%d renders, want at least 3 (the wrapper must see every draw)", renders.Load())
	}
	if m.DirFor("default") != dir || m.DirFor("ab") != filepath.Join(dir, "ab") {
		t.Fatalf("DirFor: %q %q", m.DirFor("default"), m.DirFor("ab"))
	}
}

func TestModelsRejectsAnUnusableFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := plotfile.NewModels(file, 10, events.ModelSpec{Prior: "uniform", GridPoints: 30}, discard, nil); err == nil {
		t.Fatal("a file as the graphs folder accepted")
	}
}
