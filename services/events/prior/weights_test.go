package prior_test

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/events/prior"
)

var gridSizes = []int{2, 3, 4, 10, 101, 999, 10_000}

// oldLogWeight is the grid weight every prior had before cells existed,
// copied from the code of that time: the density at i/(points-1).
func oldLogWeight(spec string, x float64) float64 {
	xlogy := func(k, x float64) float64 {
		if k == 0 {
			return 0
		}
		return k * math.Log(x)
	}
	name, arg, _ := strings.Cut(spec, ":")
	var ps []float64
	for _, f := range strings.Split(arg, ",") {
		v, _ := strconv.ParseFloat(f, 64)
		ps = append(ps, v)
	}
	switch name {
	case "step":
		if x > ps[0] {
			return 0
		}
		return math.Inf(-1)
	case "uniform":
		return 0
	case "beta":
		return xlogy(ps[0]-1, x) + xlogy(ps[1]-1, 1-x)
	}
	panic(spec)
}

// The textbook's weights stay bit for bit what they were: every prior that
// was valid before (step, uniform, beta with A, B >= 1) on every grid size.
func TestLogWeightsOfExistingPriorsAreUnchanged(t *testing.T) {
	for _, spec := range []string{
		"step:0.1", "step:0", "step:0.5", "step:0.999", "uniform",
		"beta:1,1", "beta:2,2", "beta:3,1", "beta:1,5", "beta:2.5,7.25", "beta:30,30",
		"beta:1,1.0000001", "beta:1e300,1", "beta:1,1e300", "beta:1e5,2e5",
	} {
		p := prior.MustParse(spec)
		if p.Cells() {
			t.Fatalf("%s weighs cells", spec)
		}
		for _, points := range gridSizes {
			got := p.LogWeights(points)
			if len(got) != points {
				t.Fatalf("%s on %d points: %d weights", spec, points, len(got))
			}
			for i, w := range got {
				want := oldLogWeight(spec, float64(i)/float64(points-1))
				if math.Float64bits(w) != math.Float64bits(want) {
					t.Fatalf("%s on %d points, point %d: log weight %v, was %v", spec, points, i, w, want)
				}
			}
		}
	}
}

// cell is the cell of point i of linspace(0, 1, points) as exact ratios:
// lo = l/k2, hi = h/k2, and 1-lo, 1-hi likewise.
func cell(i, points int) (lo, hi, loC, hiC float64) {
	k2 := 2 * (points - 1)
	l, h := max(0, 2*i-1), min(k2, 2*i+1)
	return float64(l) / float64(k2), float64(h) / float64(k2), float64(k2-l) / float64(k2), float64(k2-h) / float64(k2)
}

// closedForm is a beta prior whose cell masses have a closed form, written
// so that nothing cancels: the reference the code's incomplete beta
// function and quadrature are held to.
type closedForm struct {
	spec string
	mass func(lo, hi, loC, hiC float64) float64
}

// powerCDF is Beta(a, 1), CDF x^a: hi^a − lo^a = hi^a·(1 − (lo/hi)^a).
func powerCDF(a float64) closedForm {
	return closedForm{fmt.Sprintf("beta:%v,1", a), func(lo, hi, _, _ float64) float64 {
		return -math.Pow(hi, a) * math.Expm1(a*math.Log(lo/hi))
	}}
}

// powerSurvival is Beta(1, b), 1 − CDF (1−x)^b.
func powerSurvival(b float64) closedForm {
	return closedForm{fmt.Sprintf("beta:1,%v", b), func(_, _, loC, hiC float64) float64 {
		return -math.Pow(loC, b) * math.Expm1(b*math.Log(hiC/loC))
	}}
}

// arcsine is Beta(½, ½), Jeffreys' prior, CDF (2/π)·asin(√x). With
// θ = asin(√x), sin(θ_hi − θ_lo) = √(hi·(1−lo)) − √(lo·(1−hi)), which is
// (hi − lo)/(√(hi·(1−lo)) + √(lo·(1−hi))).
var arcsine = closedForm{"beta:0.5,0.5", func(lo, hi, loC, hiC float64) float64 {
	return 2 / math.Pi * math.Asin((hi-lo)/(math.Sqrt(hi*loC)+math.Sqrt(lo*hiC)))
}}

// Cell priors weigh each point by the prior's mass over its cell, to 1e-10
// of the closed form (cells where the incomplete beta difference cancels,
// such as the middle of Beta(0.01, 1) on 10,000 points, are integrated
// instead: these cases hold both ways).
func TestCellMassesMatchClosedForms(t *testing.T) {
	for _, cf := range []closedForm{
		arcsine, powerCDF(0.5), powerCDF(0.01), powerCDF(0.3), powerCDF(0.999), powerCDF(1e-6),
		powerSurvival(0.2), powerSurvival(0.001), powerSurvival(0.75),
	} {
		p := prior.MustParse(cf.spec)
		if !p.Cells() {
			t.Fatalf("%s does not weigh cells", cf.spec)
		}
		for _, points := range gridSizes {
			var sum float64
			for i, w := range p.LogWeights(points) {
				want := cf.mass(cell(i, points))
				got := math.Exp(w)
				sum += got
				if math.Abs(got-want) > 1e-10*want {
					t.Fatalf("%s on %d points, cell %d: mass %.17g, closed form %.17g (rel. error %.2g)",
						cf.spec, points, i, got, want, math.Abs(got-want)/want)
				}
			}
			if math.Abs(sum-1) > 1e-12 {
				t.Errorf("%s on %d points: cell masses sum to %.17g", cf.spec, points, sum)
			}
		}
	}
}

// The cell weights are a proper distribution for any parameters, including
// those far beyond where the incomplete beta function can be used
// (everything is then integrated in log space): finite, summing to 1, and
// the end cell that holds the mean holds nearly all of it.
func TestCellMassesOfExtremePriors(t *testing.T) {
	for _, ab := range [][2]float64{
		{0.5, 1e4}, {0.5, 99_999}, {0.5, 100_001}, {0.3, 1e7}, {0.999999, 1e6}, {1e-10, 1e10},
		{0.001, 1e100}, {0.3, 1e306}, {5e-324, 0.5}, {1e-300, 1e-300}, {1e-6, 1e-6}, {0.01, 0.01},
	} {
		for _, swap := range []bool{false, true} {
			a, b := ab[0], ab[1]
			if swap {
				a, b = b, a
			}
			spec := fmt.Sprintf("beta:%v,%v", a, b)
			p := prior.MustParse(spec)
			for _, points := range []int{3, 101, 1000} {
				w := p.LogWeights(points)
				var sum float64
				for i, v := range w {
					if math.IsNaN(v) || math.IsInf(v, 1) {
						t.Fatalf("%s on %d points: cell %d has log weight %v", spec, points, i, v)
					}
					sum += math.Exp(v)
				}
				if math.Abs(sum-1) > 1e-9 {
					t.Errorf("%s on %d points: cell masses sum to %.17g", spec, points, sum)
				}
				if !p.CoversInterior(points) {
					t.Errorf("%s on %d points: no interior weight", spec, points)
				}
			}
		}
	}
}

func TestLogWeightsEdges(t *testing.T) {
	var zero prior.Prior
	if zero.LogWeights(10) != nil || zero.Cells() {
		t.Error("the zero Prior has weights")
	}
	p := prior.MustParse("beta:0.5,0.5")
	if p.LogWeights(1) != nil || p.LogWeights(0) != nil {
		t.Error("weights for a grid of fewer than 2 points")
	}
	// Each call gets its own slice, though the cell masses are kept.
	w := p.LogWeights(50)
	want := w[7]
	w[7] = 42
	if again := p.LogWeights(50); again[7] != want {
		t.Fatalf("a caller's change reached the kept weights: %v", again[7])
	}
	// More grids than are kept: the answers stay the same.
	for points := 3; points < 200; points++ {
		prior.MustParse("beta:0.2,3").LogWeights(points)
	}
	if again := p.LogWeights(50); again[7] != want {
		t.Fatalf("after many grids, cell 7 of 50 = %v, want %v", again[7], want)
	}
	// The density is infinite where the cells are needed.
	if d := p.LogWeight(0); !math.IsInf(d, 1) {
		t.Errorf("beta:0.5,0.5 at 0: log density %v, want +Inf", d)
	}
}

func TestCoversInteriorCells(t *testing.T) {
	for _, spec := range []string{"beta:0.5,0.5", "beta:0.2,3", "beta:3,0.2", "beta:1e-6,1e-6", "beta:0.5,1e6"} {
		p := prior.MustParse(spec)
		for points := 0; points <= 300; points++ {
			if got := p.CoversInterior(points); got != (points >= 3) {
				t.Fatalf("%s on %d points: CoversInterior %v", spec, points, got)
			}
		}
	}
}
