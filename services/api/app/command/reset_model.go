package command

import (
	"context"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// ResetModel asks to set a model's counts to zero, keeping its spec.
type ResetModel struct {
	Model string
}

// ResetModelHandler publishes resets. The default model can always be
// reset; another model only if it exists (NotFound otherwise). bayes
// applies the reset in stream order: the model's counts are then exactly
// those of the observations after it.
type ResetModelHandler struct {
	change modelChange
}

// NewResetModelHandler checks its dependencies.
func NewResetModelHandler(pub Publisher, models *Models, now func() time.Time) (ResetModelHandler, error) {
	c, err := newModelChange(events.KindReset, pub, models, now)
	if err != nil {
		return ResetModelHandler{}, err
	}
	return ResetModelHandler{change: c}, nil
}

// Handle publishes the reset of an existing model, or of the default one.
func (h ResetModelHandler) Handle(ctx context.Context, cmd ResetModel) (ModelChanged, error) {
	return h.change.handle(ctx, cmd.Model)
}
