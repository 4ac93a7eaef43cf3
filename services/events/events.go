// Package events is the wire format of the events that travel through a
// Redis Stream from the api to bayes: observations (one trial, or a batch of
// counts) and model definitions, each for a named model. It is the only code
// the two services share about the contract, so a change here is a change to
// both sides.
package events

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
)

// The stream the api writes events to and the pub/sub channel bayes also
// listens on, when a deployment names no other (REDIS_STREAM,
// REDIS_CHANNEL): the original's names, which redis-cli users and old
// producers write to.
const (
	DefaultStream  = "update_model"
	DefaultChannel = "update_model"
)

// Stream entry field names. They are part of the contract: a producer written
// in any language (redis-cli included) uses these.
const (
	FieldKind        = "kind"
	FieldModel       = "model"
	FieldTrial       = "trial"
	FieldWater       = "w"
	FieldLand        = "l"
	FieldPrior       = "prior"
	FieldGridPoints  = "grid_points"
	FieldTimestamp   = "ts"
	FieldTraceParent = "traceparent"
	FieldTraceState  = "tracestate"
	FieldSource      = "source"
)

// Event kinds. An entry without a kind field is an observation, so the
// original contract (XADD update_model * trial w) still holds. A delete
// removes a model (its counts, its spec, its name); a reset sets its counts
// to zero and keeps its spec. Both carry only the model's name, and travel
// through the stream like every other change, so they apply once, in stream
// order with the observations around them.
const (
	KindObserve = "observe"
	KindDefine  = "define"
	KindDelete  = "delete"
	KindReset   = "reset"
)

// kindRule lists the kinds for the messages that refuse another.
const kindRule = `"observe", "define", "delete" or "reset"`

// MaxCount bounds each count of a batch event, so no sum of counts can
// overflow whatever arrives.
const MaxCount = 1_000_000_000

// Trial values on the wire.
const (
	TrialWater = "w"
	TrialLand  = "l"
)

// Sources of an event; informative only.
const (
	SourceAPI    = "api"
	SourcePubSub = "pubsub"
)

// Event is one stream entry: an observation (Kind KindObserve) of one trial
// or of a batch of counts, the definition of a model (Kind KindDefine), or
// the deletion or reset of a model (KindDelete, KindReset).
type Event struct {
	// Kind is KindObserve, KindDefine, KindDelete or KindReset; Decode never
	// leaves it empty.
	Kind string
	// Model names the model the event is for; Decode never leaves it empty
	// (DefaultModel when the entry does not say).
	Model string
	// Trial is TrialWater or TrialLand for a one-toss observation, empty for
	// a batch of counts (W, L) or a definition.
	Trial string
	// W and L are the counts of a batch observation: W waters and L lands,
	// applied together, W+L >= 1. Zero for a one-toss observation.
	W, L int64
	// Spec is the prior and grid of a definition.
	Spec ModelSpec
	// PublishedAt is when the producer accepted the observation; zero when the
	// producer (e.g. a manual XADD) did not say.
	PublishedAt time.Time
	// TraceParent and TraceState carry W3C trace context; empty when absent.
	TraceParent string
	TraceState  string
	// Source says who produced the entry (SourceAPI, SourcePubSub, or empty).
	Source string
}

// ErrMalformed is wrapped by every error Decode returns, so callers can tell
// a poison entry (dead-letter it) from their own failures.
var ErrMalformed = errors.New("malformed event")

// Reason codes of a MalformedError: few and fixed, so they can label a
// metric, unlike the detail, which quotes what the producer sent.
const (
	CodeMissingTrial     = "missing_trial"
	CodeInvalidTrial     = "invalid_trial"
	CodeInvalidCounts    = "invalid_counts"
	CodeInvalidModel     = "invalid_model"
	CodeInvalidKind      = "invalid_kind"
	CodeInvalidSpec      = "invalid_spec"
	CodeInvalidTimestamp = "invalid_timestamp"
	CodeInvalidType      = "invalid_type"
)

// Codes lists every reason code, for metrics that pre-export their labels.
var Codes = []string{CodeMissingTrial, CodeInvalidTrial, CodeInvalidCounts, CodeInvalidModel,
	CodeInvalidKind, CodeInvalidSpec, CodeInvalidTimestamp, CodeInvalidType}

// MalformedError says why an entry cannot be decoded.
type MalformedError struct {
	Code   string
	Detail string
}

func (e *MalformedError) Error() string        { return ErrMalformed.Error() + ": " + e.Detail }
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(code, format string, args ...any) error {
	return &MalformedError{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Fields returns the stream entry fields for XADD, in a stable order
// (name, value, name, value, ...). Optional fields are left out when they
// hold their default: no kind for an observation, no model for
// DefaultModel, so an event of the default model is the original's entry.
func (o Event) Fields() []string {
	f := make([]string, 0, 12)
	switch o.Kind {
	case KindDefine, KindDelete, KindReset:
		f = append(f, FieldKind, o.Kind)
	}
	if o.Model != "" && o.Model != DefaultModel {
		f = append(f, FieldModel, o.Model)
	}
	switch {
	case o.Kind == KindDefine:
		f = append(f, FieldPrior, o.Spec.Prior, FieldGridPoints, strconv.Itoa(o.Spec.GridPoints))
	case o.Kind == KindDelete || o.Kind == KindReset:
	case o.Trial != "":
		f = append(f, FieldTrial, o.Trial)
	default:
		f = append(f, FieldWater, strconv.FormatInt(o.W, 10), FieldLand, strconv.FormatInt(o.L, 10))
	}
	if !o.PublishedAt.IsZero() {
		f = append(f, FieldTimestamp, strconv.FormatInt(o.PublishedAt.UnixMicro(), 10))
	}
	if o.Source != "" {
		f = append(f, FieldSource, o.Source)
	}
	if o.TraceParent != "" {
		f = append(f, FieldTraceParent, o.TraceParent)
	}
	if o.TraceState != "" {
		f = append(f, FieldTraceState, o.TraceState)
	}
	return f
}

// ValidTrial reports whether s is a trial value the contract allows.
func ValidTrial(s string) bool { return s == TrialWater || s == TrialLand }

// Decode reads an event from stream entry fields as go-redis returns them.
//
//   - kind: absent (an observation) or "define".
//   - model: absent (DefaultModel) or a model name (see ValidModelName).
//   - an observation has either trial ("w" or "l") or the counts w and l
//     (decimal, 0 to MaxCount each, at least one trial in all; a missing
//     one is 0), never both.
//   - a definition has prior (see prior.Parse) and grid_points.
//   - ts, when present, is an integer number of microseconds since the Unix
//     epoch.
//
// Unknown fields are ignored so producers can add to the contract.
func Decode(values map[string]any) (Event, error) {
	var o Event
	kind, ok, err := str(values, FieldKind)
	if err != nil {
		return o, err
	}
	switch {
	case !ok || kind == KindObserve:
		o.Kind = KindObserve
	case kind == KindDefine || kind == KindDelete || kind == KindReset:
		o.Kind = kind
	default:
		return o, malformed(CodeInvalidKind, "kind %q is not %s", clip.String(kind, clip.Field), kindRule)
	}
	name, ok, err := str(values, FieldModel)
	if err != nil {
		return o, err
	}
	if !ok {
		name = DefaultModel
	} else if !ValidModelName(name) {
		return o, malformed(CodeInvalidModel, "model %q is not a name: %s", clip.String(name, clip.Field), ModelNameRule)
	}
	o.Model = name
	switch o.Kind {
	case KindDefine:
		if err := decodeSpec(values, &o); err != nil {
			return o, err
		}
	case KindDelete:
		if name == DefaultModel {
			return o, malformed(CodeInvalidModel, "the %q model can be reset, not deleted", DefaultModel)
		}
	case KindReset:
	default:
		if err := decodeObservation(values, &o); err != nil {
			return o, err
		}
	}

	if ts, ok, err := str(values, FieldTimestamp); err != nil {
		return o, err
	} else if ok {
		us, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil || us <= 0 {
			return o, malformed(CodeInvalidTimestamp, "field %q is %q, not microseconds since the epoch", FieldTimestamp, clip.String(ts, clip.Field))
		}
		o.PublishedAt = time.UnixMicro(us)
	}
	// Three lookups rather than a loop over a map literal: Decode runs once
	// per event on bayes' hot path, and the literal would allocate each time.
	if o.TraceParent, _, err = str(values, FieldTraceParent); err != nil {
		return o, err
	}
	if o.TraceState, _, err = str(values, FieldTraceState); err != nil {
		return o, err
	}
	if o.Source, _, err = str(values, FieldSource); err != nil {
		return o, err
	}
	return o, nil
}

func decodeObservation(values map[string]any, o *Event) error {
	trial, hasTrial, err := str(values, FieldTrial)
	if err != nil {
		return err
	}
	ws, hasW, err := str(values, FieldWater)
	if err != nil {
		return err
	}
	ls, hasL, err := str(values, FieldLand)
	if err != nil {
		return err
	}
	if hasTrial {
		if hasW || hasL {
			return malformed(CodeInvalidCounts, "an observation has %q or the counts %q and %q, not both", FieldTrial, FieldWater, FieldLand)
		}
		if !ValidTrial(trial) {
			return malformed(CodeInvalidTrial, "trial %q is neither %q nor %q", clip.String(trial, clip.Field), TrialWater, TrialLand)
		}
		o.Trial = trial
		return nil
	}
	if !hasW && !hasL {
		return malformed(CodeMissingTrial, "missing field %q (or the counts %q and %q)", FieldTrial, FieldWater, FieldLand)
	}
	if o.W, err = count(FieldWater, ws, hasW); err != nil {
		return err
	}
	if o.L, err = count(FieldLand, ls, hasL); err != nil {
		return err
	}
	if o.W+o.L == 0 {
		return malformed(CodeInvalidCounts, "counts %q and %q are both 0: nothing to observe", FieldWater, FieldLand)
	}
	return nil
}

func count(field, s string, present bool) (int64, error) {
	if !present {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > MaxCount {
		return 0, malformed(CodeInvalidCounts, "field %q is %q, not a whole number from 0 to %d", field, clip.String(s, clip.Field), MaxCount)
	}
	return n, nil
}

func decodeSpec(values map[string]any, o *Event) error {
	prior, ok, err := str(values, FieldPrior)
	if err != nil {
		return err
	}
	if !ok {
		return malformed(CodeInvalidSpec, "a definition needs the field %q", FieldPrior)
	}
	points, ok, err := str(values, FieldGridPoints)
	if err != nil {
		return err
	}
	if !ok {
		return malformed(CodeInvalidSpec, "a definition needs the field %q", FieldGridPoints)
	}
	n, perr := strconv.Atoi(points)
	if perr != nil {
		return malformed(CodeInvalidSpec, "field %q is %q, not a whole number", FieldGridPoints, clip.String(points, clip.Field))
	}
	spec, serr := NewModelSpec(prior, n)
	if serr != nil {
		return malformed(CodeInvalidSpec, "%s", serr.Error())
	}
	o.Spec = spec
	return nil
}

func str(values map[string]any, name string) (string, bool, error) {
	v, ok := values[name]
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, malformed(CodeInvalidType, "field %q has type %T, want string", name, v)
	}
	return s, true, nil
}

// Validate checks an event before it is produced, by the rules Decode reads
// it with, so a producer never writes an entry the consumer dead-letters.
func (o Event) Validate() error {
	if o.Model != "" && !ValidModelName(o.Model) {
		return malformed(CodeInvalidModel, "model %q is not a name: %s", clip.String(o.Model, clip.Field), ModelNameRule)
	}
	switch o.Kind {
	case KindDefine:
		if _, err := NewModelSpec(o.Spec.Prior, o.Spec.GridPoints); err != nil {
			return malformed(CodeInvalidSpec, "%s", err.Error())
		}
		return nil
	case KindDelete:
		if o.ModelName() == DefaultModel {
			return malformed(CodeInvalidModel, "the %q model can be reset, not deleted", DefaultModel)
		}
		return nil
	case KindReset:
		return nil
	case KindObserve, "":
	default:
		return malformed(CodeInvalidKind, "kind %q is not %s", clip.String(o.Kind, clip.Field), kindRule)
	}
	if o.Trial != "" {
		if o.W != 0 || o.L != 0 {
			return malformed(CodeInvalidCounts, "an observation has a trial or counts, not both")
		}
		if !ValidTrial(o.Trial) {
			return malformed(CodeInvalidTrial, "trial %q is neither %q nor %q", clip.String(o.Trial, clip.Field), TrialWater, TrialLand)
		}
		return nil
	}
	if o.W < 0 || o.L < 0 || o.W > MaxCount || o.L > MaxCount || o.W+o.L == 0 {
		return malformed(CodeInvalidCounts, "counts w=%d l=%d: want 0 to %d each, at least one trial in all", o.W, o.L, MaxCount)
	}
	return nil
}

// ModelName is the event's model, DefaultModel when it names none.
func (o Event) ModelName() string {
	if o.Model == "" {
		return DefaultModel
	}
	return o.Model
}

// CompareStreamIDs orders two Redis stream ids ("ms-seq") as Redis does:
// -1, 0 or +1. An id that does not parse sorts after every one that does,
// and two such ids by their text, so a sort never loses an entry.
func CompareStreamIDs(a, b string) int {
	am, as, okA := ParseStreamID(a)
	bm, bs, okB := ParseStreamID(b)
	switch {
	case okA && okB:
		return cmp.Or(cmp.Compare(am, bm), cmp.Compare(as, bs))
	case okA:
		return -1
	case okB:
		return 1
	}
	return strings.Compare(a, b)
}

// ParseStreamID splits a Redis stream id into its milliseconds and
// sequence number.
func ParseStreamID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}
