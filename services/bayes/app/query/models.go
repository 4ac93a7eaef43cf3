// Package query holds the handlers that read the models' knowledge. Every
// answer is derived from what Redis holds, so every replica gives the same.
package query

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

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
	// ModelPage lists at most limit created models other than the default
	// one, in byte order: those whose names start with prefix ("" for all)
	// and come strictly after after ("" for the start). more says whether
	// another such name exists. Its cost grows with limit, not with the
	// number of models.
	ModelPage(ctx context.Context, after, prefix string, limit int) (names []string, more bool, err error)
	// ModelCount says how many models were created, the default one
	// included once it is.
	ModelCount(ctx context.Context) (int, error)
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
	specs    specModels
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

// DefaultListLimit and MaxListLimit bound a page of the model list: the
// cost of a page grows with its limit, never with the number of models.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// ListQuery asks for one page of the model list: the default model first
// (on the first page, when it has Prefix), then the others by name, in byte
// order.
type ListQuery struct {
	// After is "" for the first page, or the Next of the page before: the
	// page holds the names after it. "default" (the first page's last row
	// with Limit 1) continues with the other models from the start.
	After string
	// Prefix, when not "", keeps only the names that start with it.
	Prefix string
	// Limit is how many rows at most, 1 to MaxListLimit.
	Limit int
}

// ModelList is one page of GET /models.
type ModelList struct {
	Models []ModelSummary
	// Next is the After of the next page, "" when this page is the last.
	// A page may hold fewer than Limit rows (even none) while models are
	// deleted under it: only an empty Next says the list is over.
	Next string
}

// check rejects a page request no store should see, naming the query
// parameter as a client wrote it.
func (q ListQuery) check() error {
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return apperr.New(apperr.IncorrectInput, "limit=%d: want a whole number from 1 to %d, e.g. ?limit=%d", q.Limit, MaxListLimit, DefaultListLimit)
	}
	if q.After != "" && !events.ValidModelName(q.After) {
		return apperr.New(apperr.IncorrectInput, "after=%q: want a model name (%s), e.g. the next of the page before", clip.String(q.After, clip.Param), events.ModelNameRule)
	}
	if q.Prefix != "" && !events.ValidModelName(q.Prefix) {
		return apperr.New(apperr.IncorrectInput, "prefix=%q: want the start of a model name (%s)", clip.String(q.Prefix, clip.Param), events.ModelNameRule)
	}
	return nil
}

// List reads one page of the model list: one read of at most q.Limit names
// from the store's index and one pipelined read of those models, whatever
// the number of models. Each row's mean is the posterior's on the model's
// grid, as GET /models/{name} gives it.
func (h *Models) List(ctx context.Context, q ListQuery) (ModelList, error) {
	stored, next, err := h.Page(ctx, q)
	if err != nil {
		return ModelList{}, err
	}
	out := ModelList{Models: make([]ModelSummary, 0, len(stored)), Next: next}
	for _, sm := range stored {
		s, err := h.summary(sm)
		if err != nil {
			return ModelList{}, err
		}
		out.Models = append(out.Models, s)
	}
	return out, nil
}

// Page reads the stored models of one page of the list (see List) and the
// After of the next page ("" after the last). The default model is on the
// first page whenever it has q.Prefix, stored or not; a model deleted
// between the read of the names and the read of the models is left out.
func (h *Models) Page(ctx context.Context, q ListQuery) ([]StoredModel, string, error) {
	if err := q.check(); err != nil {
		return nil, "", err
	}
	withDefault := q.After == "" && strings.HasPrefix(events.DefaultModel, q.Prefix)
	after := q.After
	if after == events.DefaultModel {
		// default is listed first, apart from the index: the page after it
		// is the first of the others.
		after = ""
	}
	want := q.Limit
	if withDefault {
		want--
	}
	// Asked for one at least: with want 0 (a first page of one row) the
	// answer still says whether another page follows.
	names, more, err := h.store.ModelPage(ctx, after, q.Prefix, max(want, 1))
	if err != nil {
		return nil, "", apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == events.DefaultModel })
	if len(names) > want {
		names, more = names[:want], true
	}
	if withDefault {
		names = slices.Insert(names, 0, events.DefaultModel)
	}
	if len(names) == 0 {
		return nil, "", nil
	}
	next := ""
	if more {
		next = names[len(names)-1]
	}
	stored, err := h.store.Models(ctx, names...)
	if err != nil {
		return nil, "", apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
	}
	stored = slices.DeleteFunc(stored, func(sm StoredModel) bool { return !sm.Exists && sm.Name != events.DefaultModel })
	return stored, next, nil
}

// Walk calls fn with every stored model, in the List order, reading them a
// page of MaxListLimit at a time: the memory it holds is one page's,
// whatever the number of models. A model created or deleted during the walk
// may or may not be visited; every other one is, once. fn's error stops
// the walk and is returned.
func (h *Models) Walk(ctx context.Context, fn func(StoredModel) error) error {
	q := ListQuery{Limit: MaxListLimit}
	for {
		stored, next, err := h.Page(ctx, q)
		if err != nil {
			return err
		}
		for _, sm := range stored {
			if err := fn(sm); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		q.After = next
	}
}

// First reads the first limit models of the List order (default first,
// then by name) and says how many exist (as many as a walk of the whole
// list visits): one page and one count, whatever the number of models.
// Metrics use it to export a bounded number of models per scrape.
func (h *Models) First(ctx context.Context, limit int) ([]ModelView, int, error) {
	var stored []StoredModel
	if limit > 0 {
		// MODEL_METRICS_LIMIT is at most MaxListLimit: one page.
		page, _, err := h.Page(ctx, ListQuery{Limit: min(limit, MaxListLimit)})
		if err != nil {
			return nil, 0, err
		}
		stored = page
	} else {
		def, err := h.store.Models(ctx, events.DefaultModel)
		if err != nil {
			return nil, 0, apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
		}
		stored = def
	}
	count, err := h.store.ModelCount(ctx)
	if err != nil {
		return nil, 0, apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
	}
	// The index holds the default model once it is created; the list
	// shows it always.
	if len(stored) == 0 || stored[0].Name != events.DefaultModel || !stored[0].Exists {
		count++
	}
	if limit <= 0 {
		return nil, count, nil
	}
	views := make([]ModelView, 0, len(stored))
	for _, sm := range stored {
		v, err := h.View(sm)
		if err != nil {
			return nil, 0, err
		}
		views = append(views, v)
	}
	return views, count, nil
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
// defaults when it has none). The grid and prior of a spec are built once
// (specModels) and shared by every model of that spec.
func (h *Models) Build(sm StoredModel) (*model.Model, events.ModelSpec, error) {
	spec := sm.Spec
	if spec.Prior == "" {
		spec = h.defaults
	}
	base, err := h.specs.get(spec)
	if err != nil {
		return nil, spec, fmt.Errorf("stored spec of %q: %w", sm.Name, err)
	}
	m, err := base.WithCounts(sm.Counts)
	if err != nil {
		return nil, spec, fmt.Errorf("stored state of %q: %w", sm.Name, err)
	}
	return m, spec, nil
}

// maxSpecPoints bounds specModels by the grid points it holds: a model
// keeps four float64 per point (the grid, the prior's weights, log p and
// log(1-p)), so 100,000 points are 3.2 MB, e.g. 833 specs of the default
// 120 points or 10 of the largest grid.
const maxSpecPoints = 100_000

// specModels keeps a model with no observations per spec, for Build: a
// page of the list builds up to a thousand models, most of them of the
// same few specs, and New costs two logarithms per grid point and the
// prior's weights. Bounded: when full it starts again empty.
type specModels struct {
	mu     sync.Mutex
	m      map[events.ModelSpec]*model.Model
	points int // the grid points of the models in m
}

func (c *specModels) get(spec events.ModelSpec) (*model.Model, error) {
	c.mu.Lock()
	m, ok := c.m[spec]
	c.mu.Unlock()
	if ok {
		return m, nil
	}
	prior, err := model.ParsePrior(spec.Prior)
	if err != nil {
		return nil, err
	}
	if m, err = model.New(spec.GridPoints, prior); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[spec]; ok { // built meanwhile by another request
		return m, nil
	}
	if c.m == nil || c.points+spec.GridPoints > maxSpecPoints {
		c.m, c.points = make(map[events.ModelSpec]*model.Model), 0
	}
	c.m[spec] = m
	c.points += spec.GridPoints
	return m, nil
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

// summary derives a row of the list: the posterior's mean without the rest
// of the view (no prior mass, no intervals), the same number View gives.
// O(grid points).
func (h *Models) summary(sm StoredModel) (ModelSummary, error) {
	m, spec, err := h.Build(sm)
	if err != nil {
		return ModelSummary{}, err
	}
	var mean float64
	grid := m.Grid()
	for i, p := range m.Posterior() {
		mean += grid[i] * p // in Summarize's order, so the sums agree exactly
	}
	return ModelSummary{
		Name: sm.Name, W: sm.Counts.W, N: sm.Counts.N, Mean: mean,
		PriorSpec: spec.Prior, GridPoints: spec.GridPoints,
	}, nil
}
