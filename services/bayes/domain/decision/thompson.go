package decision

import (
	"fmt"
	"math/rand/v2"
	"sort"
)

// MaxDraws bounds the draws of one allocation: the work is
// O(draws · models · log grid).
const MaxDraws = 10_000

// MaxSeed is the largest seed: 2⁵³ − 1, so that a seed travels through
// JSON and JavaScript numbers unchanged.
const MaxSeed = 1<<53 - 1

// seedStream is PCG's second word. It is fixed: the seed alone, with the
// models' state, determines an allocation, on every replica and after
// every restart.
const seedStream = 0x9e3779b97f4a7c15

// Allocation is the outcome of Thompson sampling: how many of the draws
// each model won, and which model won the first draw (the one to show the
// next visitor).
type Allocation struct {
	Counts []int
	First  int
}

// Thompson allocates draws visitors by Thompson sampling: for each visitor,
// one value drawn from each model's grid posterior (inverse CDF), and the
// model with the largest value wins; when several share the largest grid
// value, one of them is picked uniformly. A model therefore wins a share
// of the draws that tends to its probability of being the best
// (CompareBest). The draws come from PCG seeded with seed: the same seed
// and the same posteriors give the same allocation.
func Thompson(ds []Dist, draws int, seed uint64) (Allocation, error) {
	if err := checkDists(ds); err != nil {
		return Allocation{}, err
	}
	if draws < 1 || draws > MaxDraws {
		return Allocation{}, fmt.Errorf("%d draws: want 1 to %d", draws, MaxDraws)
	}
	if seed > MaxSeed {
		return Allocation{}, fmt.Errorf("seed %d: want 0 to %d", seed, uint64(MaxSeed))
	}
	rng := rand.New(rand.NewPCG(seed, seedStream))
	cdfs := make([][]float64, len(ds))
	last := make([]int, len(ds)) // the last point with mass
	for i, d := range ds {
		cdfs[i] = cumulative(d.Mass)
		_, last[i] = support(d.Mass)
	}
	out := Allocation{Counts: make([]int, len(ds))}
	tied := make([]int, 0, len(ds))
	for n := range draws {
		top := -1.0
		tied = tied[:0]
		for i, d := range ds {
			u := rng.Float64()
			cdf := cdfs[i]
			// The first point whose cumulative mass exceeds u has mass; a
			// u above the rounded total lands on the last point with mass.
			k := sort.Search(len(cdf), func(k int) bool { return cdf[k] > u })
			k = min(k, last[i])
			switch x := d.X(k); {
			case x > top:
				top = x
				tied = append(tied[:0], i)
			case x == top:
				tied = append(tied, i)
			}
		}
		win := tied[0]
		if len(tied) > 1 {
			win = tied[rng.IntN(len(tied))]
		}
		out.Counts[win]++
		if n == 0 {
			out.First = win
		}
	}
	return out, nil
}
