// Package events is the wire format of an observation as it travels through a
// Redis Stream from the api to bayes. It is the only code the two services
// share about the contract, so a change here is a change to both sides.
package events

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Stream entry field names. They are part of the contract: a producer written
// in any language (redis-cli included) uses these.
const (
	FieldTrial       = "trial"
	FieldTimestamp   = "ts"
	FieldTraceParent = "traceparent"
	FieldTraceState  = "tracestate"
	FieldSource      = "source"
)

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

// Observation is one globe toss as it is carried in a stream entry.
type Observation struct {
	// Trial is TrialWater or TrialLand.
	Trial string
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
	CodeInvalidTimestamp = "invalid_timestamp"
	CodeInvalidType      = "invalid_type"
)

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
// (name, value, name, value, ...). Empty optional fields are left out.
func (o Observation) Fields() []string {
	f := []string{FieldTrial, o.Trial}
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

// Decode reads an observation from stream entry fields as go-redis returns
// them. The trial is required and must be "w" or "l"; the timestamp, when
// present, must be an integer number of microseconds since the Unix epoch.
// Unknown fields are ignored so producers can add to the contract.
func Decode(values map[string]any) (Observation, error) {
	var o Observation
	trial, ok, err := str(values, FieldTrial)
	if err != nil {
		return o, err
	}
	if !ok {
		return o, malformed(CodeMissingTrial, "missing field %q", FieldTrial)
	}
	if !ValidTrial(trial) {
		return o, malformed(CodeInvalidTrial, "trial %q is neither %q nor %q", clip(trial), TrialWater, TrialLand)
	}
	o.Trial = trial

	if ts, ok, err := str(values, FieldTimestamp); err != nil {
		return o, err
	} else if ok {
		us, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil || us <= 0 {
			return o, malformed(CodeInvalidTimestamp, "field %q is %q, not microseconds since the epoch", FieldTimestamp, clip(ts))
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

// clip keeps error messages (which end up in the dead-letter stream and the
// logs) short whatever a producer sent.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
