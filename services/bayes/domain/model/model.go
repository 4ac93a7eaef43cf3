package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// MinGridPoints and MaxGridPoints bound the grid size: the event contract's
// bounds, so every spec it accepts builds a model. Three points are the
// least with a point strictly between 0 and 1 (see New).
const (
	MinGridPoints = events.MinGridPoints
	MaxGridPoints = events.MaxGridPoints
)

// Model is a grid approximation of the posterior of p given a prior and the
// counts observed so far. Its zero value is not usable; build it with New.
type Model struct {
	grid     []float64
	logPrior []float64
	logP     []float64 // log p per grid point
	logQ     []float64 // log(1 - p) per grid point
	prior    Prior
	counts   Counts
}

// New builds a model on points grid points, linspace(0, 1, points), with no
// observations yet.
func New(points int, prior Prior) (*Model, error) {
	if points < MinGridPoints || points > MaxGridPoints {
		return nil, fmt.Errorf("grid of %d points: want %d to %d", points, MinGridPoints, MaxGridPoints)
	}
	if prior == (Prior{}) {
		return nil, errors.New("prior is not set")
	}
	// Every point strictly inside (0, 1) has a positive likelihood for any
	// data; with prior weight on one of them no sequence of observations
	// can rule out the whole grid (which would make the posterior 0/0).
	if err := prior.CheckInterior(points); err != nil {
		return nil, err
	}
	m := &Model{
		grid: make([]float64, points),
		// The density at each point, or for a Beta prior with A < 1 or
		// B < 1 (infinite density at an end) its mass over the point's
		// cell: see prior.LogWeights.
		logPrior: prior.LogWeights(points),
		logP:     make([]float64, points),
		logQ:     make([]float64, points),
		prior:    prior,
	}
	for i := range m.grid {
		x := float64(i) / float64(points-1)
		m.grid[i] = x
		m.logP[i] = math.Log(x)
		m.logQ[i] = math.Log1p(-x)
	}
	return m, nil
}

// Observe updates the belief with one trial: the current posterior becomes
// the prior and is multiplied by the trial's likelihood. O(1).
func (m *Model) Observe(t Trial) { m.counts = m.counts.Observe(t) }

// SetCounts replaces the observed counts, e.g. with the state kept in Redis.
func (m *Model) SetCounts(c Counts) error {
	if !c.Valid() {
		return fmt.Errorf("counts w=%d n=%d are impossible", c.W, c.N)
	}
	m.counts = c
	return nil
}

// WithCounts returns a model on m's grid and prior holding counts c. The
// two share the grid and the prior's weights, which nothing changes after
// New: a model built once per spec yields one per stored state without
// New's logarithm per grid point.
func (m *Model) WithCounts(c Counts) (*Model, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("counts w=%d n=%d are impossible", c.W, c.N)
	}
	out := *m
	out.counts = c
	return &out, nil
}

// Counts returns the observed counts.
func (m *Model) Counts() Counts { return m.counts }

// Prior returns the prior the model was built with.
func (m *Model) Prior() Prior { return m.prior }

// Grid returns a copy of the grid points.
func (m *Model) Grid() []float64 { return append([]float64(nil), m.grid...) }

// PriorMass returns the prior, normalised to sum to 1 over the grid.
func (m *Model) PriorMass() []float64 { return normalise(m.logPrior, nil) }

// Posterior returns the posterior after the observed counts, normalised to
// sum to 1: prior·p^w·(1-p)^(n-w), computed in log space. O(grid points).
func (m *Model) Posterior() []float64 {
	w, l := float64(m.counts.W), float64(m.counts.N-m.counts.W)
	return normalise(m.logPrior, func(i int) float64 {
		return xlogyPre(w, m.logP[i]) + xlogyPre(l, m.logQ[i])
	})
}

// xlogyPre is k·logx with the convention 0·log(0) = 0.
func xlogyPre(k, logx float64) float64 {
	if k == 0 {
		return 0
	}
	return k * logx
}

// normalise exponentiates base[i]+extra(i) after subtracting the maximum (so
// the largest term is exactly 1 and nothing overflows) and divides by the sum.
func normalise(base []float64, extra func(int) float64) []float64 {
	out := make([]float64, len(base))
	top := math.Inf(-1)
	for i, v := range base {
		if extra != nil {
			v += extra(i)
		}
		out[i] = v
		if v > top {
			top = v
		}
	}
	var sum float64
	for i, v := range out {
		out[i] = math.Exp(v - top) // exp(-Inf) = 0 where the prior or data rule p out
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
