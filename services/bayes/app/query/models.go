// Package query holds the handlers that read the models' knowledge. Every
// answer is derived from what Redis holds, so every replica gives the same.
package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// StoredModel is what the store holds of one model.
type StoredModel struct {
	Name   string
	Counts model.Counts
	// Spec is zero when the store holds none: a model that was never
	// created, or the default model's counts from before specs were stored.
	Spec events.ModelSpec
	// Exists says whether the model was ever created (defined or observed).
	Exists bool
	// Epoch grows with each reset of the model and its re-creation after a
	// deletion (command.ModelState.Epoch); 0 for a model never reset.
	Epoch int64
}

// ModelStore reads models from where the consumer keeps them.
type ModelStore interface {
	// Models reads the named models, in the order given.
	Models(ctx context.Context, names ...string) ([]StoredModel, error)
	// ModelNames lists every created model, sorted.
	ModelNames(ctx context.Context) ([]string, error)
}

// ModelView is the read model of GET /model and GET /models/{name}.
type ModelView struct {
	Name       string
	W          int64
	N          int64
	PriorSpec  string
	GridPoints int
	Grid       []float64
	Prior      []float64
	Posterior  []float64
	Mean       float64
	SD         float64
	MAP        float64
	HPDI       model.Interval
	PI         model.Interval
}

// ModelSummary is one row of GET /models.
type ModelSummary struct {
	Name       string
	W          int64
	N          int64
	Mean       float64
	PriorSpec  string
	GridPoints int
}

// Models answers the questions about models: one model, all of them, and
// (predictive.go) the posterior predictive.
type Models struct {
	defaults events.ModelSpec
	prob     float64
	store    ModelStore
}

// NewModels checks its configuration once, at start-up. defaults is the spec
// of a model created by an observation rather than a definition.
func NewModels(defaults events.ModelSpec, store ModelStore) (*Models, error) {
	if store == nil {
		return nil, errors.New("models query: nil store")
	}
	if _, err := events.NewModelSpec(defaults.Prior, defaults.GridPoints); err != nil {
		return nil, fmt.Errorf("models query: default spec: %w", err)
	}
	return &Models{defaults: defaults, prob: model.DefaultHPDIProb, store: store}, nil
}

// Defaults is the spec of a model nobody defined.
func (h *Models) Defaults() events.ModelSpec { return h.defaults }

// Get reads one model, with intervals (HPDI and percentile) holding prob of
// the posterior mass, 0 < prob < 1 (model.DefaultHPDIProb unless a client
// asks otherwise). The default model always exists (n = 0 before the first
// observation); any other is NotFound until it is defined or observed.
func (h *Models) Get(ctx context.Context, name string, prob float64) (ModelView, error) {
	if err := checkProb(prob); err != nil {
		return ModelView{}, err
	}
	sm, err := h.stored(ctx, name)
	if err != nil {
		return ModelView{}, err
	}
	return h.view(sm, prob)
}

// checkProb rejects an interval mass outside (0, 1). The HTTP port checks
// the parameter first, with its raw text in the message; this is for every
// other caller.
func checkProb(prob float64) error {
	if !(prob > 0 && prob < 1) {
		return apperr.New(apperr.IncorrectInput, "prob=%v: want a number between 0 and 1 (exclusive), e.g. ?prob=0.95", prob)
	}
	return nil
}

// List reads every model: the default one first, then the others by name.
func (h *Models) List(ctx context.Context) ([]ModelSummary, error) {
	stored, _, err := h.Stored(ctx, -1)
	if err != nil {
		return nil, err
	}
	out := make([]ModelSummary, 0, len(stored))
	for _, sm := range stored {
		v, err := h.View(sm)
		if err != nil {
			return nil, err
		}
		out = append(out, ModelSummary{Name: v.Name, W: v.W, N: v.N, Mean: v.Mean, PriorSpec: v.PriorSpec, GridPoints: v.GridPoints})
	}
	return out, nil
}

// First reads the first limit models of the List order (default first,
// then by name) and says how many exist: one read of the names and one
// pipelined read of limit models, whatever the number of models. Metrics
// use it to export a bounded number of models per scrape.
func (h *Models) First(ctx context.Context, limit int) ([]ModelView, int, error) {
	stored, total, err := h.Stored(ctx, max(limit, 0))
	if err != nil {
		return nil, 0, err
	}
	views := make([]ModelView, 0, len(stored))
	for _, sm := range stored {
		v, err := h.View(sm)
		if err != nil {
			return nil, 0, err
		}
		views = append(views, v)
	}
	return views, total, nil
}

// Stored reads the stored models in the List order (default first, then by
// name), at most limit of them (a negative limit: all), and says how many
// exist. The default model is always there, stored or not.
func (h *Models) Stored(ctx context.Context, limit int) ([]StoredModel, int, error) {
	names, err := h.store.ModelNames(ctx)
	if err != nil {
		return nil, 0, apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
	}
	all := []string{events.DefaultModel}
	for _, n := range names {
		if n != events.DefaultModel {
			all = append(all, n)
		}
	}
	if limit < 0 || limit > len(all) {
		limit = len(all)
	}
	if limit == 0 {
		return nil, len(all), nil
	}
	stored, err := h.store.Models(ctx, all[:limit]...)
	if err != nil {
		return nil, 0, apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
	}
	return stored, len(all), nil
}

func (h *Models) stored(ctx context.Context, name string) (StoredModel, error) {
	if !events.ValidModelName(name) {
		return StoredModel{}, apperr.New(apperr.IncorrectInput, "model name %q: want %s", clip.String(name, clip.Field), events.ModelNameRule)
	}
	got, err := h.store.Models(ctx, name)
	if err != nil {
		return StoredModel{}, apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
	}
	if len(got) != 1 {
		return StoredModel{}, fmt.Errorf("model store returned %d models for one name", len(got))
	}
	if !got[0].Exists && name != events.DefaultModel {
		return StoredModel{}, apperr.New(apperr.NotFound, "no model named %q: define it with PUT /models/%s on the api, or send it an observation", name, name)
	}
	return got[0], nil
}

// Build makes the domain model of a stored one, with the spec it has (the
// defaults when it has none).
func (h *Models) Build(sm StoredModel) (*model.Model, events.ModelSpec, error) {
	spec := sm.Spec
	if spec.Prior == "" {
		spec = h.defaults
	}
	prior, err := model.ParsePrior(spec.Prior)
	if err != nil {
		return nil, spec, fmt.Errorf("stored spec of %q: %w", sm.Name, err)
	}
	m, err := model.New(spec.GridPoints, prior)
	if err != nil {
		return nil, spec, fmt.Errorf("stored spec of %q: %w", sm.Name, err)
	}
	if err := m.SetCounts(sm.Counts); err != nil {
		return nil, spec, fmt.Errorf("stored state of %q: %w", sm.Name, err)
	}
	return m, spec, nil
}

// View derives the read model of a stored model, with intervals of the
// default mass. O(grid points).
func (h *Models) View(sm StoredModel) (ModelView, error) { return h.view(sm, h.prob) }

func (h *Models) view(sm StoredModel, prob float64) (ModelView, error) {
	m, spec, err := h.Build(sm)
	if err != nil {
		return ModelView{}, err
	}
	grid, post := m.Grid(), m.Posterior()
	s := model.Summarize(grid, post, prob)
	return ModelView{
		Name: sm.Name, W: sm.Counts.W, N: sm.Counts.N, PriorSpec: spec.Prior, GridPoints: spec.GridPoints,
		Grid: grid, Prior: m.PriorMass(), Posterior: post,
		Mean: s.Mean, SD: s.SD, MAP: s.MAP, HPDI: s.HPDI, PI: s.PI,
	}, nil
}
