package model

import "math"

// DefaultHPDIProb is the interval mass Statistical Rethinking uses.
const DefaultHPDIProb = 0.89

// Interval is a closed interval [Lo, Hi] of p holding Prob of the mass.
type Interval struct {
	Prob float64
	Lo   float64
	Hi   float64
}

// Summary describes a distribution over the grid.
type Summary struct {
	Mean float64
	SD   float64
	MAP  float64
	HPDI Interval
}

// Summarize computes the mean, standard deviation, the grid point of highest
// mass (MAP) and the highest-density interval holding prob of the mass, for
// mass (summing to 1) over grid.
func Summarize(grid, mass []float64, prob float64) Summary {
	var s Summary
	best := -1.0
	for i, x := range grid {
		s.Mean += x * mass[i]
		if mass[i] > best {
			best, s.MAP = mass[i], x
		}
	}
	var v float64
	for i, x := range grid {
		v += (x - s.Mean) * (x - s.Mean) * mass[i]
	}
	s.SD = math.Sqrt(v)
	lo, hi := HPDI(mass, prob)
	s.HPDI = Interval{Prob: prob, Lo: grid[lo], Hi: grid[hi]}
	return s
}

// HPDI returns the indices [lo, hi] of the narrowest contiguous run of grid
// points whose mass is at least prob; among runs of that width, the one
// holding the most mass. Two pointers over the grid: O(grid points).
func HPDI(mass []float64, prob float64) (lo, hi int) {
	// A relative tolerance keeps rounding in the running sum from pushing a
	// window that holds exactly prob (e.g. the whole grid at prob 1) out.
	need := prob * (1 - 1e-12)
	bestLo, bestHi, bestSum := 0, len(mass)-1, -1.0
	var sum float64
	l := 0
	for r := range mass {
		sum += mass[r]
		for l < r && sum-mass[l] >= need {
			sum -= mass[l]
			l++
		}
		if sum >= need && (r-l < bestHi-bestLo || (r-l == bestHi-bestLo && sum > bestSum)) {
			bestLo, bestHi, bestSum = l, r, sum
		}
	}
	return bestLo, bestHi
}
