package model_test

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// Tolerances the issue asks for.
const (
	pointTol = 1e-9  // |posterior - closed form| on every grid point
	sumTol   = 1e-12 // |Σ posterior - 1|
	maxN     = 1_000_000
)

// ---------------------------------------------------------------------------
// The oracle: the closed form prior·p^w·(1-p)^(n-w), normalised, computed in
// math/big at 512 bits. big.Float's exponent range is effectively unbounded,
// so p^w never underflows, and nothing here shares code with the package: no
// logarithms, no max subtraction, just products and one division.

const oraclePrec = 512

func bigf(x float64) *big.Float { return new(big.Float).SetPrec(oraclePrec).SetFloat64(x) }

// bigPow is x^k by exponentiation by squaring; x^0 = 1, including 0^0.
func bigPow(x *big.Float, k int64) *big.Float {
	if k < 0 {
		panic("negative exponent")
	}
	z := bigf(1)
	b := new(big.Float).SetPrec(oraclePrec).Set(x)
	for k > 0 {
		if k&1 == 1 {
			z.Mul(z, b)
		}
		k >>= 1
		if k > 0 {
			b.Mul(b, b)
		}
	}
	return z
}

// oraclePriorWeights is the unnormalised prior weight of each grid point:
// the density at the point, or for a Beta prior with A < 1 or B < 1 the
// prior's mass over the point's cell (oracleCellMasses).
func oraclePriorWeights(grid []float64, spec string) []*big.Float {
	out := make([]*big.Float, len(grid))
	if a, b, ok := cellBeta(spec); ok {
		for i, m := range oracleCellMasses(a, b, len(grid)) {
			out[i] = bigf(m)
		}
		return out
	}
	for i, p := range grid {
		out[i] = oraclePriorWeight(spec, p)
	}
	return out
}

// oraclePriorWeight is the unnormalised prior density at p for the prior
// spec, parsed here independently of model.ParsePrior. Only the forms the
// generators produce are understood: step:T, uniform, beta:A,B (A, B integer).
func oraclePriorWeight(spec string, p float64) *big.Float {
	switch {
	case spec == "uniform":
		return bigf(1)
	case strings.HasPrefix(spec, "step:"):
		th, err := strconv.ParseFloat(strings.TrimPrefix(spec, "step:"), 64)
		if err != nil {
			panic(err)
		}
		if p > th {
			return bigf(1)
		}
		return bigf(0)
	case strings.HasPrefix(spec, "beta:"):
		var a, b int64
		if _, err := fmt.Sscanf(spec, "beta:%d,%d", &a, &b); err != nil {
			panic(err)
		}
		q := new(big.Float).SetPrec(oraclePrec).Sub(bigf(1), bigf(p))
		return new(big.Float).SetPrec(oraclePrec).Mul(bigPow(bigf(p), a-1), bigPow(q, b-1))
	}
	panic("oracle does not know prior " + spec)
}

// oracle returns the normalised closed-form posterior on grid, rounded to
// float64, and whether it is defined (the unnormalised mass is not all zero).
func oracle(grid []float64, spec string, c model.Counts) (post []float64, defined bool) {
	num := make([]*big.Float, len(grid))
	total := bigf(0)
	weights := oraclePriorWeights(grid, spec)
	for i, p := range grid {
		bp := bigf(p) // exact: p is a float64
		bq := new(big.Float).SetPrec(oraclePrec).Sub(bigf(1), bp)
		v := weights[i]
		v.Mul(v, bigPow(bp, c.W))
		v.Mul(v, bigPow(bq, c.N-c.W))
		num[i] = v
		total.Add(total, v)
	}
	if total.Sign() == 0 {
		return nil, false
	}
	post = make([]float64, len(grid))
	for i, v := range num {
		post[i], _ = new(big.Float).SetPrec(oraclePrec).Quo(v, total).Float64()
	}
	return post, true
}

// oraclePriorSupport reports whether the prior spec puts weight on any of
// grid's points, i.e. whether model.New should accept it.
func oraclePriorSupport(grid []float64, spec string) bool {
	// Only points strictly inside (0, 1) count: weight on an end point alone
	// can be ruled out by one observation, and New rejects such a prior.
	for _, w := range oraclePriorWeights(grid, spec)[1 : len(grid)-1] {
		if w.Sign() > 0 {
			return true
		}
	}
	return false
}

// linspace is the grid as the package documents it, computed the same way.
func linspace(points int) []float64 {
	g := make([]float64, points)
	for i := range g {
		g[i] = float64(i) / float64(points-1)
	}
	return g
}

// ---------------------------------------------------------------------------
// Generators.

var (
	trialGen  = rapid.SampledFrom([]model.Trial{model.Water, model.Land})
	pointsGen = rapid.IntRange(model.MinGridPoints, 300)

	// priorGen draws a prior in its wire form, so a counterexample prints
	// it readably: step:T for a few T, uniform, beta:A,B with A, B in 1..5,
	// or a Beta prior weighed by cells (cellPriorGen).
	priorGen = rapid.OneOf(
		cellPriorGen,
		rapid.Map(rapid.SampledFrom([]float64{0.1, 0, 0.25, 0.5, 0.9}), func(th float64) string {
			return "step:" + strconv.FormatFloat(th, 'g', -1, 64)
		}),
		rapid.Just("uniform"),
		rapid.Custom(func(t *rapid.T) string {
			a := rapid.IntRange(1, 5).Draw(t, "A")
			b := rapid.IntRange(1, 5).Draw(t, "B")
			return fmt.Sprintf("beta:%d,%d", a, b)
		}),
	)

	// cellPriorGen draws a Beta prior with A < 1 or B < 1: Jeffreys'
	// beta:0.5,0.5, beta:0.2,3, both parameters in [0.005, 1), or one there
	// and the other in [1, 20], on either side.
	cellPriorGen = rapid.OneOf(
		rapid.Just("beta:0.5,0.5"),
		rapid.Just("beta:0.2,3"),
		rapid.Custom(func(t *rapid.T) string {
			small := rapid.Float64Range(0.005, math.Nextafter(1, 0))
			a, b := small.Draw(t, "A"), small.Draw(t, "B")
			if rapid.Bool().Draw(t, "mixed") {
				b = rapid.Float64Range(1, 20).Draw(t, "B≥1")
			}
			if rapid.Bool().Draw(t, "swap") {
				a, b = b, a
			}
			return "beta:" + strconv.FormatFloat(a, 'g', -1, 64) + "," + strconv.FormatFloat(b, 'g', -1, 64)
		}),
	)

	// countsGen draws w <= n <= maxN, half the time from small n, where the
	// posterior is wide and the grid's discreteness shows.
	countsGen = rapid.Custom(func(t *rapid.T) model.Counts {
		n := rapid.OneOf(rapid.Int64Range(0, 50), rapid.Int64Range(0, maxN)).Draw(t, "n")
		w := rapid.Int64Range(0, n).Draw(t, "w")
		return model.Counts{W: w, N: n}
	})
)

// drawModel draws a prior and a grid size and builds the model. ok is false
// (and the case is done) when the prior has no weight on the grid, which
// New must then reject.
func drawModel(t *rapid.T) (m *model.Model, spec string, ok bool) {
	points := pointsGen.Draw(t, "points")
	spec = priorGen.Draw(t, "prior")
	prior, err := model.ParsePrior(spec)
	if err != nil {
		t.Fatalf("ParsePrior(%q): %v", spec, err)
	}
	m, err = model.New(points, prior)
	support := oraclePriorSupport(linspace(points), spec)
	switch {
	case err != nil && support:
		t.Fatalf("New(%d, %s) rejected a prior with weight on the grid: %v", points, spec, err)
	case err == nil && !support:
		t.Fatalf("New(%d, %s) accepted a prior with no weight on the grid", points, spec)
	}
	return m, spec, err == nil
}

// checkModels checks prop against models drawn by drawModel, leaving out
// the draws drawModel rightly rejects.
func checkModels(t *testing.T, prop func(t *rapid.T, m *model.Model, spec string)) {
	rapid.Check(t, func(t *rapid.T) {
		if m, spec, ok := drawModel(t); ok {
			prop(t, m, spec)
		}
	})
}

func countTrials(ts []model.Trial) (c model.Counts) {
	for _, tr := range ts {
		c.N++
		if tr == model.Water {
			c.W++
		}
	}
	return c
}

// checkClosedForm asserts the model's posterior is the closed form to
// pointTol on every grid point, sums to 1 to sumTol and holds no NaN.
func checkClosedForm(t *rapid.T, m *model.Model, spec string) {
	grid, c := m.Grid(), m.Counts()
	if want := linspace(len(grid)); !equalBits(grid, want) {
		t.Fatalf("Grid() = %v, want i/(P-1)", grid)
	}
	post := m.Posterior()
	if len(post) != len(grid) {
		t.Fatalf("posterior has %d points, grid %d", len(post), len(grid))
	}
	want, defined := oracle(grid, spec, c)
	for i, v := range post {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("prior %s, %d points, counts %+v: posterior[%d] (p=%v) = %v; closed form defined: %v (the prior's support is ruled out by the data when false)",
				spec, len(grid), c, i, grid[i], v, defined)
		}
	}
	if !defined {
		t.Fatalf("prior %s, %d points, counts %+v: closed form is 0/0 but Posterior returned %v", spec, len(grid), c, post)
	}
	for i := range post {
		if d := math.Abs(post[i] - want[i]); d > pointTol {
			t.Fatalf("prior %s, %d points, counts %+v: point %d (p=%v): posterior %.17g, closed form %.17g, |diff| %.3g > %g",
				spec, len(grid), c, i, grid[i], post[i], want[i], d, pointTol)
		}
	}
	if s := sum(post); math.Abs(s-1) > sumTol {
		t.Fatalf("prior %s, %d points, counts %+v: posterior sums to %.17g", spec, len(grid), c, s)
	}
	// The summary follows: its mean is the closed form's.
	var mean float64
	for i, p := range grid {
		mean += p * want[i]
	}
	if got := model.Summarize(grid, post, model.DefaultHPDIProb).Mean; math.Abs(got-mean) > pointTol {
		t.Fatalf("prior %s, %d points, counts %+v: mean %.17g, closed form %.17g", spec, len(grid), c, got, mean)
	}
}

func equalBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Properties.

// (1) Trials fed one by one through Observe give the closed form.
func TestPropObserveSequenceIsClosedForm(t *testing.T) {
	checkModels(t, func(t *rapid.T, m *model.Model, spec string) {
		trials := rapid.SliceOfN(trialGen, 0, 3000).Draw(t, "trials")
		for _, tr := range trials {
			m.Observe(tr)
		}
		if got, want := m.Counts(), countTrials(trials); got != want {
			t.Fatalf("counts %+v after %d trials, want %+v", got, len(trials), want)
		}
		checkClosedForm(t, m, spec)
	})
}

// (2) Large counts, up to n = 1,000,000, set at once, give the closed form.
func TestPropLargeCountsAreClosedForm(t *testing.T) {
	checkModels(t, func(t *rapid.T, m *model.Model, spec string) {
		c := countsGen.Draw(t, "counts")
		if err := m.SetCounts(c); err != nil {
			t.Fatalf("SetCounts(%+v): %v", c, err)
		}
		checkClosedForm(t, m, spec)
	})
}

// (3) The same multiset of trials in two orders gives the identical posterior.
func TestPropOrderIndependence(t *testing.T) {
	checkModels(t, func(t *rapid.T, m1 *model.Model, _ string) {
		m2, _ := model.New(len(m1.Grid()), m1.Prior())
		base := countsGen.Draw(t, "base")
		trials := rapid.SliceOfN(trialGen, 0, 500).Draw(t, "trials")
		perm := rapid.Permutation(trials).Draw(t, "permuted")
		for _, m := range []*model.Model{m1, m2} {
			if err := m.SetCounts(base); err != nil {
				t.Fatal(err)
			}
		}
		for i := range trials {
			m1.Observe(trials[i])
			m2.Observe(perm[i])
		}
		sameState(t, m1, m2)
	})
}

// sameState fails unless a and b hold the same counts and bit for bit the
// same posterior.
func sameState(t *rapid.T, a, b *model.Model) {
	if a.Counts() != b.Counts() {
		t.Fatalf("counts differ: %+v vs %+v", a.Counts(), b.Counts())
	}
	if p1, p2 := a.Posterior(), b.Posterior(); !equalBits(p1, p2) {
		t.Fatalf("posteriors differ:\n%v\n%v", p1, p2)
	}
}

// (4) Observing a then b (on top of preset counts) equals SetCounts of the
// combined counts.
func TestPropIncrementalEqualsBatch(t *testing.T) {
	checkModels(t, func(t *rapid.T, inc *model.Model, _ string) {
		batch, _ := model.New(len(inc.Grid()), inc.Prior())
		base := countsGen.Draw(t, "base")
		a := rapid.SliceOfN(trialGen, 0, 300).Draw(t, "a")
		b := rapid.SliceOfN(trialGen, 0, 300).Draw(t, "b")
		if err := inc.SetCounts(base); err != nil {
			t.Fatal(err)
		}
		for _, tr := range a {
			inc.Observe(tr)
		}
		for _, tr := range b {
			inc.Observe(tr)
		}
		ca, cb := countTrials(a), countTrials(b)
		total := model.Counts{W: base.W + ca.W + cb.W, N: base.N + ca.N + cb.N}
		if err := batch.SetCounts(total); err != nil {
			t.Fatal(err)
		}
		sameState(t, inc, batch) // batch holds total
	})
}

// (5) Summarize: HPDI.Lo <= MAP <= HPDI.Hi, the interval holds at least prob
// of the mass, and no strictly narrower contiguous window does (brute force).
func TestPropSummaryHPDI(t *testing.T) {
	checkModels(t, func(t *rapid.T, m *model.Model, spec string) {
		c := countsGen.Draw(t, "counts")
		if err := m.SetCounts(c); err != nil {
			t.Fatal(err)
		}
		grid, post := m.Grid(), m.Posterior()
		for _, v := range post {
			if math.IsNaN(v) {
				// An undefined posterior is reported by properties (1) and (2).
				t.Skipf("prior %s, %d points, counts %+v: posterior has NaN", spec, len(grid), c)
			}
		}
		// Each case is checked at a drawn prob and at a few fixed ones.
		drawn := rapid.Float64Range(0.5, 0.999).Draw(t, "prob")
		for _, prob := range []float64{drawn, model.DefaultHPDIProb, 0.5, 0.8, 0.95, 0.99} {
			checkHPDI(t, spec, c, grid, post, prob)
		}
	})
}

// checkHPDI asserts Summarize and HPDI on post at prob.
func checkHPDI(t *rapid.T, spec string, c model.Counts, grid, post []float64, prob float64) {
	const tol = 1e-12 // rounding between two summation orders
	s := model.Summarize(grid, post, prob)
	lo, hi := model.HPDI(post, prob)
	if s.HPDI.Prob != prob || s.HPDI.Lo != grid[lo] || s.HPDI.Hi != grid[hi] {
		t.Fatalf("Summarize HPDI %+v, HPDI indices [%d,%d] = [%v,%v]", s.HPDI, lo, hi, grid[lo], grid[hi])
	}
	if !(0 <= lo && lo <= hi && hi < len(grid)) {
		t.Fatalf("HPDI indices [%d,%d] on %d points", lo, hi, len(grid))
	}
	// The MAP lies inside, unless another point of the same (maximal) mass
	// does: a flat posterior has many MAPs.
	top := 0.0
	for i := lo; i <= hi; i++ {
		top = max(top, post[i])
	}
	if !(s.HPDI.Lo <= s.MAP && s.MAP <= s.HPDI.Hi) && top < slices.Max(post) {
		t.Fatalf("prior %s, %d points, counts %+v, prob %v: MAP %v outside HPDI [%v,%v]",
			spec, len(grid), c, prob, s.MAP, s.HPDI.Lo, s.HPDI.Hi)
	}
	var inside float64
	for i := lo; i <= hi; i++ {
		inside += post[i]
	}
	if inside < prob-tol {
		t.Fatalf("prior %s, %d points, counts %+v: HPDI [%d,%d] holds %.17g < prob %v",
			spec, len(grid), c, lo, hi, inside, prob)
	}
	// Every window of hi-lo or fewer points, i.e. strictly narrower.
	width := hi - lo
	for l := range post {
		var w float64
		for r := l; r < len(post) && r-l < width; r++ {
			w += post[r]
			if w >= prob+tol {
				t.Fatalf("prior %s, %d points, counts %+v, prob %v: window [%d,%d] holds %.17g >= prob but is narrower than HPDI [%d,%d]",
					spec, len(grid), c, prob, l, r, w, lo, hi)
			}
		}
	}
}

// (6) The percentile interval: lo is the first point where the cumulative
// mass reaches (1−prob)/2 and hi the first where it reaches 1−(1−prob)/2,
// against the cumulative mass summed exactly (big.Float) from the start for
// every point; where the exact sum is within the documented tolerance of a
// bound, either neighbour is right.
func TestPropPercentileInterval(t *testing.T) {
	checkModels(t, func(t *rapid.T, m *model.Model, spec string) {
		c := countsGen.Draw(t, "counts")
		if err := m.SetCounts(c); err != nil {
			t.Fatal(err)
		}
		grid, post := m.Grid(), m.Posterior()
		drawn := rapid.Float64Range(0.01, 0.999).Draw(t, "prob")
		for _, prob := range []float64{drawn, model.DefaultHPDIProb, 0.5, 0.95, 0.99} {
			lo, hi := model.PI(post, prob)
			tail := (1 - prob) / 2
			wantLo, loAmbiguous := firstReaching(post, tail)
			wantHi, hiAmbiguous := firstReaching(post, 1-tail)
			if (lo != wantLo && !loAmbiguous) || (hi != wantHi && !hiAmbiguous) || lo > hi {
				t.Fatalf("prior %s, %d points, counts %+v, prob %v: PI [%d,%d], brute force [%d,%d]",
					spec, len(grid), c, prob, lo, hi, wantLo, wantHi)
			}
			s := model.Summarize(grid, post, prob)
			if s.PI != (model.Interval{Prob: prob, Lo: grid[lo], Hi: grid[hi]}) {
				t.Fatalf("Summarize PI %+v, PI indices [%d,%d]", s.PI, lo, hi)
			}
		}
	})
}

// firstReaching is the first index where the exact cumulative sum of mass
// reaches target, and whether an index next to it would do as well within
// PI's relative tolerance of 1e-12.
func firstReaching(mass []float64, target float64) (int, bool) {
	cdf := bigf(0)
	tgt := bigf(target)
	for i, m := range mass {
		cdf.Add(cdf, bigf(m))
		if cdf.Cmp(tgt) >= 0 {
			d, _ := new(big.Float).Sub(cdf, tgt).Float64()
			prev, _ := new(big.Float).Sub(tgt, new(big.Float).Sub(cdf, bigf(m))).Float64()
			return i, d <= 2e-12*target || prev <= 2e-12*target
		}
	}
	return len(mass) - 1, true
}

// The oracle itself, on cases small enough to check by hand.
func TestOracleSanity(t *testing.T) {
	// Uniform, 3 points {0, .5, 1}, w=1 n=2: p(1-p) = {0, .25, 0}.
	got, ok := oracle([]float64{0, 0.5, 1}, "uniform", model.Counts{W: 1, N: 2})
	if !ok || got[0] != 0 || got[1] != 1 || got[2] != 0 {
		t.Fatalf("oracle = %v, %v", got, ok)
	}
	// beta:2,1 is 2p: on {0, .5, 1} the prior is {0, 1/3, 2/3}.
	got, _ = oracle([]float64{0, 0.5, 1}, "beta:2,1", model.Counts{})
	if got[0] != 0 || math.Abs(got[1]-1.0/3) > 1e-16 || math.Abs(got[2]-2.0/3) > 1e-16 {
		t.Fatalf("beta:2,1 oracle = %v", got)
	}
	// 0.5^1e6 underflows float64 but not big.Float.
	if bigPow(bigf(0.5), maxN).Sign() <= 0 {
		t.Fatal("bigPow underflowed")
	}
	// step:0.5 rules out p <= 0.5.
	got, _ = oracle([]float64{0, 0.5, 1}, "step:0.5", model.Counts{})
	if got[0] != 0 || got[1] != 0 || got[2] != 1 {
		t.Fatalf("step oracle = %v", got)
	}
}
