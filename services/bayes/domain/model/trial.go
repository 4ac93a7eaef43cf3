// Package model is the Bayesian heart of bayes: a Binomial proportion p
// estimated by grid approximation, as in the globe-tossing example of
// Statistical Rethinking. It is pure: no Redis, no HTTP, no files.
//
// The state is the sufficient statistic of the data, (w, n). Observing one
// trial multiplies the current posterior by p (water) or 1 - p (land), i.e.
// the old posterior is the new prior, and costs O(1); the grid is derived
// from (w, n) in log space in O(grid points) when it is read. Deriving it
// rather than multiplying a stored grid event after event keeps it equal to
// the closed form prior·p^w·(1-p)^(n-w) for any n: repeated multiplication
// underflows tail points to exact zeros and accumulates rounding error.
package model

import "fmt"

// Trial is the outcome of one toss of the globe.
type Trial uint8

// The two outcomes. The zero value is not a trial, so a forgotten
// initialisation cannot silently count as land (the original's mistake).
const (
	Water Trial = iota + 1
	Land
)

// ParseTrial parses the wire form "w" or "l".
func ParseTrial(s string) (Trial, error) {
	switch s {
	case "w":
		return Water, nil
	case "l":
		return Land, nil
	}
	return 0, fmt.Errorf("trial %q is neither \"w\" nor \"l\"", s)
}

func (t Trial) String() string {
	switch t {
	case Water:
		return "w"
	case Land:
		return "l"
	}
	return fmt.Sprintf("Trial(%d)", uint8(t))
}

// Counts is the sufficient statistic: W waters among N trials.
type Counts struct {
	W int64
	N int64
}

// Observe returns the counts after one more trial.
func (c Counts) Observe(t Trial) Counts {
	c.N++
	if t == Water {
		c.W++
	}
	return c
}

// Valid reports whether the counts can describe real data.
func (c Counts) Valid() bool { return c.W >= 0 && c.N >= c.W }

// Observation is what one event observed: one toss (Trial is Water or
// Land, and W+L is 1) or a batch of W waters and L lands (Trial is zero).
// Keeping the toss as a Trial lets the commit write it in its short form
// without guessing it back from the counts.
type Observation struct {
	Trial Trial
	W, L  int64
}

// Toss is the observation of one trial.
func Toss(t Trial) Observation {
	if t == Water {
		return Observation{Trial: t, W: 1}
	}
	return Observation{Trial: t, L: 1}
}

// Batch is the observation of w waters and l lands at once.
func Batch(w, l int64) Observation { return Observation{W: w, L: l} }
