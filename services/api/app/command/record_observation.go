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
	name, err := modelName(cmd.Model)
	if err != nil {
		return RecordObservationResult{}, err
	}
	ev := events.Event{Kind: events.KindObserve, Model: name, PublishedAt: h.now(), Source: events.SourceAPI}
	res := RecordObservationResult{Model: name, Trial: cmd.Trial}
	switch {
	case !cmd.Trial.IsZero() && (cmd.W != 0 || cmd.L != 0):
		return RecordObservationResult{}, apperr.New(apperr.IncorrectInput, "send a trial or the counts w and l, not both")
	case !cmd.Trial.IsZero():
		ev.Trial = cmd.Trial.String()
		res.W, res.L = 0, 0
		if cmd.Trial == observation.Water {
			res.W = 1
		} else {
			res.L = 1
		}
	default:
		if err := observation.CheckCounts(cmd.W, cmd.L); err != nil {
			return RecordObservationResult{}, err
		}
		ev.W, ev.L = cmd.W, cmd.L
		res.W, res.L = cmd.W, cmd.L
	}
	id, err := h.pub.Publish(ctx, ev)
	if err != nil {
		return RecordObservationResult{}, apperr.Wrap(apperr.Unavailable, err, "the event store is unavailable, try again")
	}
	res.ID, res.PublishedAt = id, ev.PublishedAt
	return res, nil
}

// modelName checks a model name from a request; empty is the default model.
func modelName(s string) (string, error) {
	if s == "" {
		return events.DefaultModel, nil
	}
	if !events.ValidModelName(s) {
		return "", apperr.New(apperr.IncorrectInput, "model name %q: want %s", observation.Clip(s), events.ModelNameRule)
	}
	return s, nil
}
