// Package query holds the handlers that read the model's knowledge.
package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// StateReader reads the persisted counts.
type StateReader interface {
	State(ctx context.Context) (model.Counts, error)
}

// ModelView is the read model of GET /model.
type ModelView struct {
	Name       string         `json:"name"`
	W          int64          `json:"w"`
	N          int64          `json:"n"`
	PriorSpec  string         `json:"prior_spec"`
	GridPoints int            `json:"grid_points"`
	Grid       []float64      `json:"grid"`
	Prior      []float64      `json:"prior"`
	Posterior  []float64      `json:"posterior"`
	Mean       float64        `json:"mean"`
	SD         float64        `json:"sd"`
	MAP        float64        `json:"map"`
	HPDI       model.Interval `json:"hpdi"`
}

// CurrentModelHandler answers with the model as it stands in Redis, so every
// replica gives the same answer.
type CurrentModelHandler struct {
	name   string
	points int
	prior  model.Prior
	prob   float64
	state  StateReader
}

// NewCurrentModelHandler checks its configuration once, at start-up.
func NewCurrentModelHandler(name string, points int, prior model.Prior, state StateReader) (*CurrentModelHandler, error) {
	if state == nil {
		return nil, errors.New("current model handler: nil state reader")
	}
	if _, err := model.New(points, prior); err != nil {
		return nil, fmt.Errorf("current model handler: %w", err)
	}
	return &CurrentModelHandler{name: name, points: points, prior: prior, prob: model.DefaultHPDIProb, state: state}, nil
}

// Handle reads the counts and derives the grid. O(grid points).
func (h *CurrentModelHandler) Handle(ctx context.Context) (ModelView, error) {
	c, err := h.state.State(ctx)
	if err != nil {
		return ModelView{}, apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
	}
	return h.View(c)
}

// View derives the read model from counts.
func (h *CurrentModelHandler) View(c model.Counts) (ModelView, error) {
	m, err := model.New(h.points, h.prior)
	if err != nil {
		return ModelView{}, err
	}
	if err := m.SetCounts(c); err != nil {
		return ModelView{}, fmt.Errorf("stored state: %w", err)
	}
	grid, post := m.Grid(), m.Posterior()
	s := model.Summarize(grid, post, h.prob)
	return ModelView{
		Name: h.name, W: c.W, N: c.N, PriorSpec: h.prior.String(), GridPoints: h.points,
		Grid: grid, Prior: m.PriorMass(), Posterior: post,
		Mean: s.Mean, SD: s.SD, MAP: s.MAP, HPDI: s.HPDI,
	}, nil
}

// Pinger checks that a dependency answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ReadinessHandler says whether the service can do its work now.
type ReadinessHandler struct{ redis Pinger }

// NewReadinessHandler rejects a nil pinger.
func NewReadinessHandler(p Pinger) (*ReadinessHandler, error) {
	if p == nil {
		return nil, errors.New("readiness handler: nil pinger")
	}
	return &ReadinessHandler{redis: p}, nil
}

// Handle returns an Unavailable error when Redis does not answer.
func (h *ReadinessHandler) Handle(ctx context.Context) error {
	if err := h.redis.Ping(ctx); err != nil {
		return apperr.Wrap(apperr.Unavailable, err, "redis is unreachable")
	}
	return nil
}
