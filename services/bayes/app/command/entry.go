package command

import (
	"context"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// EntryKind says what a stream entry asks for.
type EntryKind uint8

// The kinds of entry. The zero value is none of them, so an entry the
// decoder forgot to fill in cannot pass for an observation.
const (
	Observe EntryKind = iota + 1 // count an observation
	Define                       // create a model with a spec
	Reject                       // dead-letter: the entry cannot be applied
	Delete                       // remove a model: counts, spec and name
	Reset                        // set a model's counts to zero, keep its spec
)

// Entry is one stream entry as the stream adapter decoded it before the
// application sees it: an observation, a model definition, or a rejected
// entry with the reason. Transport details (the raw fields, the trace
// context's parsing) stay out of it, except what the dead letter and the
// trace need as plain values.
type Entry struct {
	ID    string
	Kind  EntryKind
	Model string // every kind but Reject: the model it is for

	Observation model.Observation // Observe
	Spec        events.ModelSpec  // Define
	Rejection   Rejection         // Reject

	// PublishedAt is when the producer accepted the event; zero when it did
	// not say (a manual XADD).
	PublishedAt time.Time
	// TraceParent and TraceState are the W3C trace context the producer put
	// in the entry; empty when absent.
	TraceParent, TraceState string
}

// Rejection says why an entry is dead-lettered instead of applied.
type Rejection struct {
	Reason string // for people: what was wrong, quoting the entry
	Code   string // for metrics: one of a few fixed reason codes
	Fields string // the entry's fields as JSON, kept in the dead letter
}

// Reason codes besides the event contract's (events.Codes).
const (
	// CodeNoFields: the entry has no fields left (deleted while pending).
	CodeNoFields = "no_fields"
	// CodeModelConflict: a definition of a model that exists with another
	// spec; the commit finds it out, not the decoder.
	CodeModelConflict = "model_conflict"
	// CodeModelLimit: the entry would have created a model beyond the
	// configured number of models (MAX_MODELS); the commit finds it out.
	CodeModelLimit = "model_limit"
	// CodeWrongShard: the entry is on a shard its model does not live on
	// (a producer placing models with another STREAM_SHARDS); applying it
	// there would split the model's counts over two shards.
	CodeWrongShard = "wrong_shard"
)

// Status is what a commit did with one entry. Its values are the letters
// the commit script reports.
type Status byte

// The statuses. Skipped entries had been applied (acknowledged) before: a
// redelivery after a crash, or another replica's claim.
const (
	Applied      Status = 'a'
	Skipped      Status = 's'
	DeadLettered Status = 'd'
	// Waiting entries were neither applied nor acknowledged: a delete or
	// reset of their model, or an entry of the model older than the delete
	// or reset, is still pending elsewhere, and stream order comes first.
	// They stay pending; the consumer offers them again.
	Waiting Status = 'w'
)

func (s Status) String() string {
	switch s {
	case Applied:
		return "applied"
	case Skipped:
		return "skipped"
	case DeadLettered:
		return "dead_lettered"
	case Waiting:
		return "waiting"
	}
	return "unknown"
}

// Outcome is what became of one entry.
type Outcome struct {
	Status Status
	// Reason and Code say why an entry was dead-lettered: its Rejection, or
	// a conflict the commit found (CodeModelConflict).
	Reason, Code string
}

// ModelState is a model as a commit left it.
type ModelState struct {
	Name   string
	Counts model.Counts
	Spec   events.ModelSpec
	// Epoch grows with every reset of the model and with its re-creation
	// after a deletion (0 for a model never reset). States of a model are
	// ordered by (Epoch, Counts.N): within an epoch counts only grow.
	Epoch int64
	// Deleted: the batch left the model deleted (Counts and Spec are zero).
	Deleted bool
}

// Newer reports whether s is a later state of the same model than o:
// a later epoch, or the same epoch with more trials.
func (s ModelState) Newer(o ModelState) bool {
	return s.Epoch > o.Epoch || (s.Epoch == o.Epoch && s.Counts.N > o.Counts.N)
}

// Result is what committing a batch did: one outcome per entry, in the
// batch's order, their totals, and every model the batch touched as the
// commit left it.
type Result struct {
	Outcomes                       []Outcome
	Applied, Skipped, DeadLettered int
	States                         []ModelState
}

// Waiting lists the entries of batch that the commit held back (Waiting):
// the consumer offers them again with its next batch.
func (r Result) Waiting(batch []Entry) []Entry {
	var out []Entry
	for i, o := range r.Outcomes {
		if o.Status == Waiting && i < len(batch) {
			out = append(out, batch[i])
		}
	}
	return out
}

// BatchHandler applies a batch of entries. The handler below implements it,
// and so do the decorators (tracing, metrics) the service wraps it in.
type BatchHandler interface {
	Handle(ctx context.Context, batch []Entry) (Result, error)
}

// entryContexts is the context key of a batch's per-entry contexts.
type entryContexts struct{}

// WithEntryContexts returns ctx carrying one context per entry of the batch
// (a tracing decorator's per-entry spans), so what the handler logs about
// an entry carries that entry's trace.
func WithEntryContexts(ctx context.Context, per []context.Context) context.Context {
	return context.WithValue(ctx, entryContexts{}, per)
}

// EntryContext is the context of the batch's i-th entry: the one
// WithEntryContexts put there, or ctx itself.
func EntryContext(ctx context.Context, i int) context.Context {
	if per, ok := ctx.Value(entryContexts{}).([]context.Context); ok && i < len(per) {
		return per[i]
	}
	return ctx
}
