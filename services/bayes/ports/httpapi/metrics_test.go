package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

type observation struct {
	route, method string
	code          int
	took          time.Duration
}

// recorder is the port's RequestMetrics, keeping every observation.
type recorder struct {
	mu  sync.Mutex
	got []observation
}

func (r *recorder) Observe(route, method string, code int, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, observation{route, method, code, took})
}

func (r *recorder) all() []observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]observation(nil), r.got...)
}

func measuredServer(t *testing.T, store *liveStore, rec *recorder) *httptest.Server {
	t.Helper()
	models, err := query.NewModels(events.ModelSpec{Prior: "uniform", GridPoints: 20}, store)
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := query.NewReadinessHandler(store)
	h := httpapi.NewHandler(app.Application{Queries: app.Queries{Models: models, Readiness: ready}},
		httpapi.Options{Requests: rec, LivePoll: 5 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// waitFor returns the observations once there are n or more, polling
// until a deadline.
func waitFor(t *testing.T, rec *recorder, n int) []observation {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got := rec.all(); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d observations 5s later, want %d", len(rec.all()), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Every request is counted once, in the series of the pattern the mux
// matched (its path), its method and status; requests no route takes share
// one series whatever their path, and made-up methods share one label.
func TestRequestsAreCountedByRoute(t *testing.T) {
	rec := &recorder{}
	srv := measuredServer(t, &liveStore{counts: model.Counts{W: 1, N: 2}}, rec)
	requests := []struct {
		method, path string
		want         observation
	}{
		{"GET", "/model", observation{route: "/model", method: "GET", code: 200}},
		{"GET", "/models/globe", observation{route: "/models/{name}", method: "GET", code: 200}},
		{"HEAD", "/models/globe", observation{route: "/models/{name}", method: "HEAD", code: 200}},
		{"GET", "/models/zz", observation{route: "/models/{name}", method: "GET", code: 404}},
		{"GET", "/models/a.b/predictive?trials=3", observation{route: "/models/{name}/predictive", method: "GET", code: 400}},
		{"GET", "/", observation{route: "/{$}", method: "GET", code: 200}},
		{"GET", "/static/app.js", observation{route: "/static/", method: "GET", code: 200}},
		{"GET", "/static/nope.js", observation{route: "/static/", method: "GET", code: 404}},
		{"GET", "/nope/" + "x", observation{route: httpapi.UnmatchedRoute, method: "GET", code: 404}},
		{"POST", "/model", observation{route: httpapi.UnmatchedRoute, method: "POST", code: 404}},
		{"BREW", "/model", observation{route: httpapi.UnmatchedRoute, method: "other", code: 404}},
	}
	for i, r := range requests {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The client may have the whole body before the handler returns.
		got := waitFor(t, rec, i+1)
		if len(got) != i+1 {
			t.Fatalf("%s %s: %d observations after %d requests", r.method, r.path, len(got), i+1)
		}
		o := got[i]
		if o.took <= 0 {
			t.Errorf("%s %s: took %v", r.method, r.path, o.took)
		}
		o.took = 0
		if o != r.want {
			t.Errorf("%s %s: counted as %+v, want %+v", r.method, r.path, o, r.want)
		}
	}
}

// An event feed is counted when it ends, and its duration is the time until
// it opened, not how long the page stayed.
func TestFeedIsCountedWhenItEnds(t *testing.T) {
	rec := &recorder{}
	store := &liveStore{counts: model.Counts{W: 1, N: 2}}
	srv := measuredServer(t, store, rec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	asked := time.Now()
	resp, feed := openFeed(t, ctx, srv.URL+"/models/globe/events")
	opened := time.Since(asked) // the server's time to open is within it
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	nextModel(t, feed)
	// Keep the feed open well past its opening, one change at a time.
	const stayed = 100 * time.Millisecond
	for w := int64(2); time.Since(asked) < opened+stayed; w++ {
		store.set(w, w+1)
		nextModel(t, feed)
	}
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("an open feed is counted: %+v", got)
	}
	cancel()
	o := waitFor(t, rec, 1)[0]
	if o.route != "/models/{name}/events" || o.method != "GET" || o.code != 200 {
		t.Errorf("feed counted as %+v", o)
	}
	if o.took <= 0 || o.took > opened {
		t.Errorf("feed took %v, want the time until it opened (at most %v), not the %v it stayed", o.took, opened, time.Since(asked))
	}
}
