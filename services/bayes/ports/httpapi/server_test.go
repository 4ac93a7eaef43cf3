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
	"strconv"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/plotfile"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
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

func (f fakeRedis) ModelPage(_ context.Context, after, prefix string, limit int) ([]string, bool, error) {
	names, more := pageOf([]string{"ab", "default"}, after, prefix, limit)
	return names, more, f.err
}

func (f fakeRedis) ModelCount(context.Context) (int, error) { return 2, f.err }

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
	want := "application/json"
	if resp.StatusCode >= 400 { // every error is a problem
		want = problem.ContentType
	}
	if ct := resp.Header.Get("Content-Type"); ct != want {
		t.Fatalf("%s: %d content type %q, want %q", url, resp.StatusCode, ct, want)
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
	var body map[string]any
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
	var body map[string]any
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
	var body map[string]any
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
	var body map[string]any
	if code := get(t, srv.URL+"/models/zz/plot.png", &body); code != 404 {
		t.Fatalf("plot of an unknown model: %d", code)
	}
}

func TestRedisDownIs503WithoutInternals(t *testing.T) {
	srv := server(t, errors.New("dial tcp 10.0.0.7:6379: connect: connection refused"))
	var body map[string]any
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

// Every model answer carries the percentile interval right after the HPDI,
// both of ?prob= of the mass (0.89 when absent), and the predictive's
// interval holds ?prob= too.
func TestModelIntervalsFollowProb(t *testing.T) {
	srv := server(t, nil)
	var narrow, wide httpapi.ModelResponse
	if code := get(t, srv.URL+"/models/ab", &narrow); code != 200 || narrow.HPDI.Prob != 0.89 || narrow.PI.Prob != 0.89 {
		t.Fatalf("GET /models/ab: %d hpdi %+v pi %+v", code, narrow.HPDI, narrow.PI)
	}
	if code := get(t, srv.URL+"/models/ab?prob=0.99", &wide); code != 200 || wide.HPDI.Prob != 0.99 || wide.PI.Prob != 0.99 {
		t.Fatalf("GET /models/ab?prob=0.99: %d hpdi %+v pi %+v", code, wide.HPDI, wide.PI)
	}
	for _, v := range []httpapi.ModelResponse{narrow, wide} {
		lo, hi := model.PI(v.Posterior, v.PI.Prob)
		if v.PI.Lo != v.Grid[lo] || v.PI.Hi != v.Grid[hi] {
			t.Fatalf("pi %+v, want [%v, %v] of the posterior it came with", v.PI, v.Grid[lo], v.Grid[hi])
		}
	}
	if !(wide.PI.Lo < narrow.PI.Lo && narrow.PI.Hi < wide.PI.Hi) {
		t.Fatalf("pi at 0.99 %+v is not wider than at 0.89 %+v", wide.PI, narrow.PI)
	}
	var dflt httpapi.ModelResponse
	if code := get(t, srv.URL+"/model?prob=0.5", &dflt); code != 200 || dflt.HPDI.Prob != 0.5 || dflt.PI.Prob != 0.5 {
		t.Fatalf("GET /model?prob=0.5: %d hpdi %+v pi %+v", code, dflt.HPDI, dflt.PI)
	}
	var p httpapi.PredictiveResponse
	if code := get(t, srv.URL+"/models/ab/predictive?trials=6&prob=0.5", &p); code != 200 || p.Interval.Prob != 0.5 {
		t.Fatalf("predictive at prob 0.5: %d %+v", code, p.Interval)
	}

	// "pi" is the member after "hpdi".
	resp, body := fetch(t, srv.URL+"/models/ab")
	if resp.StatusCode != 200 || !strings.Contains(body, `"hpdi":{"prob":0.89,`) || !strings.Contains(body, `},"pi":{"prob":0.89,"lo":`) ||
		strings.Index(body, `"pi":`) < strings.Index(body, `"hpdi":`) {
		t.Fatalf("GET /models/ab: %.300s", body[max(0, len(body)-300):])
	}
}

// A ?prob= outside (0, 1), or not a number, is a 400 problem on every route
// that takes it, the feed included (before it starts).
func TestBadProbIsAProblem(t *testing.T) {
	srv := server(t, nil)
	for _, raw := range []string{"0", "1", "1.5", "-0.2", "x", "NaN", "Inf", "1e-400", "0.5%20"} {
		for _, path := range []string{"/model", "/models/ab", "/models/ab/predictive?trials=3", "/models/ab/events"} {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			resp, body := fetch(t, srv.URL+path+sep+"prob="+raw)
			if resp.StatusCode != 400 {
				t.Errorf("%s prob=%s: %s %.100s, want 400", path, raw, resp.Status, body)
				continue
			}
			unescaped := strings.ReplaceAll(raw, "%20", " ")
			want := `prob="` + unescaped + `": want a number between 0 and 1 (exclusive), e.g. ?prob=0.95`
			if got := checkProblem(t, path+" prob="+raw, resp, body); got != want {
				t.Errorf("%s prob=%s: detail %q, want %q", path, raw, got, want)
			}
		}
	}
	// Any float syntax strconv reads is a number.
	var v httpapi.ModelResponse
	if code := get(t, srv.URL+"/models/ab?prob=0x1p-2", &v); code != 200 || v.PI.Prob != 0.25 {
		t.Fatalf("prob=0x1p-2: %d %+v", code, v.PI)
	}
}

// GET /models/{name}/posterior.csv is the JSON answer's grid, prior and
// posterior as a table: a header, one line per grid point, numbers that read
// back to the same float64s.
func TestPosteriorCSV(t *testing.T) {
	srv := server(t, nil)
	for _, name := range []string{"ab", "default", "never"} {
		var v httpapi.ModelResponse
		if code := get(t, srv.URL+"/models/"+name, &v); code != 200 {
			t.Fatalf("GET /models/%s: %d", name, code)
		}
		resp, body := fetch(t, srv.URL+"/models/"+name+"/posterior.csv")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
			resp.Header.Get("Content-Disposition") != `inline; filename="`+name+`-posterior.csv"` {
			t.Fatalf("%s: %s %q %q", name, resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
		}
		if !strings.HasSuffix(body, "\n") || strings.Contains(body, "\r") {
			t.Fatalf("%s: lines do not end in \\n: %q", name, body[max(0, len(body)-40):])
		}
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		if lines[0] != "p,prior,posterior" || len(lines)-1 != v.GridPoints {
			t.Fatalf("%s: header %q and %d rows, want %d", name, lines[0], len(lines)-1, v.GridPoints)
		}
		for i, line := range lines[1:] {
			fields := strings.Split(line, ",")
			if len(fields) != 3 {
				t.Fatalf("%s row %d: %q", name, i, line)
			}
			for j, want := range []float64{v.Grid[i], v.Prior[i], v.Posterior[i]} {
				got, err := strconv.ParseFloat(fields[j], 64)
				if err != nil || math.Float64bits(got) != math.Float64bits(want) || fields[j] != strconv.FormatFloat(want, 'g', -1, 64) {
					t.Fatalf("%s row %d field %d: %q, JSON has %v", name, i, j, fields[j], want)
				}
			}
		}
	}
	for path, status := range map[string]int{"/models/zz/posterior.csv": 404, "/models/a.b/posterior.csv": 400} {
		resp, body := fetch(t, srv.URL+path)
		if resp.StatusCode != status {
			t.Fatalf("GET %s: %s, want %d", path, resp.Status, status)
		}
		checkProblem(t, "GET "+path, resp, body)
	}
	down := server(t, errors.New("connection refused"))
	if resp, body := fetch(t, down.URL+"/models/ab/posterior.csv"); resp.StatusCode != 503 || checkProblem(t, "CSV with Redis down", resp, body) != "model state is unavailable" {
		t.Fatalf("Redis down: %s %s", resp.Status, body)
	}
}

// The live feed's model events carry the intervals of ?prob=.
func TestLiveEventsFollowProb(t *testing.T) {
	store := &liveStore{counts: model.Counts{W: 7, N: 10}}
	srv, _ := liveServer(t, store, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, feed := openFeed(t, ctx, srv.URL+"/models/globe/events?prob=0.5")
	if v := nextModel(t, feed); v.HPDI.Prob != 0.5 || v.PI.Prob != 0.5 || v.PI.Lo > v.PI.Hi {
		t.Fatalf("first event: hpdi %+v pi %+v", v.HPDI, v.PI)
	}
}
