package redisstream

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// DecodeEntry turns the fields of stream entry id, as go-redis returns
// them, into the typed entry the application applies. It never fails: an
// entry that is not a valid event becomes a rejected entry with the reason,
// to be dead-lettered with its fields.
func DecodeEntry(id string, values map[string]any) command.Entry {
	if len(values) == 0 {
		return reject(id, values, command.CodeNoFields, "entry has no fields (deleted from the stream while pending?)")
	}
	ev, err := events.Decode(values)
	if err != nil {
		code := events.CodeInvalidType
		var me *events.MalformedError
		if errors.As(err, &me) {
			code = me.Code
		}
		return reject(id, values, code, err.Error())
	}
	e := command.Entry{ID: id, Model: ev.Model, PublishedAt: ev.PublishedAt,
		TraceParent: ev.TraceParent, TraceState: ev.TraceState}
	switch {
	case ev.Kind == events.KindDefine:
		e.Kind, e.Spec = command.Define, ev.Spec
	case ev.Kind == events.KindDelete:
		e.Kind = command.Delete
	case ev.Kind == events.KindReset:
		e.Kind = command.Reset
	case ev.Trial != "":
		t, err := model.ParseTrial(ev.Trial)
		if err != nil { // events.Decode already checked; kept so the domain stays the authority
			return reject(id, values, events.CodeInvalidTrial, err.Error())
		}
		e.Kind, e.Observation = command.Observe, model.Toss(t)
	default:
		e.Kind, e.Observation = command.Observe, model.Batch(ev.W, ev.L)
	}
	return e
}

// reject is a rejected entry that keeps its fields for the dead letter,
// and the trace context its producer sent, if any, so that what is logged
// about it joins the producer's trace.
func reject(id string, values map[string]any, code, reason string) command.Entry {
	fields, err := json.Marshal(values)
	if err != nil {
		fields = []byte(fmt.Sprintf("%q", fmt.Sprint(values)))
	}
	e := command.Entry{ID: id, Kind: command.Reject,
		Rejection: command.Rejection{Reason: reason, Code: code, Fields: string(fields)}}
	e.TraceParent, _ = values[events.FieldTraceParent].(string)
	e.TraceState, _ = values[events.FieldTraceState].(string)
	return e
}
