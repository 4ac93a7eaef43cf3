package model_test

import (
	"math"
	"testing"

	"pgregory.net/rapid"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// The predictive of a point mass at p is Binomial(K, p) itself.
func TestPredictiveOfAPointMassIsTheBinomial(t *testing.T) {
	grid := []float64{0, 0.25, 0.5, 0.75, 1}
	post := []float64{0, 0, 0, 1, 0}
	s, err := model.Predictive(grid, post, 4, 0.89)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1.0 / 256, 12.0 / 256, 54.0 / 256, 108.0 / 256, 81.0 / 256} // C(4,k) .75^k .25^(4-k)
	for k := range want {
		if math.Abs(s.PMF[k]-want[k]) > 1e-15 {
			t.Fatalf("P(%d) = %v, want %v", k, s.PMF[k], want[k])
		}
	}
	if math.Abs(s.Mean-3) > 1e-12 {
		t.Fatalf("mean %v, want 3", s.Mean)
	}
	// Tails of at most 5.5% each: P(k < 2) = 13/256 ≈ 5.1% may go, P(k < 3)
	// may not; on the right P(4) = 81/256 must stay. So [2, 4].
	if s.Interval.Lo != 2 || s.Interval.Hi != 4 {
		t.Fatalf("interval %+v, want [2, 4]", s.Interval)
	}
	// The end points of the grid: all mass at p = 1 means K waters, surely.
	s, _ = model.Predictive(grid, []float64{0, 0, 0, 0, 1}, 7, 0.89)
	if s.PMF[7] != 1 || s.Mean != 7 || s.Interval.Lo != 7 || s.Interval.Hi != 7 {
		t.Fatalf("p = 1: %+v", s)
	}
	s, _ = model.Predictive(grid, []float64{1, 0, 0, 0, 0}, 7, 0.89)
	if s.PMF[0] != 1 || s.Mean != 0 {
		t.Fatalf("p = 0: %+v", s)
	}
}

func TestPredictiveRejects(t *testing.T) {
	grid, post := []float64{0, 0.5, 1}, []float64{0, 1, 0}
	for _, k := range []int{0, -1, model.MaxPredictiveTrials + 1} {
		if _, err := model.Predictive(grid, post, k, 0.89); err == nil {
			t.Errorf("trials %d accepted", k)
		}
	}
	if _, err := model.Predictive(grid, post[:2], 3, 0.89); err == nil {
		t.Error("mismatched lengths accepted")
	}
	if _, err := model.Predictive(grid, post, 3, 1); err == nil {
		t.Error("interval mass 1 accepted")
	}
}

// For any model state and K: the pmf is a distribution, its mean is
// K · E[p] under the posterior (linearity: E[k] = Σ post(p) · K p), and the
// interval holds at least 89% with at most 5.5% on either side.
func TestPredictiveProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		points := rapid.IntRange(3, 400).Draw(t, "points")
		n := rapid.Int64Range(0, 100_000).Draw(t, "n")
		w := rapid.Int64Range(0, n).Draw(t, "w")
		K := rapid.IntRange(1, model.MaxPredictiveTrials).Draw(t, "K")
		m, err := model.New(points, model.UniformPrior())
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetCounts(model.Counts{W: w, N: n}); err != nil {
			t.Fatal(err)
		}
		grid, post := m.Grid(), m.Posterior()
		s, err := model.Predictive(grid, post, K, model.DefaultHPDIProb)
		if err != nil {
			t.Fatal(err)
		}
		var total, ep, below, above float64
		for k, v := range s.PMF {
			if v < 0 || math.IsNaN(v) {
				t.Fatalf("P(%d) = %v", k, v)
			}
			total += v
			if k < s.Interval.Lo {
				below += v
			}
			if k > s.Interval.Hi {
				above += v
			}
		}
		for i, p := range grid {
			ep += post[i] * p
		}
		if math.Abs(total-1) > 1e-12 {
			t.Fatalf("pmf sums to %v", total)
		}
		if math.Abs(s.Mean-float64(K)*ep) > 1e-9*float64(K) {
			t.Fatalf("mean %v, K·E[p] = %v", s.Mean, float64(K)*ep)
		}
		tail := (1 - model.DefaultHPDIProb) / 2
		if below > tail+1e-12 || above > tail+1e-12 || s.Interval.Lo > s.Interval.Hi {
			t.Fatalf("interval %+v leaves %v below and %v above", s.Interval, below, above)
		}
	})
}

func BenchmarkPredictive(b *testing.B) {
	m := mustModel(b, 120, model.UniformPrior())
	_ = m.SetCounts(model.Counts{W: 70, N: 100})
	grid, post := m.Grid(), m.Posterior()
	for b.Loop() {
		if _, err := model.Predictive(grid, post, 100, 0.89); err != nil {
			b.Fatal(err)
		}
	}
}
