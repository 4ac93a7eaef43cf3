// Package decision turns posteriors into the answers of an A/B test: the
// chance that each variant's proportion is the largest, the expected loss
// of choosing it, the posterior of the difference and of the relative
// uplift between two variants, and Thompson sampling to allocate the next
// visitors. Every answer is computed on the models' grids, which may
// differ in size: the joint posterior of independent models is the
// product of their grid posteriors, and every sum here is over it.
package decision

import (
	"fmt"
	"math"
)

// MinModels and MaxModels bound how many models one comparison takes.
const (
	MinModels = 2
	MaxModels = 10
)

// Dist is a model's posterior: Mass[i] is the probability of
// p = i/(len(Mass)-1), the grid of model.New (the same division, so equal
// grid values of two models compare equal). Mass sums to 1.
type Dist struct {
	Mass []float64
}

// X is the value of grid point i.
func (d Dist) X(i int) float64 { return float64(i) / float64(len(d.Mass)-1) }

// Mean is E[p].
func (d Dist) Mean() float64 {
	var m float64
	for i, w := range d.Mass {
		m += d.X(i) * w
	}
	return m
}

func (d Dist) valid() error {
	if len(d.Mass) < 2 {
		return fmt.Errorf("a grid of %d points: want at least 2", len(d.Mass))
	}
	return nil
}

func checkDists(ds []Dist) error {
	if len(ds) < MinModels || len(ds) > MaxModels {
		return fmt.Errorf("%d models: want %d to %d", len(ds), MinModels, MaxModels)
	}
	for _, d := range ds {
		if err := d.valid(); err != nil {
			return err
		}
	}
	return nil
}

// Best is, for each model, the probability that its proportion is the
// largest (ties split evenly among the tied models, so the values sum to
// 1) and the expected loss of choosing it, E[max_j p_j − p_i].
type Best struct {
	ProbBest     []float64
	ExpectedLoss []float64
}

// CompareBest computes Best exactly: it walks the union of the grids'
// values in increasing order, keeping each model's mass below the current
// value (a cumulative sum), so the work is O(Σ grid · models) plus, where
// several grids share a value, O(tied³) for the split of that tie.
//
// Model i is the largest at value v with probability
//
//	m_i(v) · Σ_S Π_{j∈S} m_j(v) · Π_{j∉S, j≠i} F_j(<v) / (1+|S|)
//
// over the sets S of other models tied with it at v. The sum is the
// integral over t from 0 to 1 of Π_{j≠i} (F_j(<v) + m_j(v)·t), a
// polynomial in t whose coefficients are built one tied model at a time.
// The expected maximum is Σ_v v·(Π_j F_j(≤v) − Π_j F_j(<v)).
func CompareBest(ds []Dist) (Best, error) {
	if err := checkDists(ds); err != nil {
		return Best{}, err
	}
	k := len(ds)
	best := Best{ProbBest: make([]float64, k), ExpectedLoss: make([]float64, k)}
	next := make([]int, k)       // each model's next grid index
	below := make([]float64, k)  // F_j(<v)
	at := make([]float64, k)     // m_j(v)
	tied := make([]int, 0, k)    // models with a grid point at v
	poly := make([]float64, k+1) // coefficients in t
	var eMax, cdfMaxBelow float64
	for {
		// v: the smallest value not yet passed by any model.
		v := math.Inf(1)
		for j, d := range ds {
			if next[j] < len(d.Mass) {
				v = min(v, d.X(next[j]))
			}
		}
		if math.IsInf(v, 1) {
			break
		}
		tied = tied[:0]
		untiedBelow := 1.0 // Π F_j(<v) over the models with no point at v
		for j, d := range ds {
			at[j] = 0
			if next[j] < len(d.Mass) && d.X(next[j]) == v {
				at[j] = d.Mass[next[j]]
				tied = append(tied, j)
			} else {
				untiedBelow *= below[j]
			}
		}
		for _, i := range tied {
			if at[i] == 0 || untiedBelow == 0 {
				continue
			}
			// Π over the other tied models of (F_j(<v) + m_j(v)·t).
			deg := 0
			poly[0] = 1
			for _, j := range tied {
				if j == i {
					continue
				}
				poly[deg+1] = 0
				for s := deg + 1; s > 0; s-- {
					poly[s] = poly[s]*below[j] + poly[s-1]*at[j]
				}
				poly[0] *= below[j]
				deg++
			}
			var integral float64
			for s := 0; s <= deg; s++ {
				integral += poly[s] / float64(s+1)
			}
			best.ProbBest[i] += at[i] * untiedBelow * integral
		}
		cdfMax := 1.0
		for j := range ds {
			below[j] += at[j]
			cdfMax *= below[j]
		}
		eMax += v * (cdfMax - cdfMaxBelow)
		cdfMaxBelow = cdfMax
		for _, j := range tied {
			next[j]++
		}
	}
	for i, d := range ds {
		// E[max] ≥ E[p_i]; rounding must not make a loss negative.
		best.ExpectedLoss[i] = max(0, eMax-d.Mean())
	}
	return best, nil
}

// checkProb is the rule for an interval's mass.
func checkProb(prob float64) error {
	if !(prob > 0 && prob < 1) {
		return fmt.Errorf("interval mass %v: want 0 < prob < 1", prob)
	}
	return nil
}
