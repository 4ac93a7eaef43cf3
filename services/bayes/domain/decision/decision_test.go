package decision_test

import (
	"math"
	"slices"
	"sort"
	"testing"

	"pgregory.net/rapid"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/decision"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

const exactTol = 1e-12

// posterior is a model's grid posterior after w waters in n trials.
func posterior(t interface {
	Helper()
	Fatal(...any)
}, points int, prior string, w, n int64) decision.Dist {
	t.Helper()
	p, err := model.ParsePrior(prior)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(points, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetCounts(model.Counts{W: w, N: n}); err != nil {
		t.Fatal(err)
	}
	return decision.Dist{Mass: m.Posterior()}
}

// genDist draws a model's posterior: a grid size, a prior and counts, so
// that grids of different sizes share values (and tie) as real models do.
func genDist(t *rapid.T, label string) decision.Dist {
	points := rapid.SampledFrom([]int{3, 4, 5, 7, 11, 13, 21, 31, 41, 61}).Draw(t, label+" points")
	prior := rapid.SampledFrom([]string{"uniform", "step:0.1", "step:0.4", "beta:2,2", "beta:1,3", "beta:7.5,1"}).Draw(t, label+" prior")
	n := rapid.Int64Range(0, 300).Draw(t, label+" n")
	w := rapid.Int64Range(0, n).Draw(t, label+" w")
	return posterior(t, points, prior, w, n)
}

// bruteBest is the definition, summed over every combination of grid
// points (O(Π grid)): the largest value wins, a tie is split evenly.
func bruteBest(ds []decision.Dist) (prob, loss []float64) {
	prob, loss = make([]float64, len(ds)), make([]float64, len(ds))
	idx := make([]int, len(ds))
	for {
		w := 1.0
		top := math.Inf(-1)
		for j, d := range ds {
			w *= d.Mass[idx[j]]
			top = max(top, d.X(idx[j]))
		}
		if w > 0 {
			var tied []int
			for j, d := range ds {
				if d.X(idx[j]) == top {
					tied = append(tied, j)
				}
				loss[j] += w * (top - d.X(idx[j]))
			}
			for _, j := range tied {
				prob[j] += w / float64(len(tied))
			}
		}
		j := 0
		for j < len(ds) {
			idx[j]++
			if idx[j] < len(ds[j].Mass) {
				break
			}
			idx[j] = 0
			j++
		}
		if j == len(ds) {
			return prob, loss
		}
	}
}

func TestCompareBestMatchesBruteForce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.IntRange(2, 3).Draw(t, "models")
		ds := make([]decision.Dist, k)
		for i := range ds {
			ds[i] = genDist(t, string(rune('a'+i)))
		}
		got, err := decision.CompareBest(ds)
		if err != nil {
			t.Fatal(err)
		}
		prob, loss := bruteBest(ds)
		var sum float64
		for i := range ds {
			sum += got.ProbBest[i]
			if d := math.Abs(got.ProbBest[i] - prob[i]); d > exactTol {
				t.Fatalf("model %d: P(best) %.17g, brute force %.17g (off by %g)", i, got.ProbBest[i], prob[i], d)
			}
			if d := math.Abs(got.ExpectedLoss[i] - loss[i]); d > exactTol {
				t.Fatalf("model %d: expected loss %.17g, brute force %.17g (off by %g)", i, got.ExpectedLoss[i], loss[i], d)
			}
		}
		if math.Abs(sum-1) > exactTol {
			t.Fatalf("P(best) sums to %.17g", sum)
		}
	})
}

// Ties split evenly: two identical models are each best half the time,
// and a model tied with two others at a point gets a third of it.
func TestCompareBestSplitsTiesEvenly(t *testing.T) {
	same := posterior(t, 3, "uniform", 0, 0) // 1/3 at 0, ½, 1 each
	got, err := decision.CompareBest([]decision.Dist{same, same, same})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got.ProbBest {
		if math.Abs(p-1.0/3) > exactTol {
			t.Fatalf("model %d of three identical: P(best) %v, want 1/3", i, p)
		}
	}
	// Grids of 3 and 5 points share 0, ½ and 1.
	a := decision.Dist{Mass: []float64{0, 1, 0}}           // p = ½
	b := decision.Dist{Mass: []float64{0, 0.5, 0.5, 0, 0}} // p = ¼ or ½
	got, err = decision.CompareBest([]decision.Dist{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.5 + 0.5*0.5; math.Abs(got.ProbBest[0]-want) > exactTol {
		t.Fatalf("P(a best) %v, want %v (wins at ¼, ties at ½)", got.ProbBest[0], want)
	}
}

// closedFormBBeatsA is P(X_b > X_a) for X_a ~ Beta(a1, b1) and X_b ~
// Beta(a2, b2) with a whole a2: the finite sum
//
//	Σ_{i=0}^{a2−1} B(a1+i, b1+b2) / ((b2+i)·B(1+i, b2)·B(a1, b1)).
func closedFormBBeatsA(a1, b1, a2, b2 float64) float64 {
	lbeta := func(x, y float64) float64 {
		gx, _ := math.Lgamma(x)
		gy, _ := math.Lgamma(y)
		gxy, _ := math.Lgamma(x + y)
		return gx + gy - gxy
	}
	var p float64
	for i := 0.0; i < a2; i++ {
		p += math.Exp(lbeta(a1+i, b1+b2) - math.Log(b2+i) - lbeta(1+i, b2) - lbeta(a1, b1))
	}
	return p
}

// On a fine grid with a Beta prior, P(p_b > p_a) approaches the closed form
// of the two Beta posteriors. The grid weighs every point alike, end points
// included, so its error is of the order of the step h times the
// posteriors' densities at the end points (non-zero when a Beta parameter
// is 1): the tolerance is h·(1 + those densities).
func TestCompareBestAgreesWithTheBetaClosedForm(t *testing.T) {
	const points = model.MaxGridPoints
	h := 1.0 / (points - 1)
	endpoints := func(a, b float64) float64 {
		var f float64
		if a == 1 {
			f += b // Beta(1, b) at 0
		}
		if b == 1 {
			f += a // Beta(a, 1) at 1
		}
		return f
	}
	rapid.Check(t, func(t *rapid.T) {
		pa := rapid.IntRange(1, 4).Draw(t, "prior A")
		pb := rapid.IntRange(1, 4).Draw(t, "prior B")
		prior := "beta:" + itoa(pa) + "," + itoa(pb)
		na := rapid.Int64Range(0, 400).Draw(t, "n a")
		wa := rapid.Int64Range(0, na).Draw(t, "w a")
		nb := rapid.Int64Range(0, 400).Draw(t, "n b")
		wb := rapid.Int64Range(0, nb).Draw(t, "w b")
		a := posterior(t, points, prior, wa, na)
		b := posterior(t, points, prior, wb, nb)
		got, err := decision.CompareBest([]decision.Dist{a, b})
		if err != nil {
			t.Fatal(err)
		}
		a1, b1 := float64(pa)+float64(wa), float64(pb)+float64(na-wa)
		a2, b2 := float64(pa)+float64(wb), float64(pb)+float64(nb-wb)
		want := closedFormBBeatsA(a1, b1, a2, b2)
		tol := h * (1 + endpoints(a1, b1) + endpoints(a2, b2))
		if d := math.Abs(got.ProbBest[1] - want); d > tol {
			t.Fatalf("P(p_b > p_a) on the grid %.6f, closed form %.6f (off by %.2g > %.2g)", got.ProbBest[1], want, d, tol)
		}
	})
}

func itoa(i int) string { return string(rune('0' + i)) }

// bruteDifference shares every pair's mass between the two lattice points
// around its difference, in proportion to nearness.
func bruteDifference(a, b decision.Dist) []float64 {
	g := max(len(a.Mass), len(b.Mass))
	out := make([]float64, 2*g-1)
	for i, ma := range a.Mass {
		for j, mb := range b.Mass {
			steps := (b.X(j) - a.X(i)) * float64(g-1)
			k := int(math.Floor(steps))
			frac := steps - float64(k)
			if frac > 1-1e-9 { // a lattice point, up to rounding
				k, frac = k+1, 0
			}
			out[k+g-1] += ma * mb * (1 - frac)
			if frac > 1e-9 {
				out[k+g] += ma * mb * frac
			}
		}
	}
	return out
}

func TestCompareDifferenceMatchesBruteForce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := genDist(t, "a"), genDist(t, "b")
		prob := rapid.Float64Range(0.05, 0.99).Draw(t, "prob")
		got, err := decision.CompareDifference(a, b, prob)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteDifference(a, b)
		var sum, mean float64
		for k, m := range got.Mass {
			sum += m
			mean += got.Grid[k] * m
			if d := math.Abs(m - want[k]); d > exactTol {
				t.Fatalf("mass at %v: %.17g, brute force %.17g", got.Grid[k], m, want[k])
			}
		}
		if math.Abs(sum-1) > exactTol {
			t.Fatalf("mass sums to %v", sum)
		}
		if exact := b.Mean() - a.Mean(); math.Abs(got.Mean-exact) > exactTol {
			t.Fatalf("mean %v, want %v", got.Mean, exact)
		}
		if math.Abs(mean-got.Mean) > exactTol {
			t.Fatalf("the lattice's mean %v is not the exact mean %v", mean, got.Mean)
		}
		var in float64
		for k, m := range got.Mass {
			if got.Grid[k] >= got.HPDI.Lo && got.Grid[k] <= got.HPDI.Hi {
				in += m
			}
		}
		if in < prob*(1-1e-9) {
			t.Fatalf("HPDI [%v, %v] holds %v < %v", got.HPDI.Lo, got.HPDI.Hi, in, prob)
		}
	})
}

type atom struct{ u, m float64 }

// bruteUplift lists every pair's uplift, sorted.
func bruteUplift(a, b decision.Dist) []atom {
	var out []atom
	for i, ma := range a.Mass {
		for j, mb := range b.Mass {
			if ma*mb == 0 {
				continue
			}
			x, y := a.X(i), b.X(j)
			var u float64
			switch {
			case x > 0:
				u = (y - x) / x
			case y > 0:
				u = math.Inf(1)
			}
			out = append(out, atom{u, ma * mb})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].u < out[j].u })
	return out
}

// quantileOf is the smallest atom whose cumulative mass reaches q.
func quantileOf(atoms []atom, q float64) float64 {
	var c float64
	for k, at := range atoms {
		c += at.m
		// Atoms equal up to rounding are one atom.
		if c >= q*(1-1e-12) && (k+1 == len(atoms) || atoms[k+1].u-at.u > 1e-12) {
			return at.u
		}
	}
	return math.Inf(1)
}

func TestCompareUpliftMatchesBruteForce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := genDist(t, "a"), genDist(t, "b")
		prob := rapid.SampledFrom([]float64{0.5, 0.8, 0.89, 0.95}).Draw(t, "prob")
		got, err := decision.CompareUplift(a, b, prob)
		if err != nil {
			t.Fatal(err)
		}
		atoms := bruteUplift(a, b)
		var mean float64
		for _, at := range atoms {
			mean += at.u * at.m
		}
		same := func(x, y float64) bool {
			return x == y || math.Abs(x-y) <= 1e-9*max(1, math.Abs(y))
		}
		if !same(got.Mean, mean) {
			t.Fatalf("mean %v, brute force %v", got.Mean, mean)
		}
		tail := (1 - prob) / 2
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"median", got.Median, quantileOf(atoms, 0.5)},
			{"lo", got.Interval.Lo, quantileOf(atoms, tail)},
			{"hi", got.Interval.Hi, quantileOf(atoms, 1-tail)},
		} {
			if !same(c.got, c.want) {
				t.Fatalf("%s %v, brute force %v", c.name, c.got, c.want)
			}
		}
	})
}

// Over 100,000 seeded draws each model's share of the wins is within 1% of
// its chance to be the best.
func TestThompsonSharesFollowTheChanceToBeBest(t *testing.T) {
	ds := []decision.Dist{
		posterior(t, 120, "uniform", 30, 100),
		posterior(t, 201, "beta:2,2", 36, 110),
		posterior(t, 61, "step:0.1", 14, 40),
	}
	best, err := decision.CompareBest(ds)
	if err != nil {
		t.Fatal(err)
	}
	wins := make([]int, len(ds))
	total := 0
	for seed := range uint64(10) {
		got, err := decision.Thompson(ds, decision.MaxDraws, seed)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range got.Counts {
			wins[i] += c
			total += c
		}
	}
	if total != 10*decision.MaxDraws {
		t.Fatalf("%d wins in %d draws", total, 10*decision.MaxDraws)
	}
	for i, w := range wins {
		share := float64(w) / float64(total)
		if d := math.Abs(share - best.ProbBest[i]); d > 0.01 {
			t.Fatalf("model %d won %.4f of the draws, its chance to be best is %.4f", i, share, best.ProbBest[i])
		}
	}
}

func TestThompsonIsReproducibleFromItsSeed(t *testing.T) {
	ds := []decision.Dist{posterior(t, 120, "uniform", 5, 10), posterior(t, 120, "uniform", 6, 10)}
	first, err := decision.Thompson(ds, 1000, 42)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := decision.Thompson(ds, 1000, 42)
	other, _ := decision.Thompson(ds, 1000, 43)
	if !slices.Equal(first.Counts, again.Counts) || first.First != again.First {
		t.Fatalf("seed 42 twice: %+v then %+v", first, again)
	}
	if slices.Equal(first.Counts, other.Counts) {
		t.Fatalf("seeds 42 and 43 gave the same %v", first.Counts)
	}
	// A tie at every draw (two point masses at ½) is split at random.
	half := decision.Dist{Mass: []float64{0, 1, 0}}
	tie, _ := decision.Thompson([]decision.Dist{half, half}, decision.MaxDraws, 7)
	if d := math.Abs(float64(tie.Counts[0])/decision.MaxDraws - 0.5); d > 0.03 {
		t.Fatalf("a certain tie split %v", tie.Counts)
	}
}

func TestRejectsWhatItCannotCompare(t *testing.T) {
	one := []decision.Dist{posterior(t, 11, "uniform", 1, 2)}
	if _, err := decision.CompareBest(one); err == nil {
		t.Fatal("one model compared")
	}
	eleven := slices.Repeat(one, 11)
	if _, err := decision.Thompson(eleven, 1, 1); err == nil {
		t.Fatal("eleven models allocated")
	}
	two := slices.Repeat(one, 2)
	for _, n := range []int{0, decision.MaxDraws + 1} {
		if _, err := decision.Thompson(two, n, 1); err == nil {
			t.Fatalf("%d draws allowed", n)
		}
	}
	if _, err := decision.Thompson(two, 1, decision.MaxSeed+1); err == nil {
		t.Fatal("a seed above 2^53-1 allowed")
	}
	for _, p := range []float64{0, 1, math.NaN()} {
		if _, err := decision.CompareDifference(one[0], one[0], p); err == nil {
			t.Fatalf("prob %v allowed", p)
		}
		if _, err := decision.CompareUplift(one[0], one[0], p); err == nil {
			t.Fatalf("prob %v allowed", p)
		}
	}
}
