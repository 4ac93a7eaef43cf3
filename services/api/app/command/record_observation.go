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

// Publisher hands an observation to the broker and returns the broker's id
// for it once the broker has stored it. It is defined here, where it is used,
// so the app layer does not know which broker is behind it.
type Publisher interface {
	Publish(ctx context.Context, o events.Event) (id string, err error)
}

// RecordObservation asks to record one toss.
type RecordObservation struct {
	Trial observation.Trial
}

// RecordObservationResult says what was recorded and where to find it.
type RecordObservationResult struct {
	// ID is the broker's id of the stored event.
	ID          string
	Trial       observation.Trial
	PublishedAt time.Time
}

// RecordObservationHandler records an observation by publishing it as an
// event; the model is updated by whoever consumes the event.
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
	if cmd.Trial.IsZero() {
		return RecordObservationResult{}, apperr.New(apperr.IncorrectInput, "trial is required")
	}
	ev := events.Event{
		Trial:       cmd.Trial.String(),
		PublishedAt: h.now(),
		Source:      events.SourceAPI,
		// TraceParent and TraceState are filled once tracing lands; ctx is
		// passed on so the publisher can read the span from it.
	}
	id, err := h.pub.Publish(ctx, ev)
	if err != nil {
		return RecordObservationResult{}, apperr.Wrap(apperr.Unavailable, err, "the event store is unavailable, try again")
	}
	return RecordObservationResult{ID: id, Trial: cmd.Trial, PublishedAt: ev.PublishedAt}, nil
}
