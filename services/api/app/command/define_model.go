package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// SpecReader reads the spec a model was created with, if it exists. The api
// may read specs, never the counts.
type SpecReader interface {
	Spec(ctx context.Context, model string) (spec events.ModelSpec, exists bool, err error)
}

// DefineModel asks to create a model with a prior and a grid.
type DefineModel struct {
	Model      string
	Prior      string
	GridPoints int
}

// Outcomes of a definition.
const (
	// DefinitionAccepted: the definition is in the stream; bayes creates the
	// model from it unless an observation or another definition got there
	// first with another spec (then the definition is dead-lettered).
	DefinitionAccepted = "accepted"
	// DefinitionExists: the model exists with this very spec; nothing to do.
	DefinitionExists = "exists"
)

// DefineModelResult says what happened to a definition.
type DefineModelResult struct {
	ID     string // the event's id; empty when the model existed
	Model  string
	Spec   events.ModelSpec // canonical
	Status string           // DefinitionAccepted or DefinitionExists
}

// DefineModelHandler publishes model definitions. A definition of a model
// that exists with another spec is refused (Conflict) up front; the consumer
// decides the races the api cannot see.
type DefineModelHandler struct {
	pub    Publisher
	specs  SpecReader
	now    func() time.Time
	models *Models // nil: no model cap
}

// NewDefineModelHandler checks its dependencies; WithModels adds the model
// cap (the specs are then read through the Models' catalog, with the count
// of models in the same round trip).
func NewDefineModelHandler(pub Publisher, specs SpecReader, now func() time.Time, opts ...Option) (DefineModelHandler, error) {
	if pub == nil || specs == nil || now == nil {
		return DefineModelHandler{}, errors.New("define model: nil publisher, spec reader or clock")
	}
	o, err := applyOptions(opts)
	if err != nil {
		return DefineModelHandler{}, fmt.Errorf("define model: %w", err)
	}
	return DefineModelHandler{pub: pub, specs: specs, now: now, models: o.models}, nil
}

// Handle checks the definition, compares it with the model's spec if the
// model exists, and otherwise publishes it.
func (h DefineModelHandler) Handle(ctx context.Context, cmd DefineModel) (DefineModelResult, error) {
	if h.pub == nil {
		return DefineModelResult{}, errors.New("define model: handler not constructed")
	}
	// NewModelSpec gives the canonical prior, so equal specs compare equal.
	spec, err := events.NewModelSpec(cmd.Prior, cmd.GridPoints)
	if err != nil {
		return DefineModelResult{}, apperr.New(apperr.IncorrectInput, "%s", err.Error())
	}
	ev := events.Event{Kind: events.KindDefine, Model: modelName(cmd.Model), Spec: spec, PublishedAt: h.now(), Source: events.SourceAPI}
	if err := ev.Validate(); err != nil {
		return DefineModelResult{}, invalid(err)
	}
	name := ev.Model
	have, exists, err := h.spec(ctx, name)
	if err != nil {
		return DefineModelResult{}, err
	}
	if exists {
		if have != spec {
			return DefineModelResult{}, apperr.New(apperr.Conflict, "model %q exists with prior %s and %d grid points; a model's spec is fixed when it is created",
				name, have.Prior, have.GridPoints)
		}
		return DefineModelResult{Model: name, Spec: spec, Status: DefinitionExists}, nil
	}
	id, err := h.pub.Publish(ctx, ev)
	if err != nil {
		return DefineModelResult{}, unavailable(err)
	}
	return DefineModelResult{ID: id, Model: name, Spec: spec, Status: DefinitionAccepted}, nil
}

// spec reads name's spec; with the cap on, a model that does not exist is
// refused (Conflict) when MAX_MODELS exist.
func (h DefineModelHandler) spec(ctx context.Context, name string) (events.ModelSpec, bool, error) {
	if h.models != nil {
		return h.models.forDefinition(ctx, name)
	}
	spec, ok, err := h.specs.Spec(ctx, name)
	if err != nil {
		return events.ModelSpec{}, false, unavailable(err)
	}
	return spec, ok, nil
}
