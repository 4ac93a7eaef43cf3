package model

import (
	"fmt"
	"math"
)

// MaxPredictiveTrials bounds the K of Predictive: the work is O(grid · K).
const MaxPredictiveTrials = 1000

// CountInterval is a closed interval [Lo, Hi] of counts holding at least
// Prob of the mass.
type CountInterval struct {
	Prob float64
	Lo   int
	Hi   int
}

// PredictiveSummary is the posterior predictive distribution of the number
// of waters in the next Trials tosses.
type PredictiveSummary struct {
	Trials int
	// PMF[k] is the probability of k waters, k = 0..Trials.
	PMF      []float64
	Mean     float64
	Interval CountInterval
}

// Predictive computes, exactly on the grid, the probability of k waters in
// the next trials tosses for k = 0..trials:
//
//	P(k) = Σ_i post[i] · Binom(k | trials, grid[i])
//
// with the binomial in log space (finite for any trials and p, including
// p = 0 and p = 1, where 0·log 0 = 0). Mean and an equal-tailed interval
// holding at least prob of the mass come with it.
func Predictive(grid, post []float64, trials int, prob float64) (PredictiveSummary, error) {
	if trials < 1 || trials > MaxPredictiveTrials {
		return PredictiveSummary{}, fmt.Errorf("trials %d: want 1 to %d", trials, MaxPredictiveTrials)
	}
	if len(grid) != len(post) || len(grid) == 0 {
		return PredictiveSummary{}, fmt.Errorf("grid of %d points with a posterior of %d", len(grid), len(post))
	}
	if !(prob > 0 && prob < 1) {
		return PredictiveSummary{}, fmt.Errorf("interval mass %v: want 0 < prob < 1", prob)
	}
	K := float64(trials)
	lgK, _ := math.Lgamma(K + 1)
	logChoose := make([]float64, trials+1)
	for k := range logChoose {
		a, _ := math.Lgamma(float64(k) + 1)
		b, _ := math.Lgamma(K - float64(k) + 1)
		logChoose[k] = lgK - a - b
	}
	pmf := make([]float64, trials+1)
	for i, p := range grid {
		w := post[i]
		if w == 0 {
			continue
		}
		lp, lq := math.Log(p), math.Log1p(-p)
		for k := range pmf {
			kf := float64(k)
			pmf[k] += w * math.Exp(logChoose[k]+xlogyPre(kf, lp)+xlogyPre(K-kf, lq))
		}
	}
	var total, mean float64
	for k, v := range pmf {
		total += v
		mean += float64(k) * v
	}
	// The posterior sums to 1 up to rounding; so does each binomial.
	for k := range pmf {
		pmf[k] /= total
	}
	mean /= total
	tail := (1 - prob) / 2
	lo, hi := -1, trials
	var cdf float64
	for k, v := range pmf {
		cdf += v
		if lo < 0 && cdf >= tail {
			lo = k
		}
		if cdf >= 1-tail {
			hi = k
			break
		}
	}
	if lo < 0 {
		lo = 0
	}
	return PredictiveSummary{Trials: trials, PMF: pmf, Mean: mean, Interval: CountInterval{Prob: prob, Lo: lo, Hi: hi}}, nil
}
