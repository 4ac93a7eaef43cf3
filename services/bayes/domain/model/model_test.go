package model_test

import (
	"math"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

func mustModel(t testing.TB, points int, prior model.Prior) *model.Model {
	t.Helper()
	m, err := model.New(points, prior)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sum(xs []float64) (s float64) {
	for _, x := range xs {
		s += x
	}
	return s
}

// The known case of Statistical Rethinking: 7 water in 10 tosses on a
// uniform prior is Beta(8, 4): mean 2/3, sd sqrt(8·4/(12²·13)) = 0.1307.
func TestSevenOfTenOnUniformIsBeta84(t *testing.T) {
	m := mustModel(t, 120, model.UniformPrior())
	for _, c := range "wlwwwlwlww" {
		tr, err := model.ParseTrial(string(c))
		if err != nil {
			t.Fatal(err)
		}
		m.Observe(tr)
	}
	if got := m.Counts(); got != (model.Counts{W: 7, N: 10}) {
		t.Fatalf("counts = %+v", got)
	}
	post := m.Posterior()
	if math.Abs(sum(post)-1) > 1e-12 {
		t.Fatalf("posterior sums to %v", sum(post))
	}
	s := model.Summarize(m.Grid(), post, model.DefaultHPDIProb)
	if math.Abs(s.Mean-0.6667) > 5e-4 || math.Abs(s.SD-0.131) > 5e-4 {
		t.Fatalf("mean %.4f sd %.4f, want 0.6667 and 0.131", s.Mean, s.SD)
	}
	if math.Abs(s.MAP-0.7) > 1.0/119 {
		t.Fatalf("MAP %.4f, want the grid point nearest 0.7", s.MAP)
	}
	if !(s.HPDI.Lo < s.MAP && s.MAP < s.HPDI.Hi) || s.HPDI.Lo < 0.4 || s.HPDI.Hi > 0.95 {
		t.Fatalf("HPDI %+v", s.HPDI)
	}
}

// The original multiplied the stored posterior by the binomial likelihood of
// the running totals on every event, so the first observation was counted n
// times. After w, w, w the posterior must be prior·p³, not prior·p⁶.
func TestEarlierObservationsAreNotCountedAgain(t *testing.T) {
	m := mustModel(t, 11, model.UniformPrior())
	for range 3 {
		m.Observe(model.Water)
	}
	post, grid := m.Posterior(), m.Grid()
	want := make([]float64, len(grid))
	for i, p := range grid {
		want[i] = p * p * p
	}
	norm := sum(want)
	for i := range want {
		if d := math.Abs(post[i] - want[i]/norm); d > 1e-12 {
			t.Fatalf("point %d: posterior %v, prior·p³ gives %v", i, post[i], want[i]/norm)
		}
	}
	// The original's update: each event multiplied by p^w·(1-p)^(n-w) of the
	// running totals, i.e. p¹·p²·p³ = p⁶. Make sure we are not that.
	var orig []float64
	for _, p := range grid {
		orig = append(orig, math.Pow(p, 6))
	}
	on := sum(orig)
	if math.Abs(post[len(post)-2]-orig[len(orig)-2]/on) < 1e-3 {
		t.Fatal("posterior looks like the original's double counting")
	}
}

func TestStepPriorIsTheOriginals(t *testing.T) {
	m := mustModel(t, 120, model.DefaultPrior())
	pr, grid := m.PriorMass(), m.Grid()
	var nonzero int
	for i, p := range grid {
		if (p > 0.1) != (pr[i] > 0) {
			t.Fatalf("prior at p=%v is %v", p, pr[i])
		}
		if pr[i] > 0 {
			nonzero++
		}
	}
	for i := range pr {
		if pr[i] > 0 && math.Abs(pr[i]-1/float64(nonzero)) > 1e-15 {
			t.Fatalf("step prior is not flat above the threshold: %v", pr[i])
		}
	}
}

func TestExtremeCountsStayFinite(t *testing.T) {
	m := mustModel(t, 120, model.DefaultPrior())
	if err := m.SetCounts(model.Counts{W: 1_000_000, N: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	post := m.Posterior()
	if post[len(post)-1] != 1 {
		t.Fatalf("all water: the mass must sit on p=1, got %v", post[len(post)-1])
	}
	if err := m.SetCounts(model.Counts{W: 0, N: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	// The step prior rules out p ≤ 0.1, so all land pushes the mass to the
	// first point above the threshold instead of p = 0.
	post, grid := m.Posterior(), m.Grid()
	s := model.Summarize(grid, post, 0.89)
	if s.MAP <= 0.1 || s.MAP > 0.11 || math.IsNaN(s.Mean) {
		t.Fatalf("summary %+v", s)
	}
	if err := m.SetCounts(model.Counts{W: 3, N: 2}); err == nil {
		t.Fatal("w > n accepted")
	}
}

func TestParsePrior(t *testing.T) {
	for in, want := range map[string]string{
		"step:0.1": "step:0.1", "uniform": "uniform", "beta:2,2": "beta:2,2", " BETA:1, 3.5": "beta:1,3.5", "step:0": "step:0",
		"beta:0.5,0.5": "beta:0.5,0.5", "beta:0.2,3": "beta:0.2,3",
	} {
		p, err := model.ParsePrior(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrior(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, bad := range []string{"", "normal", "step", "step:1", "step:-0.2", "beta:0,1", "beta:0.5,-1", "beta:2", "beta:a,b", "uniform:3", "beta:Inf,2", "step:NaN"} {
		if _, err := model.ParsePrior(bad); err == nil {
			t.Errorf("ParsePrior(%q) accepted", bad)
		}
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := model.New(1, model.UniformPrior()); err == nil {
		t.Error("grid of one point accepted")
	}
	if _, err := model.New(120, model.Prior{}); err == nil {
		t.Error("zero prior accepted")
	}
	if _, err := model.New(2, model.UniformPrior()); err == nil {
		t.Error("grid without an interior point accepted")
	}
	// Weight only on p = 1: one land would rule out every point (0/0).
	step, _ := model.ParsePrior("step:0.9")
	if _, err := model.New(10, step); err == nil {
		t.Error("prior with no weight strictly inside (0, 1) accepted")
	}
	if _, err := model.New(12, step); err != nil {
		t.Errorf("step:0.9 on 12 points has weight at 10/11: %v", err)
	}
}

func TestParseTrial(t *testing.T) {
	for _, bad := range []string{"", "W", "water", "x", "ww"} {
		if _, err := model.ParseTrial(bad); err == nil {
			t.Errorf("ParseTrial(%q) accepted", bad)
		}
	}
	if tr, _ := model.ParseTrial("l"); tr != model.Land || tr.String() != "l" {
		t.Errorf("l parsed as %v", tr)
	}
}

func TestHPDIWholeMassAndPoint(t *testing.T) {
	if lo, hi := model.HPDI([]float64{0.25, 0.25, 0.25, 0.25}, 1); lo != 0 || hi != 3 {
		t.Errorf("prob 1 on flat mass: [%d,%d]", lo, hi)
	}
	if lo, hi := model.HPDI([]float64{0, 0, 1, 0}, 0.89); lo != 2 || hi != 2 {
		t.Errorf("point mass: [%d,%d]", lo, hi)
	}
	if lo, hi := model.HPDI([]float64{0.05, 0.1, 0.5, 0.3, 0.05}, 0.8); lo != 2 || hi != 3 {
		t.Errorf("skewed: [%d,%d]", lo, hi)
	}
}
