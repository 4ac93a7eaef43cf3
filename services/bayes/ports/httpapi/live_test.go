package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// liveStore is a ModelStore whose one model "globe" (and the default
// model) the test changes while a page follows it.
type liveStore struct {
	mu     sync.Mutex
	counts model.Counts
	err    error
}

func (s *liveStore) set(w, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = model.Counts{W: w, N: n}
}

func (s *liveStore) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *liveStore) Models(_ context.Context, names ...string) ([]query.StoredModel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	out := make([]query.StoredModel, 0, len(names))
	for _, n := range names {
		sm := query.StoredModel{Name: n}
		if n == "globe" || n == events.DefaultModel {
			sm.Counts, sm.Exists = s.counts, true
			sm.Spec = events.ModelSpec{Prior: "beta:2,2", GridPoints: 50}
		}
		out = append(out, sm)
	}
	return out, nil
}

func (s *liveStore) ModelPage(_ context.Context, after, prefix string, limit int) ([]string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, more := pageOf([]string{"globe"}, after, prefix, limit)
	return names, more, s.err
}

func (s *liveStore) ModelCount(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return 1, s.err
}

func (s *liveStore) Ping(context.Context) error { return nil }

// liveServer serves bayes' routes over store; finished receives the path of
// every request whose handler has returned.
func liveServer(t *testing.T, store *liveStore, apiURL string) (*httptest.Server, <-chan string) {
	t.Helper()
	srv, finished, _ := liveServerWithDone(t, store, apiURL)
	return srv, finished
}

// liveServerWithDone is liveServer whose feeds end when the returned
// channel is closed, wired to the server's shutdown as the service does.
func liveServerWithDone(t *testing.T, store *liveStore, apiURL string) (*httptest.Server, <-chan string, chan struct{}) {
	t.Helper()
	models, err := query.NewModels(events.ModelSpec{Prior: "uniform", GridPoints: 20}, store)
	if err != nil {
		t.Fatal(err)
	}
	ready, err := query.NewReadinessHandler(store)
	if err != nil {
		t.Fatal(err)
	}
	a := app.Application{Queries: app.Queries{Models: models, Readiness: ready}}
	done := make(chan struct{})
	h := httpapi.NewHandler(a, httpapi.Options{APIURL: apiURL, LivePoll: 5 * time.Millisecond, Done: done},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	finished := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		select {
		case finished <- r.URL.Path:
		default:
		}
	}))
	srv.Config.RegisterOnShutdown(func() { close(done) })
	t.Cleanup(srv.Close)
	return srv, finished, done
}

func fetch(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestLivePageHasCSPAndTheAPIURL(t *testing.T) {
	srv, _ := liveServer(t, &liveStore{}, "http://127.0.0.1:18000")
	resp, body := fetch(t, srv.URL+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "img-src 'self' data:", "connect-src 'self' http://127.0.0.1:18000"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q allows unsafe sources", csp)
	}
	if !strings.Contains(body, `<meta name="edb-api-url" content="http://127.0.0.1:18000">`) {
		t.Errorf("the page does not carry the api URL:\n%s", body)
	}
	for _, want := range []string{`src="/static/app.js"`, `href="/static/style.css"`, `id="btn-w"`, `id="btn-l"`, `id="n"`, `id="plot"`, `id="model-select"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	for _, external := range []string{`src="http`, `href="http`, `src="//`, `href="//`} {
		if strings.Contains(body, external) {
			t.Errorf("the page loads something from elsewhere: %s", external)
		}
	}
}

func TestLivePageEscapesAHostileAPIURL(t *testing.T) {
	hostile := `http://x"><script>alert(1)</script>; script-src *`
	srv, _ := liveServer(t, &liveStore{}, hostile)
	resp, body := fetch(t, srv.URL+"/")
	if strings.Contains(body, "<script>alert") || strings.Contains(body, `x">`) {
		t.Fatalf("the api URL broke out of its attribute:\n%s", body)
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the api URL is not in the page, escaped:\n%s", body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if strings.Contains(csp, "script-src *") || strings.Contains(csp, "alert") || !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("the api URL leaked into the CSP: %q", csp)
	}
}

func TestLiveStaticAssets(t *testing.T) {
	srv, _ := liveServer(t, &liveStore{}, "")
	for path, want := range map[string]string{"/static/app.js": "javascript", "/static/style.css": "text/css"} {
		resp, body := fetch(t, srv.URL+path)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.Contains(ct, want) || len(body) < 100 {
			t.Errorf("GET %s: %s %q, %d bytes", path, resp.Status, ct, len(body))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
	for _, path := range []string{"/static/", "/static/nope.js", "/static/index.html"} {
		resp, body := fetch(t, srv.URL+path)
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %s %.80q, want 404", path, resp.Status, body)
			continue
		}
		checkProblem(t, "GET "+path, resp, body)
	}
}

// sseEvent is one Server-Sent Event as a browser would dispatch it.
type sseEvent struct{ name, data string }

// openFeed connects to url and returns its events in order; the feed is
// read until ctx is cancelled or the server ends it (then the channel is
// closed).
func openFeed(t *testing.T, ctx context.Context, url string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return resp, out
}

func next(t *testing.T, feed <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-feed:
		if !ok {
			t.Fatal("the feed ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sseEvent{}
}

func nextModel(t *testing.T, feed <-chan sseEvent) httpapi.ModelResponse {
	t.Helper()
	return nextAs[httpapi.ModelResponse](t, feed, "model")
}

// nextAs reads the feed's next event, which must be named name, into a T.
func nextAs[T any](t *testing.T, feed <-chan sseEvent, name string) T {
	t.Helper()
	var v T
	ev := next(t, feed)
	if ev.name != name {
		t.Fatalf("event %q %s, want %s", ev.name, ev.data, name)
	}
	if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
		t.Fatalf("%s event %q: %v", name, ev.data, err)
	}
	return v
}

func TestLiveEventsFollowTheModel(t *testing.T) {
	store := &liveStore{counts: model.Counts{W: 7, N: 10}}
	srv, finished := liveServer(t, store, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, feed := openFeed(t, ctx, srv.URL+"/models/globe/events")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s %q %q", resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}

	v := nextModel(t, feed)
	if v.Name != "globe" || v.W != 7 || v.N != 10 || len(v.Posterior) != 50 || v.PriorSpec != "beta:2,2" {
		t.Fatalf("first event: %+v", v)
	}
	// Unchanged counts send nothing: the next event is the change.
	store.set(8, 11)
	if v := nextModel(t, feed); v.W != 8 || v.N != 11 {
		t.Fatalf("after the change: w=%d n=%d, want 8 11", v.W, v.N)
	}

	// Redis failing is an error event without internals; the feed goes on
	// and sends the model again when Redis is back.
	store.fail(errors.New("dial tcp 10.0.0.7:6379: connect: connection refused"))
	ev := next(t, feed)
	if ev.name != "error" || ev.data != `{"error":"model state is unavailable"}` {
		t.Fatalf("event %q %s, want the public error", ev.name, ev.data)
	}
	// One error event for the outage, not one per tick: the next event is
	// the model again, once Redis is back.
	store.fail(nil)
	if v := nextModel(t, feed); v.N != 11 {
		t.Fatalf("after Redis came back: n=%d, want 11", v.N)
	}

	// The page goes away: the handler returns.
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case path := <-finished:
			if path == "/models/globe/events" {
				return
			}
		case <-deadline:
			t.Fatal("the feed's handler still runs 5s after its client left")
		}
	}
}

func TestLiveEventsStartWhileRedisIsDown(t *testing.T) {
	store := &liveStore{counts: model.Counts{W: 1, N: 2}, err: errors.New("connection refused")}
	srv, _ := liveServer(t, store, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, feed := openFeed(t, ctx, srv.URL+"/models/default/events")
	if resp.StatusCode != 200 {
		t.Fatalf("%s: a page must get a feed that recovers, not a refusal it will not retry", resp.Status)
	}
	if ev := next(t, feed); ev.name != "error" {
		t.Fatalf("first event %q %s, want error", ev.name, ev.data)
	}
	store.fail(nil)
	for {
		ev := next(t, feed)
		if ev.name == "model" {
			break
		}
	}
}

func TestLiveEventsRefuseUnknownAndBadNames(t *testing.T) {
	srv, _ := liveServer(t, &liveStore{}, "")
	for path, status := range map[string]int{"/models/nope/events": 404, "/models/no.pe/events": 400} {
		resp, body := fetch(t, srv.URL+path)
		if resp.StatusCode != status {
			t.Errorf("GET %s: %s %s, want %d", path, resp.Status, body, status)
			continue
		}
		checkProblem(t, "GET "+path, resp, body)
	}
}

func TestLiveEventsEndWhenTheServerShutsDown(t *testing.T) {
	store := &liveStore{}
	srv, _ := liveServer(t, store, "")
	client, leave := context.WithCancel(context.Background())
	defer leave() // so that a failing test does not hang in srv.Close
	_, feed := openFeed(t, client, srv.URL+"/models/globe/events")
	nextModel(t, feed)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown waited for the open feed: %v", err)
	}
	for range feed {
	}
}
