package model

import "math"

// DefaultHPDIProb is the interval mass Statistical Rethinking uses, for
// the HPDI and the percentile interval alike.
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
	PI   Interval
}

// Summarize computes the mean, standard deviation, the grid point of highest
// mass (MAP), the highest-density interval holding prob of the mass and the
// percentile interval of the same mass, for mass (summing to 1) over grid.
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
	lo, hi = PI(mass, prob)
	s.PI = Interval{Prob: prob, Lo: grid[lo], Hi: grid[hi]}
	return s
}

// PI returns the indices [lo, hi] of the percentile (equal-tailed)
// interval holding prob of the mass: lo is the first grid point where the
// cumulative mass reaches (1−prob)/2, hi the first where it reaches
// 1−(1−prob)/2, so each tail outside holds less than (1−prob)/2. One pass
// over the grid: O(grid points).
func PI(mass []float64, prob float64) (lo, hi int) {
	tail := (1 - prob) / 2
	// As in HPDI, a relative tolerance keeps rounding in the running sum
	// (e.g. of a mass that reaches 0.055 exactly) from moving an end by a
	// point.
	needLo, needHi := tail*(1-1e-12), (1-tail)*(1-1e-12)
	lo, hi = -1, len(mass)-1
	var cdf float64
	for i, m := range mass {
		cdf += m
		if lo < 0 && cdf >= needLo {
			lo = i
		}
		if cdf >= needHi {
			hi = i
			break
		}
	}
	return max(lo, 0), hi
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
