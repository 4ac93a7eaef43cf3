package model_test

import (
	"fmt"
	"math"
	"testing"
)

// The cell masses of a Beta(a, b) prior with a < 1 or b < 1, computed here
// independently of the prior package (which takes differences of gonum's
// incomplete beta function, or Gauss–Legendre in log space): tanh-sinh
// quadrature of the density over each cell, in log space, with the
// substitution u = x^a on the cell at 0 (u = (1−x)^b at 1) where the
// density is infinite, which makes the integrand bounded:
//
//	∫_0^c x^(a−1) (1−x)^(b−1) dx = (1/a) ∫_0^(c^a) (1 − u^(1/a))^(b−1) du.
//
// The common factor 1/B(a, b) is left out: the posterior is normalised.

// cellBeta reads spec as beta:A,B with A < 1 or B < 1.
func cellBeta(spec string) (a, b float64, ok bool) {
	if _, err := fmt.Sscanf(spec, "beta:%g,%g", &a, &b); err != nil {
		return 0, 0, false
	}
	return a, b, a < 1 || b < 1
}

// oracleCellMasses is each cell's mass of Beta(a, b) on linspace(0, 1,
// points), divided by the largest (so the numbers stay in range).
func oracleCellMasses(a, b float64, points int) []float64 {
	logs := make([]float64, points)
	n2 := 2 * (points - 1)
	top := math.Inf(-1)
	for i := range logs {
		l, h := max(0, 2*i-1), min(n2, 2*i+1)
		lo, hi := float64(l)/float64(n2), float64(h)/float64(n2)
		loC := float64(n2-l) / float64(n2) // 1 − lo, exactly as a ratio
		switch {
		case l == 0 && a < 1:
			logs[i] = tanhSinhLog(func(u float64) float64 { return (b - 1) * log1mPow(u, 1/a) }, 0, math.Pow(hi, a)) - math.Log(a)
		case h == n2 && b < 1:
			logs[i] = tanhSinhLog(func(v float64) float64 { return (a - 1) * log1mPow(v, 1/b) }, 0, math.Pow(loC, b)) - math.Log(b)
		default:
			logs[i] = tanhSinhLog(func(x float64) float64 { return (a-1)*math.Log(x) + (b-1)*math.Log1p(-x) }, lo, hi)
		}
		top = max(top, logs[i])
	}
	out := make([]float64, points)
	for i, l := range logs {
		out[i] = math.Exp(l - top)
	}
	return out
}

// log1mPow is log(1 − u^k).
func log1mPow(u, k float64) float64 { return math.Log1p(-math.Pow(u, k)) }

// tanhSinhLog is log ∫_lo^hi exp(g(x)) dx by the tanh-sinh rule, x =
// (lo+hi)/2 + r·tanh(π/2·sinh t), r = (hi−lo)/2, step 1/64 for t in [−4, 4]: its error falls
// like exp(−c/step) for integrands analytic inside the interval, whatever
// they do at its ends.
func tanhSinhLog(g func(float64) float64, lo, hi float64) float64 {
	const step, tMax = 1.0 / 64, 4.0
	r := (hi - lo) / 2
	var terms []float64
	top := math.Inf(-1)
	for k := -int(tMax / step); k <= int(tMax/step); k++ {
		t := float64(k) * step
		s := math.Pi / 2 * math.Sinh(t)
		// Distance from the nearer end, without the rounding of mid ± r.
		d := 2 * r / (1 + math.Exp(2*math.Abs(s)))
		x := lo + d
		if s > 0 {
			x = hi - d
		}
		if d == 0 || x <= lo || x >= hi {
			continue
		}
		c := math.Cosh(s)
		logW := math.Log(step*r*math.Pi/2*math.Cosh(t)) - 2*math.Log(c)
		v := g(x) + logW
		terms = append(terms, v)
		top = max(top, v)
	}
	var sum float64
	for _, v := range terms {
		sum += math.Exp(v - top)
	}
	return top + math.Log(sum)
}

// The oracle against closed forms: Beta(½, ½) (CDF (2/π)·asin √x) and
// Beta(a, 1) (CDF x^a), so that the property tests' reference is itself
// checked.
func TestCellOracleClosedForms(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		cdf  func(float64) float64
	}{
		{0.5, 0.5, func(x float64) float64 { return 2 / math.Pi * math.Asin(math.Sqrt(x)) }},
		{0.3, 1, func(x float64) float64 { return math.Pow(x, 0.3) }},
		{1, 0.05, func(x float64) float64 { return 1 - math.Pow(1-x, 0.05) }},
	} {
		for _, points := range []int{3, 7, 50} {
			got := oracleCellMasses(tc.a, tc.b, points)
			want := make([]float64, points)
			var top float64
			for i := range want {
				lo := max(0, (float64(i)-0.5)/float64(points-1))
				hi := min(1, (float64(i)+0.5)/float64(points-1))
				want[i] = tc.cdf(hi) - tc.cdf(lo)
				top = max(top, want[i])
			}
			for i := range want {
				if w := want[i] / top; math.Abs(got[i]-w) > 1e-12*w {
					t.Fatalf("Beta(%v, %v) on %d points, cell %d: oracle %.17g, closed form %.17g", tc.a, tc.b, points, i, got[i], w)
				}
			}
		}
	}
}
