package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/logging"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// running is one api started by service.Run, as main starts it.
type running struct {
	base   string
	stop   context.CancelFunc
	done   chan error
	client *http.Client
}

// start runs the whole service against srv with env on top of REDIS_URL and
// a free PORT, and waits until /healthz answers.
func start(t *testing.T, srv *redistest.Server, env map[string]string) *running {
	t.Helper()
	vars := map[string]string{"REDIS_URL": srv.URL()}
	for k, v := range env {
		vars[k] = v
	}
	return startEnv(t, vars, t.Output())
}

// startEnv runs the whole service with env and a free PORT, logging to
// logs, and waits until /healthz answers.
func startEnv(t *testing.T, env map[string]string, logs io.Writer) *running {
	t.Helper()
	port := redistest.FreePort(t)
	vars := map[string]string{"PORT": strconv.Itoa(port)}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := service.LoadConfig(envconf.FromMap(vars))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{
		base:   "http://127.0.0.1:" + strconv.Itoa(port),
		stop:   cancel,
		done:   make(chan error, 1),
		client: &http.Client{Timeout: 10 * time.Second},
	}
	logger := logging.New(logs, service.Name, "debug")
	go func() { r.done <- service.Run(ctx, cfg, logger) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Error("service.Run did not return 15s after cancel")
		}
		r.client.CloseIdleConnections()
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := r.client.Get(r.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case err := <-r.done:
			t.Fatalf("service.Run returned during start-up: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("api did not answer /healthz within 10s: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval; the deadline bounds it
	}
}

// shutdown cancels Run and asserts it returns nil within 10s.
func (r *running) shutdown(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err // let the cleanup see that Run returned
		if err != nil {
			t.Fatalf("service.Run after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("service.Run did not return within 10s of shutdown")
	}
}

// call sends one request and decodes its JSON object body.
func (r *running) call(t *testing.T, method, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not JSON: %v", method, path, resp.StatusCode, raw, err)
	}
	// Every error is a problem (RFC 9457) that keeps the "error" member.
	if code := resp.StatusCode; code >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType ||
			body["status"] != float64(code) || body["detail"] == "" || body["detail"] != body["error"] {
			t.Errorf("%s %s: %d %s %s, want a problem with a detail", method, path, code, ct, raw)
		}
	}
	return resp.StatusCode, body
}

func TestServiceStoresEveryObservation(t *testing.T) {
	srv := redistest.Start(t)
	api := start(t, srv, map[string]string{"REDIS_STREAM": "update_model"})
	ctx := context.Background()

	if code, body := api.call(t, http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %v, want 200", code, body)
	}

	const n = 50
	ids := make([]string, n)
	trials := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		trials[i] = []string{"w", "l"}[i%3%2] // a mix, not an alternation
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := api.client.Get(api.base + "/update_model/" + trials[i])
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var body struct{ ID, Trial, Stream string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				errs <- err
				return
			}
			if resp.StatusCode != http.StatusCreated || body.Trial != trials[i] || body.Stream != "update_model" {
				errs <- fmt.Errorf("request %d: status %d body %+v", i, resp.StatusCode, body)
				return
			}
			ids[i] = body.ID
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	rdb := srv.Client()
	if got, err := rdb.XLen(ctx, "update_model").Result(); err != nil || got != n {
		t.Fatalf("XLEN = %d, %v; want %d", got, err, n)
	}
	entries, err := rdb.XRange(ctx, "update_model", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]events.Event{}
	for _, e := range entries {
		o, err := events.Decode(e.Values)
		if err != nil {
			t.Fatalf("entry %s: %v", e.ID, err)
		}
		if o.Source != events.SourceAPI || o.PublishedAt.IsZero() {
			t.Errorf("entry %s = %+v, want source api and a timestamp", e.ID, o)
		}
		stored[e.ID] = o
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Errorf("id %s returned twice", id)
		}
		seen[id] = true
		o, ok := stored[id]
		if !ok {
			t.Errorf("id %s returned to the client is not in the stream", id)
		} else if o.Trial != trials[i] {
			t.Errorf("entry %s has trial %q, the request sent %q", id, o.Trial, trials[i])
		}
	}

	// POST works the same way; a bad trial and a bad method store nothing.
	if code, body := api.call(t, http.MethodPost, "/update_model/l"); code != http.StatusCreated {
		t.Errorf("POST = %d %v", code, body)
	}
	if code, _ := api.call(t, http.MethodGet, "/update_model/x"); code != http.StatusNotFound {
		t.Errorf("/update_model/x = %d, want 404", code)
	}
	if code, _ := api.call(t, http.MethodDelete, "/update_model/w"); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE = %d, want 405", code)
	}
	if got, _ := rdb.XLen(ctx, "update_model").Result(); got != n+1 {
		t.Errorf("XLEN = %d after one more valid request, want %d", got, n+1)
	}

	api.shutdown(t)
}

func TestServiceSurvivesRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	api := start(t, srv, nil)
	if code, _ := api.call(t, http.MethodGet, "/update_model/w"); code != http.StatusCreated {
		t.Fatalf("before the outage: %d", code)
	}

	srv.Kill()
	code, body := api.call(t, http.MethodGet, "/update_model/w")
	if code != http.StatusServiceUnavailable || body["error"] == nil {
		t.Fatalf("with Redis down: %d %v, want 503 with a problem", code, body)
	}
	if code, _ := api.call(t, http.MethodGet, "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down = %d, want 503", code)
	}
	if code, _ := api.call(t, http.MethodGet, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz with Redis down = %d, want 200: the process is alive", code)
	}

	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body = api.call(t, http.MethodGet, "/update_model/w")
		if code == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d %v 15s after Redis came back", code, body)
		}
		time.Sleep(50 * time.Millisecond) // poll interval; the deadline bounds it
	}
	if code, _ := api.call(t, http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz after recovery = %d", code)
	}
	api.shutdown(t)
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	srv := redistest.Start(t)
	api := start(t, srv, map[string]string{"PUBLISH_TIMEOUT": "8s"})
	rdb := srv.Client()
	ctx := context.Background()

	// Hold every write in Redis so the next XADD is in flight when shutdown
	// starts; Redis releases it by itself when the pause ends. WRITE mode
	// keeps INFO answering, which the poll below needs.
	if err := rdb.Do(ctx, "CLIENT", "PAUSE", 1500, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := api.client.Get(api.base + "/update_model/w")
		if err != nil {
			got <- result{err: err}
			return
		}
		resp.Body.Close()
		got <- result{code: resp.StatusCode}
	}()

	// Wait until Redis holds the api's XADD: then the request is in flight.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := rdb.Info(ctx, "clients").Result()
		if err == nil && strings.Contains(info, "blocked_clients:1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api's XADD never reached Redis: %v\n%s", err, info)
		}
		time.Sleep(5 * time.Millisecond) // poll interval; the deadline bounds it
	}

	api.shutdown(t)
	r := <-got
	if r.err != nil || r.code != http.StatusCreated {
		t.Fatalf("in-flight request during shutdown: status %d, err %v; want 201", r.code, r.err)
	}
	if n, _ := rdb.XLen(ctx, "update_model").Result(); n != 1 {
		t.Fatalf("XLEN = %d, want the drained request's entry", n)
	}
	if _, err := api.client.Get(api.base + "/healthz"); err == nil {
		t.Fatal("the api still accepts connections after shutdown")
	}
}

func TestRunReportsBusyPort(t *testing.T) {
	srv := redistest.Start(t)
	api := start(t, srv, nil)
	port := strings.TrimPrefix(api.base, "http://127.0.0.1:")
	cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{"REDIS_URL": srv.URL(), "PORT": port}))
	if err != nil {
		t.Fatal(err)
	}
	err = service.Run(context.Background(), cfg, logging.New(t.Output(), service.Name, "info"))
	if err == nil || !strings.Contains(err.Error(), "PORT") {
		t.Fatalf("Run on a busy port = %v, want an error naming PORT", err)
	}
}

// PPROF_ADDR serves the runtime's profiles on a loopback listener of their
// own, never on the public port, and the listener stops with the service.
func TestProfilesOnTheirOwnLoopbackPort(t *testing.T) {
	srv := redistest.Start(t)
	pprofAddr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	api := start(t, srv, map[string]string{"PPROF_ADDR": pprofAddr})
	get := func(url string) (int, string, error) {
		resp, err := api.client.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, body, err := get("http://" + pprofAddr + "/debug/pprof/"); err != nil || code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("GET /debug/pprof/ on PPROF_ADDR: %d %.80q %v; want the index", code, body, err)
	}
	if code, _, err := get(api.base + "/debug/pprof/"); err != nil || code != http.StatusNotFound {
		t.Fatalf("GET /debug/pprof/ on the public port: %d, %v; want 404", code, err)
	}
	api.shutdown(t)
	api.client.CloseIdleConnections()
	if _, _, err := get("http://" + pprofAddr + "/debug/pprof/"); err == nil {
		t.Fatal("the profiling listener still answers after shutdown")
	}
}
