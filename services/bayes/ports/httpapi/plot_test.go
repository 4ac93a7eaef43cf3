package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/plotfile"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

func plotServer(t *testing.T, plots httpapi.PlotWriter) *httptest.Server {
	t.Helper()
	r := fakeRedis{}
	models, err := query.NewModels(events.ModelSpec{Prior: "uniform", GridPoints: 120}, r)
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := query.NewReadinessHandler(r)
	a := app.Application{Queries: app.Queries{Models: models, Readiness: ready}}
	srv := httptest.NewServer(httpapi.NewHandler(a, httpapi.Options{Plots: plots}, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return srv
}

func getPNG(t *testing.T, url string) []byte {
	t.Helper()
	resp, body := fetch(t, url)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("%s: %s %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	b := []byte(body)
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("%s: not a PNG: %v", url, err)
	}
	return b
}

// plot.png is the model's latest.png when the plotter drew the state Redis
// holds, and a drawing on request otherwise.
func TestPlotServedFromLatestDrawnImage(t *testing.T) {
	dir := t.TempDir()
	plotter, err := plotfile.NewModels(dir, 10, events.ModelSpec{Prior: "uniform", GridPoints: 120}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plotter.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	srv := plotServer(t, plotter)

	// fakeRedis holds "ab" at 3/4 with beta:2,2 on 51 points.
	plotter.Notify(command.ModelState{Name: "ab", Counts: model.Counts{W: 3, N: 4}, Spec: events.ModelSpec{Prior: "beta:2,2", GridPoints: 51}})
	latest := filepath.Join(dir, "ab", plotfile.LatestName)
	deadline := time.Now().Add(30 * time.Second)
	for plotter.Stats().Draws != 1 {
		if time.Now().After(deadline) {
			t.Fatal("ab never drawn")
		}
		time.Sleep(5 * time.Millisecond) // a poll interval, not a synchronisation
	}
	drawn, err := os.ReadFile(latest)
	if err != nil {
		t.Fatal(err)
	}
	if got := getPNG(t, srv.URL+"/models/ab/plot.png"); !bytes.Equal(got, drawn) {
		t.Fatal("plot.png of the drawn state is not latest.png")
	}
	// Proof that it is the file: replace it, and that is what is served.
	var tiny bytes.Buffer
	if err := png.Encode(&tiny, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(latest, tiny.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := getPNG(t, srv.URL+"/models/ab/plot.png"); !bytes.Equal(got, tiny.Bytes()) {
		t.Fatal("plot.png was drawn again, not read from latest.png")
	}
	// The default model (7/10 in Redis) was never drawn here: drawn on
	// request, a full-size image.
	img, err := png.Decode(bytes.NewReader(getPNG(t, srv.URL+"/models/default/plot.png")))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("default's plot: %v", err)
	}
}

type failingPlots struct{}

func (failingPlots) WritePNG(context.Context, io.Writer, query.ModelView) error {
	return errors.New("out of memory")
}

// A failed drawing is a problem, not a 200 with an empty body.
func TestPlotFailureIsAProblem(t *testing.T) {
	srv := plotServer(t, failingPlots{})
	var body map[string]any
	if code := get(t, srv.URL+"/models/ab/plot.png", &body); code != 500 || body["error"] == "" {
		t.Fatalf("failed plot: %d %v", code, body)
	}
}
