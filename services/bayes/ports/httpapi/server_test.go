package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
)

type fakeRedis struct{ err error }

func (f fakeRedis) State(context.Context) (model.Counts, error) {
	return model.Counts{W: 7, N: 10}, f.err
}
func (f fakeRedis) Ping(context.Context) error { return f.err }

func server(t *testing.T, redisErr error) *httptest.Server {
	t.Helper()
	r := fakeRedis{err: redisErr}
	cur, err := query.NewCurrentModelHandler("default", 120, model.UniformPrior(), r)
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := query.NewReadinessHandler(r)
	a := app.Application{Queries: app.Queries{CurrentModel: cur, Readiness: ready}}
	srv := httptest.NewServer(httpapi.NewHandler(a, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: content type %q", url, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("%s: body is not JSON: %v", url, err)
	}
	return resp.StatusCode
}

func TestModelAndHealth(t *testing.T) {
	srv := server(t, nil)
	var v query.ModelView
	if code := get(t, srv.URL+"/model", &v); code != 200 || v.W != 7 || v.N != 10 || len(v.Posterior) != 120 {
		t.Fatalf("GET /model: %d %+v", code, v)
	}
	var body map[string]string
	if code := get(t, srv.URL+"/healthz", &body); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code := get(t, srv.URL+"/readyz", &body); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	if code := get(t, srv.URL+"/nope", &body); code != 404 || body["error"] == "" {
		t.Fatalf("unknown route: %d %v", code, body)
	}
}

func TestRedisDownIs503WithoutInternals(t *testing.T) {
	srv := server(t, errors.New("dial tcp 10.0.0.7:6379: connect: connection refused"))
	var body map[string]string
	if code := get(t, srv.URL+"/model", &body); code != 503 || body["error"] != "model state is unavailable" {
		t.Fatalf("GET /model: %d %v", code, body)
	}
	if code := get(t, srv.URL+"/readyz", &body); code != 503 || body["error"] != "redis is unreachable" {
		t.Fatalf("GET /readyz: %d %v", code, body)
	}
	if code := get(t, srv.URL+"/healthz", &body); code != 200 {
		t.Fatalf("healthz must not depend on Redis: %d", code)
	}
}
