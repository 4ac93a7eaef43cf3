package command

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// tracerName is the instrumentation scope of bayes' consumer spans.
const tracerName = "github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"

// WithTracing makes the handler start, for every entry, a consumer span
// whose parent is the producer span named in the entry's traceparent, with
// child spans for applying it to the model and saving the state. Without it
// no span is started at all, so tracing off costs nothing per event.
func WithTracing(stream string) Option {
	return func(h *ApplyBatchHandler) {
		h.tracer = otel.Tracer(tracerName)
		h.stream = stream
	}
}

// Option configures an ApplyBatchHandler.
type Option func(*ApplyBatchHandler)

// batchSpans are the per-entry spans of one batch.
type batchSpans struct {
	ctx     []context.Context
	process []trace.Span
	save    []trace.Span
}

// startProcess starts each entry's consumer span, parented by the trace
// context its producer put in the entry.
func (h *ApplyBatchHandler) startProcess(ctx context.Context, batch []Delivery) *batchSpans {
	bs := &batchSpans{ctx: make([]context.Context, len(batch)), process: make([]trace.Span, len(batch))}
	prop := otel.GetTextMapPropagator()
	for i, d := range batch {
		carrier := propagation.MapCarrier{}
		for _, f := range []string{events.FieldTraceParent, events.FieldTraceState} {
			if v, ok := d.Values[f].(string); ok {
				carrier[f] = v
			}
		}
		// Keep the batch's own context values (deadline, logger) but take the
		// parent span from the entry.
		parent := prop.Extract(trace.ContextWithSpanContext(ctx, trace.SpanContext{}), carrier)
		bs.ctx[i], bs.process[i] = h.tracer.Start(parent, h.stream+" process",
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("messaging.system", "redis"),
				attribute.String("messaging.operation.type", "process"),
				attribute.String("messaging.destination.name", h.stream),
				attribute.String("messaging.message.id", d.ID),
				attribute.Int("messaging.batch.message_count", len(batch)),
			))
	}
	return bs
}

// decide runs Decide inside an "apply" span under the entry's consumer span.
func (h *ApplyBatchHandler) decide(bs *batchSpans, i int, d Delivery) Decision {
	if bs == nil {
		return Decide(d)
	}
	_, span := h.tracer.Start(bs.ctx[i], "model.apply")
	dec := Decide(d)
	if dec.DeadLetter() {
		span.SetAttributes(attribute.String("edb.dead_letter.reason", dec.Code))
	} else {
		span.SetAttributes(attribute.String("edb.model", dec.Event.Model),
			attribute.Int64("edb.w", dec.W), attribute.Int64("edb.l", dec.L))
	}
	span.End()
	return dec
}

// startSave opens each entry's "save state" span around the one commit the
// whole batch shares.
func (h *ApplyBatchHandler) startSave(bs *batchSpans) {
	if bs == nil {
		return
	}
	bs.save = make([]trace.Span, len(bs.ctx))
	for i, c := range bs.ctx {
		_, bs.save[i] = h.tracer.Start(c, "state.save")
	}
}

// end closes every span with what happened to its entry.
func (h *ApplyBatchHandler) end(bs *batchSpans, res CommitResult, err error) {
	if bs == nil {
		return
	}
	for i := range bs.process {
		if bs.save != nil {
			if err != nil {
				bs.save[i].RecordError(err)
				bs.save[i].SetStatus(codes.Error, "commit failed")
			}
			bs.save[i].End()
		}
		if err == nil && i < len(res.Outcomes) {
			bs.process[i].SetAttributes(attribute.String("edb.outcome", outcomeName(res.Outcomes[i])))
		}
		if err != nil {
			bs.process[i].SetStatus(codes.Error, "commit failed")
		}
		bs.process[i].End()
	}
}

func outcomeName(b byte) string {
	switch b {
	case OutcomeApplied:
		return "applied"
	case OutcomeSkipped:
		return "skipped"
	case OutcomeDeadLettered:
		return "dead_lettered"
	}
	return "unknown"
}
