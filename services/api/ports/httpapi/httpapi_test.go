package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// fakePublisher stands in for Redis; the app layer in front of it is real.
type fakePublisher struct {
	mu  sync.Mutex
	err error
	got []events.Event
}

func (f *fakePublisher) Publish(_ context.Context, o events.Event) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	f.got = append(f.got, o)
	return "1700000000000-" + string(rune('0'+len(f.got))), nil
}

func (f *fakePublisher) published() []events.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.Event(nil), f.got...)
}

type fakePinger struct{ err error }

func (p fakePinger) Ping(context.Context) error { return p.err }

func newServer(t *testing.T, pub *fakePublisher, ping fakePinger) *fiber.App {
	t.Helper()
	return newServerWith(t, pub, ping, httpapi.Options{AppName: "api-test", Stream: "update_model"})
}

func newServerWith(t *testing.T, pub *fakePublisher, ping fakePinger, opts httpapi.Options) *fiber.App {
	t.Helper()
	rec, err := command.NewRecordObservationHandler(pub, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ready, err := query.NewReadinessHandler(ping, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	application := app.Application{
		Commands: app.Commands{RecordObservation: rec},
		Queries:  app.Queries{Readiness: ready},
	}
	return httpapi.New(application, opts, nil)
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, f *fiber.App, method, path string) response {
	t.Helper()
	resp, err := f.Test(httptest.NewRequest(method, path, nil), 5000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if method == http.MethodHead {
		return r
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantContentType(resp.StatusCode)) {
		t.Errorf("%s %s: Content-Type %q, want %s; body %q", method, path, ct, wantContentType(resp.StatusCode), raw)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
	}
	return r
}

func TestRecordObservation(t *testing.T) {
	for _, tc := range []struct{ method, path, trial string }{
		{http.MethodGet, "/update_model/w", "w"},
		{http.MethodPost, "/update_model/w", "w"},
		{http.MethodGet, "/update_model/l", "l"},
		{http.MethodPost, "/update_model/l", "l"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			pub := &fakePublisher{}
			r := do(t, newServer(t, pub, fakePinger{}), tc.method, tc.path)
			if r.status != http.StatusCreated {
				t.Fatalf("status %d, want 201; body %s", r.status, r.raw)
			}
			if id, _ := r.body["id"].(string); id == "" {
				t.Errorf("no id in %s", r.raw)
			}
			if r.body["trial"] != tc.trial || r.body["stream"] != "update_model" {
				t.Errorf("body %s, want trial %q and stream update_model", r.raw, tc.trial)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			got := pub.published()
			if len(got) != 1 || got[0].Trial != tc.trial || got[0].Source != events.SourceAPI || got[0].PublishedAt.IsZero() {
				t.Errorf("published %+v, want one %q event from the api", got, tc.trial)
			}
		})
	}
}

func TestErrorsAreProblems(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		pubErr     error
		wantStatus int
		wantInErr  string
	}{
		{name: "unknown trial", method: http.MethodGet, path: "/update_model/x", wantStatus: 404, wantInErr: "unknown trial"},
		{name: "unknown trial by POST", method: http.MethodPost, path: "/update_model/water", wantStatus: 404, wantInErr: "unknown trial"},
		{name: "upper-case trial", method: http.MethodGet, path: "/update_model/W", wantStatus: 404, wantInErr: "unknown trial"},
		{name: "unknown route", method: http.MethodGet, path: "/nope", wantStatus: 404, wantInErr: "Cannot GET /nope"},
		{name: "missing trial", method: http.MethodGet, path: "/update_model/", wantStatus: 404},
		{name: "wrong method", method: http.MethodDelete, path: "/update_model/w", wantStatus: 405},
		{name: "publisher down", method: http.MethodGet, path: "/update_model/w", pubErr: errors.New("dial tcp 10.0.0.1:6379: secret detail"), wantStatus: 503, wantInErr: "unavailable"},
		{name: "stored, not replicated", method: http.MethodPost, path: "/update_model/l",
			pubErr:     fmt.Errorf("XADD to 10.0.0.1:6379 secret detail: %w", &command.NotReplicatedError{Want: 2, Got: 1}),
			wantStatus: 503, wantInErr: "stored on the Redis master but not confirmed by 2 replicas within the timeout (1 confirmed): it may still be counted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{err: tt.pubErr}
			r := do(t, newServer(t, pub, fakePinger{}), tt.method, tt.path)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.wantStatus, r.raw)
			}
			msg := checkProblem(t, r)
			if !strings.Contains(msg, tt.wantInErr) {
				t.Errorf("error %q does not contain %q", msg, tt.wantInErr)
			}
			if strings.Contains(msg, "secret detail") {
				t.Errorf("error %q leaks the internal cause", msg)
			}
			if n := len(pub.published()); n != 0 {
				t.Errorf("%d events published on an error path", n)
			}
			if tt.wantStatus == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			if tt.wantStatus == 503 && r.header.Get("Retry-After") == "" {
				t.Error("503 without a Retry-After header")
			}
		})
	}
}

func TestHeadDoesNotRecord(t *testing.T) {
	pub := &fakePublisher{}
	r := do(t, newServer(t, pub, fakePinger{}), http.MethodHead, "/update_model/w")
	if r.status == http.StatusCreated || r.status < 400 {
		t.Errorf("HEAD /update_model/w status %d, want an error status", r.status)
	}
	if n := len(pub.published()); n != 0 {
		t.Fatalf("HEAD recorded %d observations", n)
	}
}

func TestHealth(t *testing.T) {
	t.Run("healthz ignores the store", func(t *testing.T) {
		r := do(t, newServer(t, &fakePublisher{}, fakePinger{err: errors.New("down")}), http.MethodGet, "/healthz")
		if r.status != 200 || r.body["status"] != "ok" {
			t.Fatalf("healthz = %d %s, want 200 {\"status\":\"ok\"}", r.status, r.raw)
		}
	})
	t.Run("readyz when the store answers", func(t *testing.T) {
		r := do(t, newServer(t, &fakePublisher{}, fakePinger{}), http.MethodGet, "/readyz")
		if r.status != 200 || r.body["status"] != "ready" {
			t.Fatalf("readyz = %d %s, want 200", r.status, r.raw)
		}
	})
	t.Run("readyz when the store is down", func(t *testing.T) {
		r := do(t, newServer(t, &fakePublisher{}, fakePinger{err: errors.New("connection refused")}), http.MethodGet, "/readyz")
		if r.status != 503 {
			t.Fatalf("readyz = %d %s, want 503", r.status, r.raw)
		}
		checkProblem(t, r)
	})
}

// While draining (SHUTDOWN_DRAIN) the api still answers, but every answer
// closes its connection and readiness fails, so load balancers and
// keep-alive clients move on before the listener closes.
func TestDraining(t *testing.T) {
	var draining atomic.Bool
	pub := &fakePublisher{}
	addr := serve(t, newServerWith(t, pub, fakePinger{}, httpapi.Options{AppName: "api-test", Stream: "update_model", Draining: &draining}))
	client := &http.Client{Transport: &http.Transport{}}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get("/update_model/w"); r.StatusCode != http.StatusCreated || r.Close {
		t.Fatalf("before draining: %d, close %v; want 201 on a kept-alive connection", r.StatusCode, r.Close)
	}
	if r := get("/readyz"); r.StatusCode != http.StatusOK {
		t.Fatalf("readyz before draining = %d", r.StatusCode)
	}
	draining.Store(true)
	if r := get("/update_model/w"); r.StatusCode != http.StatusCreated || !r.Close {
		t.Fatalf("draining: %d, close %v; want 201 with Connection: close", r.StatusCode, r.Close)
	}
	if n := len(pub.published()); n != 2 {
		t.Fatalf("%d observations published, want both", n)
	}
	if r := get("/readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz while draining = %d, want 503", r.StatusCode)
	}
}

// Fiber rejects methods it does not know before any handler runs; the answer
// is still a problem 400, and nothing is recorded.
func TestUnknownMethodIsAProblem(t *testing.T) {
	pub := &fakePublisher{}
	f := newServer(t, pub, fakePinger{})
	for _, m := range []string{"BREW", "get"} {
		r := do(t, f, m, "/update_model/w")
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", m, r.status, r.raw)
		}
		checkProblem(t, r)
	}
	if n := len(pub.published()); n != 0 {
		t.Fatalf("%d observations recorded by unknown methods", n)
	}
	if r := do(t, f, http.MethodGet, "/update_model/w"); r.status != http.StatusCreated {
		t.Fatalf("a known method after them: %d", r.status)
	}
}

// With models sharded, each answer names the stream of its model's shard.
func TestAnswersNameTheModelsStream(t *testing.T) {
	pub := &fakePublisher{}
	f := newServerWith(t, pub, fakePinger{}, httpapi.Options{
		Stream:   "ignored",
		StreamOf: func(model string) string { return "update_model:" + model },
	})
	r := do(t, f, http.MethodPost, "/update_model/w")
	if r.status != http.StatusCreated || r.body["stream"] != "update_model:default" {
		t.Fatalf("%d %s, want 201 naming the default model's stream", r.status, r.raw)
	}
	r = send(t, f, http.MethodPost, "/models/ab/observations", `{"trial":"l"}`)
	if r.status != http.StatusCreated || r.body["stream"] != "update_model:ab" {
		t.Fatalf("%d %s, want 201 naming model ab's stream", r.status, r.raw)
	}
}
