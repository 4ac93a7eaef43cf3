package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

type priorKind uint8

const (
	priorStep priorKind = iota + 1
	priorUniform
	priorBeta
)

// Prior is the belief about p before any data: a step (the original's
// default: weight 1 where p > threshold, else 0), uniform, or Beta(a, b).
type Prior struct {
	kind      priorKind
	threshold float64
	a, b      float64
}

// DefaultPrior is the original project's prior, "step:0.1".
func DefaultPrior() Prior { return Prior{kind: priorStep, threshold: 0.1} }

// UniformPrior is Beta(1, 1).
func UniformPrior() Prior { return Prior{kind: priorUniform} }

// ParsePrior reads "step:T" (0 ≤ T < 1), "uniform" or "beta:A,B" (A, B ≥ 1:
// a smaller parameter puts infinite density on the grid's end point).
func ParsePrior(s string) (Prior, error) {
	name, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	switch strings.ToLower(name) {
	case "uniform":
		if arg != "" {
			return Prior{}, fmt.Errorf("prior %q: uniform takes no parameter", s)
		}
		return UniformPrior(), nil
	case "step":
		t, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(t >= 0 && t < 1) {
			return Prior{}, fmt.Errorf("prior %q: want step:T with 0 <= T < 1, e.g. step:0.1", s)
		}
		return Prior{kind: priorStep, threshold: t}, nil
	case "beta":
		as, bs, ok := strings.Cut(arg, ",")
		a, errA := strconv.ParseFloat(strings.TrimSpace(as), 64)
		b, errB := strconv.ParseFloat(strings.TrimSpace(bs), 64)
		if !ok || errA != nil || errB != nil || !(a >= 1 && b >= 1) || math.IsInf(a, 0) || math.IsInf(b, 0) {
			return Prior{}, fmt.Errorf("prior %q: want beta:A,B with finite A >= 1 and B >= 1, e.g. beta:2,2", s)
		}
		return Prior{kind: priorBeta, a: a, b: b}, nil
	}
	return Prior{}, fmt.Errorf("prior %q: want one of step:T, uniform, beta:A,B", s)
}

// String is the form ParsePrior reads.
func (p Prior) String() string {
	switch p.kind {
	case priorStep:
		return "step:" + strconv.FormatFloat(p.threshold, 'g', -1, 64)
	case priorUniform:
		return "uniform"
	case priorBeta:
		return "beta:" + strconv.FormatFloat(p.a, 'g', -1, 64) + "," + strconv.FormatFloat(p.b, 'g', -1, 64)
	}
	return "invalid"
}

// logWeight is the log of the unnormalised prior density at x; -Inf where
// the prior gives no weight.
func (p Prior) logWeight(x float64) float64 {
	switch p.kind {
	case priorStep:
		if x > p.threshold {
			return 0
		}
		return math.Inf(-1)
	case priorUniform:
		return 0
	case priorBeta:
		return xlogy(p.a-1, x) + xlogy(p.b-1, 1-x)
	}
	return math.NaN()
}

// xlogy is k·log(x) with 0·log(0) = 0, the convention the closed form needs
// at the grid's end points.
func xlogy(k, x float64) float64 {
	if k == 0 {
		return 0
	}
	return k * math.Log(x)
}
