package command

import (
	"context"
	"errors"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// DeleteModel asks to remove a model: its counts, its spec, its name.
type DeleteModel struct {
	Model string
}

// ModelChanged says which event was published for a model: its deletion
// or its reset (Action is events.KindDelete or events.KindReset).
type ModelChanged struct {
	ID     string // the event's id in the stream
	Model  string
	Action string
}

// DeleteModelHandler publishes deletions. The default model cannot be
// deleted (Conflict: it can be reset), and a model that does not exist
// cannot either (NotFound); bayes applies the deletion in stream order with
// the observations around it, and an observation after it creates the
// model afresh.
type DeleteModelHandler struct {
	change modelChange
}

// NewDeleteModelHandler checks its dependencies.
func NewDeleteModelHandler(pub Publisher, models *Models, now func() time.Time) (DeleteModelHandler, error) {
	c, err := newModelChange(events.KindDelete, pub, models, now)
	if err != nil {
		return DeleteModelHandler{}, err
	}
	return DeleteModelHandler{change: c}, nil
}

// Handle publishes the deletion of an existing model.
func (h DeleteModelHandler) Handle(ctx context.Context, cmd DeleteModel) (ModelChanged, error) {
	if modelName(cmd.Model) == events.DefaultModel {
		return ModelChanged{}, apperr.New(apperr.Conflict,
			"the %s model can be reset, not deleted; POST /models/%s/reset", events.DefaultModel, events.DefaultModel)
	}
	return h.change.handle(ctx, cmd.Model)
}

// modelChange is what a deletion and a reset share: check the name, check
// the model exists, publish, forget the name.
type modelChange struct {
	kind   string
	pub    Publisher
	models *Models
	now    func() time.Time
}

func newModelChange(kind string, pub Publisher, models *Models, now func() time.Time) (modelChange, error) {
	if pub == nil || models == nil || now == nil {
		return modelChange{}, errors.New(kind + " model: nil publisher, models or clock")
	}
	return modelChange{kind: kind, pub: pub, models: models, now: now}, nil
}

func (c modelChange) handle(ctx context.Context, model string) (ModelChanged, error) {
	if c.pub == nil {
		return ModelChanged{}, errors.New("model change: handler not constructed")
	}
	ev := events.Event{Kind: c.kind, Model: modelName(model), PublishedAt: c.now(), Source: events.SourceAPI}
	if err := ev.Validate(); err != nil {
		return ModelChanged{}, invalid(err)
	}
	// The default model always exists for a reset: bayes treats it as
	// there, counts zero, until its first observation.
	if ev.Model != events.DefaultModel {
		ok, err := c.models.exists(ctx, ev.Model)
		if err != nil {
			return ModelChanged{}, err
		}
		if !ok {
			return ModelChanged{}, apperr.New(apperr.NotFound, "model %q does not exist", ev.Model)
		}
	}
	// Whatever the outcome (a timed-out XADD may still be stored), the next
	// request for this model reads Redis again instead of trusting what the
	// api remembered. A reset keeps the model, so forgetting it costs that
	// one read and nothing else.
	defer c.models.Forget(ev.Model)
	id, err := c.pub.Publish(ctx, ev)
	if err != nil {
		return ModelChanged{}, unavailable(err)
	}
	return ModelChanged{ID: id, Model: ev.Model, Action: c.kind}, nil
}
