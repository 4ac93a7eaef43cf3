package decision

import "math"

// Uplift summarises the posterior of the relative uplift of b over a,
// U = (p_b − p_a) / p_a. Where p_a = 0, U is +Inf when p_b > 0 and 0 when
// p_b = 0 too (no change), so Mean, Median and the interval's ends may be
// +Inf: a model whose posterior keeps mass at p = 0 makes any relative
// uplift unbounded.
type Uplift struct {
	Mean   float64
	Median float64
	// Interval is equal-tailed: (1 − Prob)/2 of the mass below Lo and as
	// much above Hi. The difference has an HPDI; the uplift, which may be
	// infinite, has quantiles, which are defined either way.
	Interval Percentiles
}

// Percentiles is the equal-tailed interval [Lo, Hi] holding Prob of the
// mass.
type Percentiles struct {
	Prob float64
	Lo   float64
	Hi   float64
}

// CompareUplift computes the uplift of b over a exactly: the mean from
// E[p_b]·E[1/p_a], the quantiles as the smallest atom y/x − 1 whose
// cumulative probability Σ_x m_a(x)·F_b((1+u)·x) reaches the level,
// found by bisection on u and snapped to that atom. Each evaluation is one
// merge of the two grids, O(grid_a + grid_b).
func CompareUplift(a, b Dist, prob float64) (Uplift, error) {
	if err := checkDists([]Dist{a, b}); err != nil {
		return Uplift{}, err
	}
	if err := checkProb(prob); err != nil {
		return Uplift{}, err
	}
	u := uplift{a: a, b: b, cdfB: cumulative(b.Mass)}
	tail := (1 - prob) / 2
	return Uplift{
		Mean:     u.mean(),
		Median:   u.quantile(0.5),
		Interval: Percentiles{Prob: prob, Lo: u.quantile(tail), Hi: u.quantile(1 - tail)},
	}, nil
}

type uplift struct {
	a, b Dist
	cdfB []float64 // cdfB[j] = F_b(≤ y_j)
}

func cumulative(mass []float64) []float64 {
	out := make([]float64, len(mass))
	var s float64
	for i, m := range mass {
		s += m
		out[i] = s
	}
	return out
}

func (u uplift) mean() float64 {
	meanB := u.b.Mean()
	var m float64
	for i, ma := range u.a.Mass {
		if ma == 0 {
			continue
		}
		if i == 0 {
			if u.b.Mass[0] < 1 && u.cdfB[len(u.cdfB)-1]-u.b.Mass[0] > 0 {
				return math.Inf(1)
			}
			continue // p_a = p_b = 0: no change
		}
		m += ma * (meanB/u.a.X(i) - 1)
	}
	return m
}

// cdf is P(U ≤ v) for a finite v ≥ −1.
func (u uplift) cdf(v float64) float64 {
	var p float64
	nb := len(u.b.Mass)
	j := -1 // the last grid point of b at or below (1+v)·x
	for i := 1; i < len(u.a.Mass); i++ {
		ma := u.a.Mass[i]
		t := (1 + v) * u.a.X(i)
		for j+1 < nb && u.b.X(j+1) <= t {
			j++
		}
		if ma != 0 && j >= 0 {
			p += ma * u.cdfB[j]
		}
	}
	if v >= 0 {
		p += u.a.Mass[0] * u.b.Mass[0]
	}
	return p
}

// quantile is the smallest value of U whose cumulative probability
// reaches q, +Inf when only the infinite values reach it.
func (u uplift) quantile(q float64) float64 {
	// A level met exactly (common on small grids) must not be missed by
	// the rounding of the cumulative sums.
	need := q * (1 - 1e-12)
	na := len(u.a.Mass)
	lo, hi := -1.0, float64(na-2) // the largest finite value: y = 1 over x = 1/(na−1)
	if u.cdf(lo) >= need {
		return -1
	}
	if u.cdf(hi) < need {
		return math.Inf(1)
	}
	// Invariant: cdf(lo) < need ≤ cdf(hi). Distinct atoms differ by at
	// least 1/(grid_a·grid_b), far more than the final width.
	for range 200 {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if u.cdf(mid) >= need {
			hi = mid
		} else {
			lo = mid
		}
	}
	return u.snap(hi)
}

// snap returns the atom y/x − 1 (or 0, or −1) nearest to v. An atom is
// computed from the grid indices, (j·A − i·B)/(i·B) for x = i/A and
// y = j/B, in one rounding, so that an uplift of 50% reads 0.5.
func (u uplift) snap(v float64) float64 {
	best, dist := -1.0, v+1
	if d := math.Abs(v); d < dist {
		best, dist = 0, d
	}
	A, B := int64(len(u.a.Mass)-1), int64(len(u.b.Mass)-1)
	for i := int64(1); i <= A; i++ {
		j := int64(math.Round((1 + v) * float64(i) * float64(B) / float64(A)))
		if j < 0 || j > B {
			continue
		}
		atom := float64(j*A-i*B) / float64(i*B)
		if d := math.Abs(atom - v); d < dist {
			best, dist = atom, d
		}
	}
	return best
}
