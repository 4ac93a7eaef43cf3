package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/plotfile"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// fakeRedis holds the default model at 7/10, "ab" at 3/4 and "never" at
// 0/5 with their own specs; it isolates the HTTP port from Redis.
type fakeRedis struct{ err error }

func (f fakeRedis) Models(_ context.Context, names ...string) ([]query.StoredModel, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := make([]query.StoredModel, len(names))
	for i, n := range names {
		out[i] = query.StoredModel{Name: n}
		switch n {
		case events.DefaultModel:
			out[i].Counts, out[i].Exists = model.Counts{W: 7, N: 10}, true
		case "ab":
			out[i].Counts, out[i].Exists = model.Counts{W: 3, N: 4}, true
			out[i].Spec = events.ModelSpec{Prior: "beta:2,2", GridPoints: 51}
		case "never":
			// Five losses on a uniform prior: p = 0 keeps the most mass.
			out[i].Counts, out[i].Exists = model.Counts{W: 0, N: 5}, true
			out[i].Spec = events.ModelSpec{Prior: "uniform", GridPoints: 11}
		}
	}
	return out, nil
}

func (f fakeRedis) ModelNames(context.Context) ([]string, error) {
	return []string{"ab", "default"}, f.err
}

func (f fakeRedis) Ping(context.Context) error { return f.err }

func server(t *testing.T, redisErr error) *httptest.Server {
	t.Helper()
	r := fakeRedis{err: redisErr}
	models, err := query.NewModels(events.ModelSpec{Prior: "uniform", GridPoints: 120}, r)
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := query.NewReadinessHandler(r)
	a := app.Application{Queries: app.Queries{Models: models, Readiness: ready}}
	srv := httptest.NewServer(httpapi.NewHandler(a, httpapi.Options{Plots: plotfile.PNG{}}, slog.New(slog.NewTextHandler(io.Discard, nil))))
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
	var v httpapi.ModelResponse
	if code := get(t, srv.URL+"/model", &v); code != 200 || v.W != 7 || v.N != 10 || len(v.Posterior) != 120 || v.PriorSpec != "uniform" {
		t.Fatalf("GET /model: %d %+v", code, v)
	}
	var same httpapi.ModelResponse
	if code := get(t, srv.URL+"/models/default", &same); code != 200 || same.Mean != v.Mean {
		t.Fatalf("GET /models/default: %d %+v", code, same)
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

func TestNamedModels(t *testing.T) {
	srv := server(t, nil)
	var list httpapi.ModelList
	if code := get(t, srv.URL+"/models", &list); code != 200 || len(list.Models) != 2 ||
		list.Models[0].Name != "default" || list.Models[1].Name != "ab" || list.Models[1].N != 4 || list.Models[1].GridPoints != 51 {
		t.Fatalf("GET /models: %d %+v", code, list)
	}
	var v httpapi.ModelResponse
	if code := get(t, srv.URL+"/models/ab", &v); code != 200 || v.PriorSpec != "beta:2,2" || len(v.Grid) != 51 {
		t.Fatalf("GET /models/ab: %d %+v", code, v)
	}
	// Beta(2,2) prior and 3 of 4: the posterior is Beta(5,3), mean 5/8.
	if math.Abs(v.Mean-0.625) > 1e-3 {
		t.Fatalf("mean %v, want about 0.625", v.Mean)
	}
	var body map[string]string
	if code := get(t, srv.URL+"/models/zz", &body); code != 404 || body["error"] == "" {
		t.Fatalf("unknown model: %d %v", code, body)
	}
	if code := get(t, srv.URL+"/models/a.b", &body); code != 400 {
		t.Fatalf("bad name: %d %v", code, body)
	}
}

func TestPredictive(t *testing.T) {
	srv := server(t, nil)
	var p httpapi.PredictiveResponse
	if code := get(t, srv.URL+"/models/ab/predictive?trials=6", &p); code != 200 || p.Trials != 6 || len(p.PMF) != 7 {
		t.Fatalf("predictive: %d %+v", code, p)
	}
	var sum, mean float64
	for k, v := range p.PMF {
		sum += v
		mean += float64(k) * v
	}
	if math.Abs(sum-1) > 1e-12 || math.Abs(mean-p.Mean) > 1e-12 || math.Abs(p.Mean-6*0.625) > 1e-2 {
		t.Fatalf("pmf sums to %v, mean %v (reported %v), want about %v", sum, mean, p.Mean, 6*0.625)
	}
	var body map[string]string
	for _, q := range []string{"", "?trials=0", "?trials=1001", "?trials=x"} {
		if code := get(t, srv.URL+"/models/ab/predictive"+q, &body); code != 400 || body["error"] == "" {
			t.Errorf("predictive%s: %d %v", q, code, body)
		}
	}
}

func TestPlotPNG(t *testing.T) {
	srv := server(t, nil)
	resp, err := http.Get(srv.URL + "/models/ab/plot.png")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("plot: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("plot is not a PNG of a sensible size: %v", err)
	}
	var body map[string]string
	if code := get(t, srv.URL+"/models/zz/plot.png", &body); code != 404 {
		t.Fatalf("plot of an unknown model: %d", code)
	}
}

func TestRedisDownIs503WithoutInternals(t *testing.T) {
	srv := server(t, errors.New("dial tcp 10.0.0.7:6379: connect: connection refused"))
	var body map[string]string
	for _, path := range []string{"/model", "/models", "/models/ab", "/models/ab/predictive?trials=3"} {
		if code := get(t, srv.URL+path, &body); code != 503 || body["error"] != "model state is unavailable" {
			t.Fatalf("GET %s: %d %v", path, code, body)
		}
	}
	if code := get(t, srv.URL+"/readyz", &body); code != 503 || body["error"] != "redis is unreachable" {
		t.Fatalf("GET /readyz: %d %v", code, body)
	}
	if code := get(t, srv.URL+"/healthz", &body); code != 200 {
		t.Fatalf("healthz must not depend on Redis: %d", code)
	}
}
