package command

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// Catalog reads what the api may know of the models: the spec of one (it
// exists when it has a spec) and, in the same round trip, how many exist.
type Catalog interface {
	SpecReader
	// Lookup reads model's spec and the number of models at once.
	Lookup(ctx context.Context, model string) (Lookup, error)
}

// Lookup is what Catalog.Lookup read.
type Lookup struct {
	Spec   events.ModelSpec // zero when the model does not exist
	Exists bool
	Count  int64 // models that exist, the default model included once created
}

// maxKnown bounds the names Models remembers, whatever MAX_MODELS says: a
// name costs about a hundred bytes, so the set stays a few MB at most.
const maxKnown = 1 << 16

// Models is the api's view of which models exist, for the model cap
// (MAX_MODELS): a request that would create a model when as many exist is
// refused at once with 409. The default model is never refused.
//
// Names seen existing are remembered, so an observation of a model the api
// has seen costs no read before its XADD: the hot path stays one round
// trip. A remembered name may have been deleted since (by another api
// replica, or by an operator): its next observation is then published
// without a check and creates the model afresh. That is fine because bayes
// enforces the same cap when it creates a model (the commit script
// dead-letters the entry, code model_limit); the api's check only spares
// clients a 201 for an event that would be refused. The same holds for two
// replicas racing past the cap.
type Models struct {
	catalog Catalog
	max     int64 // 0: no cap

	mu    sync.RWMutex
	known map[string]struct{} // at most limit names
	limit int
}

// NewModels returns the view of the models read through catalog, with at
// most maxModels models (0: no cap).
func NewModels(catalog Catalog, maxModels int) (*Models, error) {
	if catalog == nil {
		return nil, errors.New("models: nil catalog")
	}
	if maxModels < 0 {
		return nil, errors.New("models: negative model limit")
	}
	m := &Models{catalog: catalog, max: int64(maxModels), limit: min(maxModels, maxKnown)}
	if m.limit > 0 {
		m.known = make(map[string]struct{}, min(m.limit, 1024))
	}
	return m, nil
}

// admitObservation returns nil when an observation of model may be
// published: the cap is off, the model is the default one or one seen
// existing, or it exists, or fewer than the cap exist.
func (m *Models) admitObservation(ctx context.Context, model string) error {
	if m.max == 0 || model == events.DefaultModel || m.isKnown(model) {
		return nil
	}
	l, err := m.lookup(ctx, model)
	if err != nil {
		return err
	}
	return m.admit(model, l)
}

// forDefinition reads model's spec for a definition; a model that does not
// exist when the cap is reached is refused (Conflict).
func (m *Models) forDefinition(ctx context.Context, model string) (events.ModelSpec, bool, error) {
	if m.max == 0 || model == events.DefaultModel {
		// No count needed: one GET, as before the cap.
		spec, ok, err := m.catalog.Spec(ctx, model)
		if err != nil {
			return events.ModelSpec{}, false, unavailable(err)
		}
		return spec, ok, nil
	}
	l, err := m.lookup(ctx, model)
	if err != nil {
		return events.ModelSpec{}, false, err
	}
	if err := m.admit(model, l); err != nil {
		return events.ModelSpec{}, false, err
	}
	return l.Spec, l.Exists, nil
}

// exists reads whether model exists now, from Redis and not from what the
// api remembers: deleting or resetting a model that does not exist is a 404.
func (m *Models) exists(ctx context.Context, model string) (bool, error) {
	_, ok, err := m.catalog.Spec(ctx, model)
	if err != nil {
		return false, unavailable(err)
	}
	return ok, nil
}

// lookup reads model's spec and the number of models, and remembers model
// if it exists.
func (m *Models) lookup(ctx context.Context, model string) (Lookup, error) {
	l, err := m.catalog.Lookup(ctx, model)
	if err != nil {
		return Lookup{}, unavailable(err)
	}
	if l.Exists {
		m.remember(model)
	}
	return l, nil
}

// admit refuses a model that does not exist when the cap is reached. A
// model that does not exist yet is not remembered: until bayes creates it
// (or refuses it, when replicas raced) each request checks again.
func (m *Models) admit(model string, l Lookup) error {
	if l.Exists || l.Count < m.max {
		return nil
	}
	return apperr.New(apperr.Conflict,
		"model limit reached: %d models exist (MAX_MODELS=%d); delete one (DELETE /models/{name}) or raise MAX_MODELS", l.Count, m.max)
}

func (m *Models) isKnown(model string) bool {
	m.mu.RLock()
	_, ok := m.known[model]
	m.mu.RUnlock()
	return ok
}

// remember adds model to the names seen existing. When the set is full an
// arbitrary name makes room (map iteration order): the set stays bounded,
// and a forgotten name costs one read at its next observation. An LRU
// would keep hot names better but would take the write lock on every hit.
func (m *Models) remember(model string) {
	if m.limit == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.known[model]; ok {
		return
	}
	if len(m.known) >= m.limit {
		for k := range m.known {
			delete(m.known, k)
			break
		}
	}
	m.known[model] = struct{}{}
}

// Forget drops model from the names seen existing: after the api published
// its deletion (or reset), the next request for it checks again.
func (m *Models) Forget(model string) {
	if m.limit == 0 {
		return
	}
	m.mu.Lock()
	delete(m.known, model)
	m.mu.Unlock()
}

// unavailable is a store failure as the 503 every handler answers for it.
// An event stored but not replicated is a 503 too, whose detail says the
// event may still be counted: the client must not take it for nothing
// recorded, since a retry may count it twice.
func unavailable(err error) error {
	var nr *NotReplicatedError
	if errors.As(err, &nr) {
		replicas := "replicas"
		if nr.Want == 1 {
			replicas = "replica"
		}
		return apperr.Wrap(apperr.Unavailable, err, fmt.Sprintf(
			"the event was stored on the Redis master but not confirmed by %d %s within the timeout (%d confirmed): it may still be counted, so a retry may count it twice",
			nr.Want, replicas, nr.Got))
	}
	return apperr.Wrap(apperr.Unavailable, err, "the event store is unavailable, try again")
}

// Option configures a command handler.
type Option func(*options)

type options struct {
	models    *Models
	modelsSet bool
}

// WithModels makes a handler apply the model cap (MAX_MODELS) through m:
// observations and definitions that would create a model beyond it are
// refused with 409. Without it nothing is capped (a deployment's api always
// has it; the tests of other concerns need not).
func WithModels(m *Models) Option {
	return func(o *options) { o.models, o.modelsSet = m, true }
}

func applyOptions(opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.modelsSet && o.models == nil {
		return o, errors.New("nil Models")
	}
	return o, nil
}
