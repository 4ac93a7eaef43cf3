package decision

import (
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// Difference is the posterior of p_b − p_a for two independent models.
type Difference struct {
	// Grid is the lattice the difference lives on: k/(g−1) for
	// k = −(g−1)…g−1, where g is the larger of the two grids' sizes.
	Grid []float64
	// Mass[k] is the probability of Grid[k]; it sums to 1.
	Mass []float64
	// Mean is E[p_b] − E[p_a], computed from the models (the lattice's
	// mean is the same up to rounding).
	Mean float64
	// HPDI is the narrowest run of lattice points holding at least Prob of
	// the mass (model.HPDI on the lattice).
	HPDI model.Interval
}

// CompareDifference computes the posterior of p_b − p_a: every pair of grid
// points (x from a, y from b) puts m_a(x)·m_b(y) on the lattice. When both
// models have the same number of grid points every difference is a
// lattice point and the distribution is exact. When they differ, a
// difference between two lattice points is shared between them in
// proportion to its nearness (linear interpolation): no mass moves farther
// than one lattice step, less than either grid's own step, and the
// lattice's mean stays the exact mean. The work is O(grid_a · grid_b) over
// the points where both posteriors have mass.
func CompareDifference(a, b Dist, prob float64) (Difference, error) {
	if err := checkDists([]Dist{a, b}); err != nil {
		return Difference{}, err
	}
	if err := checkProb(prob); err != nil {
		return Difference{}, err
	}
	g := max(len(a.Mass), len(b.Mass))
	steps := float64(g - 1)
	d := Difference{Grid: make([]float64, 2*g-1), Mass: make([]float64, 2*g-1)}
	for k := range d.Grid {
		d.Grid[k] = float64(k-(g-1)) / steps
	}
	blo, bhi := support(b.Mass)
	if len(a.Mass) == len(b.Mass) {
		// y − x = (j − i)/(g−1): lattice point j − i + g − 1, exactly.
		for i, ma := range a.Mass {
			if ma == 0 {
				continue
			}
			row := d.Mass[g-1-i:]
			for j := blo; j <= bhi; j++ {
				row[j] += ma * b.Mass[j]
			}
		}
	} else {
		// y − x = (j·A − i·B)/(A·B) with A, B the grids' step counts; on
		// the lattice that is q + r/(A·B) steps, in whole numbers. The
		// pair's mass goes to lattice points q and q + 1 in proportion to
		// its nearness (linear interpolation), which keeps the lattice's
		// mean exact and its curve smooth where the grids alias.
		A, B, G := int64(len(a.Mass)-1), int64(len(b.Mass)-1), int64(g-1)
		den := A * B
		for i, ma := range a.Mass {
			if ma == 0 {
				continue
			}
			for j := blo; j <= bhi; j++ {
				num := (int64(j)*A - int64(i)*B) * G
				q, r := num/den, num%den
				if r < 0 {
					q, r = q-1, r+den
				}
				k, m := int(q)+g-1, ma*b.Mass[j]
				if r == 0 {
					d.Mass[k] += m
					continue
				}
				up := float64(r) / float64(den)
				d.Mass[k] += m * (1 - up)
				d.Mass[k+1] += m * up
			}
		}
	}
	var sum float64
	for _, m := range d.Mass {
		sum += m
	}
	for k := range d.Mass {
		d.Mass[k] /= sum
	}
	d.Mean = b.Mean() - a.Mean()
	lo, hi := model.HPDI(d.Mass, prob)
	d.HPDI = model.Interval{Prob: prob, Lo: d.Grid[lo], Hi: d.Grid[hi]}
	return d, nil
}

// support is the first and last index with mass.
func support(mass []float64) (lo, hi int) {
	lo, hi = 0, len(mass)-1
	for lo < hi && mass[lo] == 0 {
		lo++
	}
	for hi > lo && mass[hi] == 0 {
		hi--
	}
	return lo, hi
}
