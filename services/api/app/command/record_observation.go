// Package command holds the api's state-changing use cases. Each is a small
// handler with one Handle method whose constructor checks its dependencies, so
// a wiring mistake stops the program at start-up instead of at the first
// request.
package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/observation"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// Publisher hands an event to the broker and returns the broker's id for it
// once the broker has stored it. It is defined here, where it is used, so
// the app layer does not know which broker is behind it.
//
// An error wrapping ErrNotReplicated (a *NotReplicatedError) says the
// broker stored the event but fewer of its replicas than asked for
// confirmed it in time; any other error says nothing was confirmed stored.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) (id string, err error)
}

// ErrNotReplicated is wrapped by a Publisher's error for an event stored on
// the broker's primary that fewer replicas than asked for confirmed in
// time. Unlike other failures the event is probably there and will be
// counted, unless the primary fails before it replicates it: the client
// must be told that a retry may count it twice.
var ErrNotReplicated = errors.New("stored but not confirmed by enough replicas")

// NotReplicatedError is the error wrapping ErrNotReplicated: Want replicas
// were asked to confirm the write, Got did within the timeout.
type NotReplicatedError struct {
	Want, Got int
}

func (e *NotReplicatedError) Error() string {
	return fmt.Sprintf("%s: %d of %d replicas confirmed it within the timeout", ErrNotReplicated, e.Got, e.Want)
}

// Is makes errors.Is(err, ErrNotReplicated) true.
func (e *NotReplicatedError) Is(target error) bool { return target == ErrNotReplicated }

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
	pub    Publisher
	now    func() time.Time
	models *Models // nil: no model cap
}

// NewRecordObservationHandler returns a handler publishing through pub and
// stamping events with now (time.Now in production, fixed in tests);
// WithModels adds the model cap.
func NewRecordObservationHandler(pub Publisher, now func() time.Time, opts ...Option) (RecordObservationHandler, error) {
	if pub == nil {
		return RecordObservationHandler{}, errors.New("record observation: nil Publisher")
	}
	if now == nil {
		return RecordObservationHandler{}, errors.New("record observation: nil clock")
	}
	o, err := applyOptions(opts)
	if err != nil {
		return RecordObservationHandler{}, fmt.Errorf("record observation: %w", err)
	}
	return RecordObservationHandler{pub: pub, now: now, models: o.models}, nil
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
	if h.models != nil {
		// A model seen existing costs nothing here; a new one costs one
		// read, and is refused when MAX_MODELS exist.
		if err := h.models.admitObservation(ctx, ev.Model); err != nil {
			return RecordObservationResult{}, err
		}
	}
	id, err := h.pub.Publish(ctx, ev)
	if err != nil {
		return RecordObservationResult{}, unavailable(err)
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
