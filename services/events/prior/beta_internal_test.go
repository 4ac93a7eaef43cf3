package prior

import (
	"math"
	"testing"
)

// The quadrature that stands in for the incomplete beta function where it
// fails agrees with it where both work, including deep in a tail just above
// where the incomplete beta function would underflow, and including the
// cells at a singular end (substitution) and the cells that hold the mean.
func TestQuadratureAgreesWithIncompleteBeta(t *testing.T) {
	for _, ab := range [][2]float64{{0.5, 0.5}, {0.2, 3}, {3, 0.2}, {0.5, 2000}, {2000, 0.5}, {0.9, 50}, {0.05, 0.7}, {0.5, 90_000}, {0.0011, 0.5}} {
		a, b := ab[0], ab[1]
		checked := 0
		for _, points := range []int{3, 10, 101, 1000} {
			for i := range points {
				lo, hi, loC, hiC := cellEnds(i, points)
				var mass, scale float64
				switch mean := a / (a + b); {
				case hi <= mean:
					scale, mass = incBetaDiff(a, b, hi, lo)
				case lo >= mean:
					scale, mass = incBetaDiff(b, a, loC, hiC)
				default:
					continue
				}
				if scale < tailFloor || mass < cancelBelow*scale {
					continue // the incomplete beta function is not the reference here
				}
				checked++
				q := betaQuadLogMass(a, b, lo, hi, loC, hiC)
				if d := math.Abs(q - math.Log(mass)); d > 1e-10 {
					t.Fatalf("Beta(%v, %v) on %d points, cell %d [%v, %v]: quadrature log mass %.17g, incomplete beta %.17g (|diff| %.2g)",
						a, b, points, i, lo, hi, q, math.Log(mass), d)
				}
			}
		}
		if checked == 0 {
			t.Fatalf("Beta(%v, %v): no cell checked", a, b)
		}
	}
}

// The cells far in the tail of Beta(0.5, 5000), beyond float64's range,
// have finite log masses, which agree with a plain composite Simpson rule
// on 20,000 panels per cell, in log space.
func TestDeepTail(t *testing.T) {
	a, b, points := 0.5, 5000.0, 101
	logf := func(x float64) float64 { return (a-1)*math.Log(x) + (b-1)*math.Log1p(-x) }
	for i := 60; i < points-1; i++ {
		lo, hi, loC, hiC := cellEnds(i, points)
		if scale, _ := incBetaDiff(b, a, loC, hiC); scale > 0 {
			t.Fatalf("cell %d is not beyond float64's range: %v", i, scale)
		}
		got := betaLogCellMass(a, b, i, points)
		const n = 20_000
		step := (hi - lo) / n
		top := logf(lo) // the density falls across the cell
		var sum float64
		for k := 0; k <= n; k++ {
			wk := 2.0 + 2*float64(k%2)
			if k == 0 || k == n {
				wk = 1
			}
			sum += wk * math.Exp(logf(lo+float64(k)*step)-top)
		}
		want := top + math.Log(sum*step/3) - lbetaRef(a, b)
		if d := math.Abs(got - want); d > 1e-9*math.Abs(want) {
			t.Fatalf("cell %d: log mass %.17g, Simpson %.17g", i, got, want)
		}
	}
}

func lbetaRef(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}
