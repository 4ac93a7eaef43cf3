package model

import "github.com/event-driven-bayes/event-driven-bayes/services/events/prior"

// Prior is the belief about p before any data. Its families, their syntax
// and their weights are the event contract's prior package, so a model
// definition the api accepted is a prior this package can weigh. The zero
// Prior is not set; New rejects it.
type Prior = prior.Prior

// The priors tests and defaults name; parsed once.
var (
	defaultPrior = prior.MustParse("step:0.1")
	uniformPrior = prior.MustParse("uniform")
)

// DefaultPrior is the original project's prior, "step:0.1": weight 1 where
// p > 0.1, else 0.
func DefaultPrior() Prior { return defaultPrior }

// UniformPrior is Beta(1, 1).
func UniformPrior() Prior { return uniformPrior }

// ParsePrior reads a prior spec: see prior.Parse.
func ParsePrior(s string) (Prior, error) { return prior.Parse(s) }
