// Package command holds the handlers that change the model's knowledge.
package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Delivery is one stream entry as the transport handed it over: its id and
// raw fields, not yet trusted.
type Delivery struct {
	ID     string
	Values map[string]any
}

// Decision is what to do with one delivery: apply Event (an observation of
// W waters and L lands, or a model definition), or, when Reason is set,
// dead-letter it. The ledger carries out a batch of decisions atomically
// with the acknowledgement of each entry.
type Decision struct {
	ID     string
	Event  events.Event // decoded; valid when Reason is empty
	W, L   int64        // the observation's counts (1/0 or 0/1 for one trial)
	Reason string       // for people: what was wrong, quoting the entry
	Code   string       // for metrics: one of a few fixed reason codes
	Raw    map[string]any
}

// CodeNoFields is the reason code of an entry that has no fields left.
const CodeNoFields = "no_fields"

// CodeModelConflict is the reason code of a definition of a model that
// exists with another spec; the ledger finds it out, not Decide.
const CodeModelConflict = "model_conflict"

// DeadLetter reports whether the decision is to dead-letter the entry.
func (d Decision) DeadLetter() bool { return d.Reason != "" }

// IsDefinition reports whether the decision applies a model definition.
func (d Decision) IsDefinition() bool { return !d.DeadLetter() && d.Event.Kind == events.KindDefine }

// ModelState is a model as a commit left it.
type ModelState struct {
	Name   string
	Counts model.Counts
	Spec   events.ModelSpec
}

// CommitResult says what a commit did. Skipped entries had been applied
// (acked) before: a redelivery after a crash, or another replica's claim.
type CommitResult struct {
	Applied      int
	Skipped      int
	DeadLettered int
	// States has every model the batch touched, as the commit left it.
	States []ModelState
	// Outcomes has one byte per decision, in order: OutcomeApplied,
	// OutcomeSkipped or OutcomeDeadLettered.
	Outcomes string
	// Conflicts has, for each definition dead-lettered because its model
	// exists with another spec, the index of the decision and the reason.
	Conflicts map[int]string
}

// The bytes of CommitResult.Outcomes.
const (
	OutcomeApplied      = 'a'
	OutcomeSkipped      = 's'
	OutcomeDeadLettered = 'd'
)

// Ledger acknowledges entries and applies their effect in one atomic step,
// so each entry changes the state exactly once however often it is
// delivered.
type Ledger interface {
	Commit(ctx context.Context, batch []Decision) (CommitResult, error)
}

// StateListener hears about every new state of a model, e.g. to redraw its
// plots. It must not block.
type StateListener interface {
	Notify(name string, c model.Counts, spec events.ModelSpec)
}

// ApplyBatchHandler decodes a batch of deliveries, dead-letters the
// malformed ones and applies the rest.
type ApplyBatchHandler struct {
	ledger   Ledger
	listener StateListener
	log      *slog.Logger
	tracer   trace.Tracer // nil: no spans
	stream   string
}

// NewApplyBatchHandler rejects nil dependencies at start-up rather than
// failing on the first event.
func NewApplyBatchHandler(ledger Ledger, listener StateListener, log *slog.Logger, opts ...Option) (*ApplyBatchHandler, error) {
	if ledger == nil || listener == nil || log == nil {
		return nil, errors.New("apply batch handler: nil ledger, listener or logger")
	}
	h := &ApplyBatchHandler{ledger: ledger, listener: listener, log: log}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// Decide turns a delivery into a decision; it never fails, since a
// malformed entry is a decision too.
func Decide(d Delivery) Decision {
	if len(d.Values) == 0 {
		return Decision{ID: d.ID, Reason: "entry has no fields (deleted from the stream while pending?)", Code: CodeNoFields, Raw: d.Values}
	}
	ev, err := events.Decode(d.Values)
	if err != nil {
		code := events.CodeInvalidType
		var me *events.MalformedError
		if errors.As(err, &me) {
			code = me.Code
		}
		return Decision{ID: d.ID, Reason: err.Error(), Code: code, Raw: d.Values}
	}
	dec := Decision{ID: d.ID, Event: ev, W: ev.W, L: ev.L}
	if ev.Kind == events.KindDefine {
		return dec
	}
	if ev.Trial != "" {
		t, err := model.ParseTrial(ev.Trial)
		if err != nil { // events.Decode already checked; kept so the domain stays the authority
			return Decision{ID: d.ID, Reason: err.Error(), Code: events.CodeInvalidTrial, Raw: d.Values}
		}
		dec.W, dec.L = 0, 0
		if t == model.Water {
			dec.W = 1
		} else {
			dec.L = 1
		}
	}
	return dec
}

// Handle commits one batch. On error nothing of the batch was applied or
// acknowledged (the ledger is atomic), so the entries stay pending and are
// delivered again.
func (h *ApplyBatchHandler) Handle(ctx context.Context, batch []Delivery) (CommitResult, []Decision, error) {
	if len(batch) == 0 {
		return CommitResult{}, nil, nil
	}
	var spans *batchSpans
	if h.tracer != nil {
		spans = h.startProcess(ctx, batch)
	}
	decisions := make([]Decision, len(batch))
	for i, d := range batch {
		decisions[i] = h.decide(spans, i, d)
	}
	h.startSave(spans)
	res, err := h.ledger.Commit(ctx, decisions)
	h.end(spans, res, err)
	if err != nil {
		return CommitResult{}, decisions, fmt.Errorf("committing a batch of %d: %w", len(batch), err)
	}
	for i, reason := range res.Conflicts {
		decisions[i].Reason, decisions[i].Code = reason, CodeModelConflict
	}
	if res.DeadLettered > 0 {
		for i, d := range decisions {
			if res.Outcomes[i] == OutcomeDeadLettered {
				lctx := ctx
				if spans != nil {
					lctx = spans.ctx[i] // the log line carries the entry's trace id
				}
				h.log.WarnContext(lctx, "event dead-lettered", "id", d.ID, "model", d.Event.Model, "reason", d.Reason, "code", d.Code)
			}
		}
	}
	if res.Applied > 0 {
		for _, st := range res.States {
			h.listener.Notify(st.Name, st.Counts, st.Spec)
		}
	}
	return res, decisions, nil
}
