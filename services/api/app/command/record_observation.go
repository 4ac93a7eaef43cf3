// Package command holds the api's state-changing use cases. Each is a small
// handler with one Handle method whose constructor checks its dependencies, so
// a wiring mistake stops the program at start-up instead of at the first
// request.
package command

import (
	"context"
	"errors"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/observation"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// Publisher hands an event to the broker and returns the broker's id for it
// once the broker has stored it. It is defined here, where it is used, so
// the app layer does not know which broker is behind it.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) (id string, err error)
}

// RecordObservation asks to record one toss (Trial) or a batch of counts
// (W waters and L lands, applied together) for a model.
type RecordObservation struct {
	// Model is the model's name; empty means events.DefaultModel.
	Model string
	Trial observation.Trial
	W, L  int64
}

// RecordObservationResult says what was recorded and where to find it.
type RecordObservationResult struct {
	// ID is the broker's id of the stored event.
	ID          string
	Model       string
	Trial       observation.Trial // zero for a batch
	W, L        int64             // what was recorded, 1/0 or 0/1 for one toss
	PublishedAt time.Time
}

// RecordObservationHandler records observations by publishing them as
// events; the model is updated by whoever consumes the event.
type RecordObservationHandler struct {
	pub Publisher
	now func() time.Time
}

// NewRecordObservationHandler returns a handler publishing through pub and
// stamping events with now (time.Now in production, fixed in tests).
func NewRecordObservationHandler(pub Publisher, now func() time.Time) (RecordObservationHandler, error) {
	if pub == nil {
		return RecordObservationHandler{}, errors.New("record observation: nil Publisher")
	}
	if now == nil {
		return RecordObservationHandler{}, errors.New("record observation: nil clock")
	}
	return RecordObservationHandler{pub: pub, now: now}, nil
}

// Handle publishes the observation and returns only after the publisher has
// confirmed it stored the event, so a success reported to the client is never
// lost. A publisher failure is Unavailable: the request may simply be retried.
func (h RecordObservationHandler) Handle(ctx context.Context, cmd RecordObservation) (RecordObservationResult, error) {
	if h.pub == nil {
		// A zero handler means the wiring skipped the constructor.
		return RecordObservationResult{}, errors.New("record observation: handler not constructed")
	}
	ev := events.Event{Kind: events.KindObserve, Model: modelName(cmd.Model), Trial: cmd.Trial.String(),
		W: cmd.W, L: cmd.L, PublishedAt: h.now(), Source: events.SourceAPI}
	// The contract's own check, the one bayes decodes by: a trial or
	// counts (not both, not none), counts in range, a valid model name.
	if err := ev.Validate(); err != nil {
		return RecordObservationResult{}, invalid(err)
	}
	res := RecordObservationResult{Model: ev.Model, Trial: cmd.Trial, W: ev.W, L: ev.L}
	switch cmd.Trial {
	case observation.Water:
		res.W = 1
	case observation.Land:
		res.L = 1
	}
	id, err := h.pub.Publish(ctx, ev)
	if err != nil {
		return RecordObservationResult{}, apperr.Wrap(apperr.Unavailable, err, "the event store is unavailable, try again")
	}
	res.ID, res.PublishedAt = id, ev.PublishedAt
	return res, nil
}

// modelName is the model a request names; empty is the default model.
func modelName(s string) string {
	if s == "" {
		return events.DefaultModel
	}
	return s
}

// invalid turns the contract's refusal of an event into a 400 that says
// what was wrong, without the "malformed event" prefix meant for consumers.
func invalid(err error) error {
	var me *events.MalformedError
	if errors.As(err, &me) {
		return apperr.New(apperr.IncorrectInput, "%s", me.Detail)
	}
	return apperr.New(apperr.IncorrectInput, "%s", err.Error())
}
