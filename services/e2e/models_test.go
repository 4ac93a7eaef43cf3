package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// call sends a JSON request and decodes the JSON answer into out (when not
// nil); every answer of both services is JSON, errors problems (RFC 9457).
func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, answerType(resp.StatusCode)) {
		t.Fatalf("%s %s: %s, Content-Type %q: %s", method, url, resp.Status, ct, raw)
	}
	if code := resp.StatusCode; code >= 400 {
		if msg := notAProblem(code, resp.Header.Get("Content-Type"), raw); msg != "" {
			t.Errorf("%s %s: %d: %s", method, url, code, msg)
		}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, raw)
		}
	}
	return resp.StatusCode
}

// mustCall is call for a request whose status is known: anything else
// fails the test.
func mustCall(t *testing.T, method, url, body string, want int) {
	t.Helper()
	if got := call(t, method, url, body, nil); got != want {
		t.Fatalf("%s %s %s: %d, want %d", method, url, body, got, want)
	}
}

// Named models from the api to bayes: a definition with its own prior, a
// batch of counts applied as one event, single trials, a model created by
// an observation alone, and the original's default model beside them; the
// posteriors, the predictive and the plots all follow.
func TestNamedModelsEndToEnd(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "b0", "GRAPHS_MIN_INTERVAL=0s")

	var def map[string]any
	if code := call(t, "PUT", s.api.url("/models/ab"), `{"prior":"beta:2,2","grid_points":200}`, &def); code != 202 || def["status"] != "accepted" {
		t.Fatalf("PUT /models/ab: %d %v", code, def)
	}
	eventually(t, 30*time.Second, "model ab exists", func() (bool, string) {
		return call(t, "GET", bayes.url("/models/ab"), "", nil) == 200, "not yet"
	})
	if code := call(t, "PUT", s.api.url("/models/ab"), `{"prior":"beta:2, 2","grid_points":200}`, &def); code != 200 || def["status"] != "exists" {
		t.Fatalf("same definition again: %d %v", code, def)
	}
	if code := call(t, "PUT", s.api.url("/models/ab"), `{"prior":"uniform","grid_points":200}`, &def); code != 409 {
		t.Fatalf("conflicting definition: %d %v", code, def)
	}

	var w, l int64 = 30, 70
	var rec map[string]any
	if code := call(t, "POST", s.api.url("/models/ab/observations"), `{"w":30,"l":70}`, &rec); code != 201 || rec["w"] != 30.0 {
		t.Fatalf("counts: %d %v", code, rec)
	}
	var cdW, cdN int64
	for range 25 {
		trial := "w"
		if rand.IntN(3) == 0 {
			trial = "l"
		}
		if code := call(t, "POST", s.api.url("/models/ab/observations"), `{"trial":"`+trial+`"}`, nil); code != 201 {
			t.Fatalf("trial for ab: %d", code)
		}
		if trial == "w" {
			w++
		} else {
			l++
		}
		if code := call(t, "POST", s.api.url("/models/cd/observations"), `{"trial":"`+trial+`"}`, nil); code != 201 {
			t.Fatalf("trial for cd: %d", code)
		}
		cdN++
		if trial == "w" {
			cdW++
		}
	}
	if code, _, err := record(s.api, "POST", "w"); code != 201 || err != nil {
		t.Fatalf("default model: %d %v", code, err)
	}

	ab := waitModel(t, bayes, "ab", w+l)
	if ab.W != w || ab.PriorSpec != "beta:2,2" || ab.GridPoints != 200 || len(ab.Grid) != 200 {
		t.Fatalf("ab = w %d prior %s points %d, want w %d beta:2,2 200", ab.W, ab.PriorSpec, ab.GridPoints, w)
	}
	want := betaMass(ab.Grid, 2+float64(w), 2+float64(l))
	for i := range want {
		if d := math.Abs(ab.Posterior[i] - want[i]); d > 1e-9 {
			t.Fatalf("ab posterior at p=%.3f is %g, Beta(%d,%d) gives %g", ab.Grid[i], ab.Posterior[i], 2+w, 2+l, want[i])
		}
	}
	cd := waitModel(t, bayes, "cd", cdN)
	if cd.W != cdW || cd.PriorSpec != "uniform" || cd.GridPoints != 120 {
		t.Fatalf("cd (created by an observation, the service's defaults) = %+v", cd)
	}
	if d := waitModel(t, bayes, "default", 1); d.W != 1 {
		t.Fatalf("default = %+v", d)
	}
	var list struct {
		Models []struct {
			Name string `json:"name"`
			N    int64  `json:"n"`
		} `json:"models"`
	}
	if code := call(t, "GET", bayes.url("/models"), "", &list); code != 200 || len(list.Models) != 3 ||
		list.Models[0].Name != "default" || list.Models[1].Name != "ab" || list.Models[2].Name != "cd" || list.Models[1].N != w+l {
		t.Fatalf("GET /models: %d %+v", code, list)
	}

	// The predictive, against Σ posterior · Binom(k | K, p) computed here
	// with the binomial's recurrence rather than the service's log-gamma.
	const K = 20
	var pred struct {
		Trials   int       `json:"trials"`
		PMF      []float64 `json:"pmf"`
		Mean     float64   `json:"mean"`
		Interval struct {
			Prob   float64 `json:"prob"`
			Lo, Hi int
		} `json:"interval"`
	}
	if code := call(t, "GET", bayes.url(fmt.Sprintf("/models/ab/predictive?trials=%d", K)), "", &pred); code != 200 || len(pred.PMF) != K+1 {
		t.Fatalf("predictive: %d %+v", code, pred)
	}
	exact := make([]float64, K+1)
	for i, p := range ab.Grid {
		if ab.Posterior[i] == 0 {
			continue
		}
		b := math.Pow(1-p, K)
		for k := 0; k <= K; k++ {
			exact[k] += ab.Posterior[i] * b
			b *= float64(K-k) / float64(k+1) * p / (1 - p)
		}
	}
	var mean, below, inside float64
	for k, v := range pred.PMF {
		if d := math.Abs(v - exact[k]); d > 1e-12 {
			t.Fatalf("P(%d of %d) = %g, computed %g", k, K, v, exact[k])
		}
		mean += float64(k) * exact[k]
		if k < pred.Interval.Lo {
			below += v
		}
		if k >= pred.Interval.Lo && k <= pred.Interval.Hi {
			inside += v
		}
	}
	if math.Abs(mean-pred.Mean) > 1e-9 || inside < 0.89 || below > 0.055+1e-12 {
		t.Fatalf("mean %v (computed %v), interval %+v holds %v with %v below", pred.Mean, mean, pred.Interval, inside, below)
	}

	// Plots: served on request, and drawn into GRAPHS_DIR/<name>/.
	resp, err := client.Get(bayes.url("/models/ab/plot.png"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := png.Decode(bytes.NewReader(body)); err != nil || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("plot.png: %s %v", resp.Status, err)
	}
	for _, f := range []string{
		filepath.Join(s.graphs, "ab", fmt.Sprintf("n_%d_w_%d.png", w+l, w)),
		filepath.Join(s.graphs, "cd", fmt.Sprintf("n_%d_w_%d.png", cdN, cdW)),
		filepath.Join(s.graphs, "n_1_w_1.png"),
	} {
		eventually(t, 30*time.Second, f, func() (bool, string) {
			_, err := os.Stat(f)
			return err == nil, fmt.Sprint(err)
		})
	}
}

// Two definitions of a new model race: whichever bayes applies first
// creates the model, and the other, accepted by the api with 202 before
// the model existed, ends in the dead-letter stream with the reason. A
// definition the api could check against an existing model gets 409.
func TestRacingDefinitionsOneWinsTheOtherIsDeadLettered(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "b0")
	specs := []string{`{"prior":"uniform","grid_points":50}`, `{"prior":"beta:3,1","grid_points":60}`}
	codes := make([]int, 2)
	for i, body := range specs {
		codes[i] = call(t, "PUT", s.api.url("/models/race"), body, nil)
	}
	if codes[0] != 202 || (codes[1] != 202 && codes[1] != 409) {
		t.Fatalf("PUT statuses %v", codes)
	}
	var v modelView
	eventually(t, 30*time.Second, "model race exists", func() (bool, string) {
		return call(t, "GET", bayes.url("/models/race"), "", &v) == 200, "not yet"
	})
	if v.PriorSpec != "uniform" || v.GridPoints != 50 {
		t.Fatalf("the first definition in the stream must win: %s/%d", v.PriorSpec, v.GridPoints)
	}
	if codes[1] == 202 {
		eventually(t, 30*time.Second, "the losing definition dead-lettered", func() (bool, string) {
			dead, err := s.rdb.XRange(context.Background(), "update_model:dead", "-", "+").Result()
			if err != nil || len(dead) != 1 {
				return false, fmt.Sprint(len(dead), err)
			}
			reason, _ := dead[0].Values["reason"].(string)
			if !strings.Contains(reason, `model "race" exists`) || !strings.Contains(reason, "beta:3,1") {
				t.Fatalf("dead letter reason %q", reason)
			}
			return true, ""
		})
	}
}
