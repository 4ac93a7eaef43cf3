package model

import (
	"math"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
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

// ParsePrior reads "step:T" (0 <= T < 1), "uniform" or "beta:A,B" (A, B >=
// 1, so the density is finite at 0 and 1). The syntax is the event
// contract's (a model definition carries a prior spec); the weights are this
// package's.
func ParsePrior(s string) (Prior, error) {
	p, err := events.ParsePrior(s)
	if err != nil {
		return Prior{}, err
	}
	switch p.Kind {
	case events.PriorStep:
		return Prior{kind: priorStep, threshold: p.Threshold}, nil
	case events.PriorBeta:
		return Prior{kind: priorBeta, a: p.A, b: p.B}, nil
	default:
		return UniformPrior(), nil
	}
}

// String is the canonical form ParsePrior reads.
func (p Prior) String() string {
	switch p.kind {
	case priorStep:
		return events.Prior{Kind: events.PriorStep, Threshold: p.threshold}.String()
	case priorUniform:
		return events.Prior{Kind: events.PriorUniform}.String()
	case priorBeta:
		return events.Prior{Kind: events.PriorBeta, A: p.a, B: p.b}.String()
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
