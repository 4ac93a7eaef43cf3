package httpapi_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
)

func TestCompareAnswersTheABQuestions(t *testing.T) {
	srv := server(t, nil)
	var c httpapi.CompareResponse
	if code := get(t, srv.URL+"/compare?models=default,ab", &c); code != 200 {
		t.Fatalf("compare: %d", code)
	}
	if len(c.Models) != 2 || c.Models[0].Name != "default" || c.Models[1].Name != "ab" || c.Prob != model.DefaultHPDIProb {
		t.Fatalf("compare: %+v", c)
	}
	if c.Models[1].W != 3 || c.Models[1].N != 4 || c.Models[1].GridPoints != 51 || c.Models[1].PriorSpec != "beta:2,2" {
		t.Fatalf("the second model's state: %+v", c.Models[1])
	}
	if s := c.Models[0].ProbBest + c.Models[1].ProbBest; math.Abs(s-1) > 1e-12 {
		t.Fatalf("P(best) sums to %v", s)
	}
	if c.Difference == nil || c.Uplift == nil {
		t.Fatalf("two models without their difference: %+v", c)
	}
	if d := c.Difference; len(d.Grid) != 2*120-1 || len(d.Posterior) != len(d.Grid) || d.HPDI.Lo > d.Mean || d.HPDI.Hi < d.Mean {
		t.Fatalf("difference: %d points, mean %v, hpdi %+v", len(d.Grid), d.Mean, d.HPDI)
	}
	if d, want := c.Difference.Mean, c.Models[1].Mean-c.Models[0].Mean; math.Abs(d-want) > 1e-12 {
		t.Fatalf("difference mean %v, want %v", d, want)
	}

	// Three models: no difference, ?prob= taken.
	var three map[string]any
	if code := get(t, srv.URL+"/compare?models=default,ab,never&prob=0.5", &three); code != 200 {
		t.Fatalf("three models: %d", code)
	}
	if _, ok := three["difference"]; ok || three["prob"] != 0.5 {
		t.Fatalf("three models: %v", three)
	}

	// An uplift over a model with mass at p = 0 is unbounded: null, not a
	// number JSON cannot carry.
	var raw struct{ Uplift map[string]any }
	if code := get(t, srv.URL+"/compare?models=never,ab", &raw); code != 200 {
		t.Fatalf("never vs ab: %d", code)
	}
	if up := raw.Uplift; up == nil || up["mean"] != nil {
		t.Fatalf("uplift over p = 0: %v, want a null mean", up)
	}
	if _, ok := raw.Uplift["mean"]; !ok {
		t.Fatalf("uplift without a mean member: %v", raw.Uplift)
	}
}

func TestAllocateIsThompsonSamplingFromASeed(t *testing.T) {
	srv := server(t, nil)
	var a, b, unseeded, again httpapi.AllocationResponse
	get(t, srv.URL+"/allocate?models=default,ab&n=500&seed=9", &a)
	get(t, srv.URL+"/allocate?models=default,ab&n=500&seed=9", &b)
	if a.Seed != 9 || a.Draws != 500 || a.Models[0].Count+a.Models[1].Count != 500 {
		t.Fatalf("allocation: %+v", a)
	}
	if a.Next != "default" && a.Next != "ab" {
		t.Fatalf("next %q", a.Next)
	}
	if a.Models[0].Count != b.Models[0].Count || a.Next != b.Next {
		t.Fatalf("seed 9 twice: %+v, %+v", a, b)
	}
	get(t, srv.URL+"/allocate?models=default,ab&n=500", &unseeded)
	get(t, srv.URL+"/allocate?models=default,ab&n=500&seed="+itoa(unseeded.Seed), &again)
	if unseeded.Models[0].Count != again.Models[0].Count || unseeded.Next != again.Next {
		t.Fatalf("replaying the drawn seed %d: %+v, then %+v", unseeded.Seed, unseeded, again)
	}
	if again.Draws != 500 {
		t.Fatalf("n=500 gave %d draws", again.Draws)
	}
	var one httpapi.AllocationResponse
	get(t, srv.URL+"/allocate?models=default,ab&seed=1", &one)
	if one.Draws != 1 {
		t.Fatalf("the default is one draw, got %d", one.Draws)
	}
}

func itoa(u uint64) string {
	b, _ := json.Marshal(u)
	return string(b)
}

func TestCompareAndAllocateRefuseBadInput(t *testing.T) {
	srv := server(t, nil)
	for _, c := range []struct {
		path string
		code int
		says string
	}{
		{"/compare", 400, "0 model names"},
		{"/compare?models=ab", 400, "1 model names"},
		{"/compare?models=ab,ab", 400, "named twice"},
		{"/compare?models=ab," + strings.Repeat("x,", 10) + "y", 400, "12 model names"},
		{"/compare?models=ab,bad%20name", 400, "model name"},
		{"/compare?models=ab,nope", 404, `no model named "nope"`},
		{"/compare?models=ab,default&prob=1", 400, "prob="},
		{"/compare?models=ab,default&prob=x", 400, "prob="},
		{"/compare/events?models=ab", 400, "1 model names"},
		{"/compare/events?models=ab,nope", 404, "nope"},
		{"/allocate?models=ab,default&n=0", 400, "n=0"},
		{"/allocate?models=ab,default&n=10001", 400, "n=10001"},
		{"/allocate?models=ab,default&n=x", 400, `n="x"`},
		{"/allocate?models=ab,default&n=%2B5", 400, `n="+5"`},
		{"/allocate?models=ab,default&n=-1", 400, `n="-1"`},
		{"/allocate?models=ab,default&seed=-1", 400, "seed="},
		{"/allocate?models=ab,default&seed=9007199254740992", 400, "seed="},
		{"/allocate?models=ab", 400, "1 model names"},
		{"/allocate?models=ab,nope", 404, "nope"},
	} {
		var body struct{ Error string }
		if code := get(t, srv.URL+c.path, &body); code != c.code || !strings.Contains(body.Error, c.says) {
			t.Errorf("%s: %d %q, want %d saying %q", c.path, code, body.Error, c.code, c.says)
		}
	}
}

func TestCompareFeedFollowsItsModels(t *testing.T) {
	store := &liveStore{counts: model.Counts{W: 7, N: 10}}
	srv, _ := liveServer(t, store, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, feed := openFeed(t, ctx, srv.URL+"/compare/events?models=globe,default&prob=0.5")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	nextCompare := func() httpapi.CompareResponse {
		t.Helper()
		return nextAs[httpapi.CompareResponse](t, feed, "compare")
	}
	// The store's two models share their state: a tie, split evenly.
	c := nextCompare()
	if c.Prob != 0.5 || c.Models[0].N != 10 || math.Abs(c.Models[0].ProbBest-0.5) > 1e-12 || c.Difference.HPDI.Prob != 0.5 {
		t.Fatalf("first event: %+v", c)
	}
	store.set(8, 11)
	if c := nextCompare(); c.Models[0].W != 8 || c.Models[1].N != 11 {
		t.Fatalf("after the change: %+v", c.Models)
	}
}
