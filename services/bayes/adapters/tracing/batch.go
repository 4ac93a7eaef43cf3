// Package tracing is bayes' OpenTelemetry instrumentation of the consume
// loop: a decorator around the command that applies a batch, which starts
// for every entry a consumer span whose parent is the producer span named
// in the entry, so one trace follows an observation from the api's HTTP
// request through Redis into the model. The handler itself imports no
// tracing.
package tracing

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// tracerName is the instrumentation scope of bayes' consumer spans.
const tracerName = "github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/tracing"

// Batches wraps next so that every entry of a batch gets a consumer span,
// "<stream> process", with two children: "model.apply" (what the entry
// asks of its model) and "state.save" (the one commit the batch shares).
// The entry's span context reaches next through command.WithEntryContexts,
// so what next logs about an entry carries its trace. Leave the decorator
// out when tracing is off: then no span is started at all.
func Batches(next command.BatchHandler, stream string) command.BatchHandler {
	return batches{next: next, stream: stream, tracer: otel.Tracer(tracerName)}
}

type batches struct {
	next   command.BatchHandler
	stream string
	tracer trace.Tracer
}

func (b batches) Handle(ctx context.Context, batch []command.Entry) (command.Result, error) {
	if len(batch) == 0 {
		return b.next.Handle(ctx, batch)
	}
	per := make([]context.Context, len(batch))
	process := make([]trace.Span, len(batch))
	save := make([]trace.Span, len(batch))
	prop := otel.GetTextMapPropagator()
	for i, e := range batch {
		carrier := propagation.MapCarrier{}
		if e.TraceParent != "" {
			carrier[events.FieldTraceParent] = e.TraceParent
		}
		if e.TraceState != "" {
			carrier[events.FieldTraceState] = e.TraceState
		}
		// Keep the batch's own context values (deadline, logger) but take the
		// parent span from the entry.
		parent := prop.Extract(trace.ContextWithSpanContext(ctx, trace.SpanContext{}), carrier)
		per[i], process[i] = b.tracer.Start(parent, b.stream+" process",
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("messaging.system", "redis"),
				attribute.String("messaging.operation.type", "process"),
				attribute.String("messaging.destination.name", b.stream),
				attribute.String("messaging.message.id", e.ID),
				attribute.Int("messaging.batch.message_count", len(batch)),
			))
		_, apply := b.tracer.Start(per[i], "model.apply")
		if e.Kind == command.Reject {
			apply.SetAttributes(attribute.String("edb.dead_letter.reason", e.Rejection.Code))
		} else {
			apply.SetAttributes(attribute.String("edb.model", e.Model),
				attribute.Int64("edb.w", e.Observation.W), attribute.Int64("edb.l", e.Observation.L))
		}
		apply.End()
	}
	for i, c := range per {
		_, save[i] = b.tracer.Start(c, "state.save")
	}
	res, err := b.next.Handle(command.WithEntryContexts(ctx, per), batch)
	for i := range batch {
		if err != nil {
			save[i].RecordError(err)
			save[i].SetStatus(codes.Error, "commit failed")
			process[i].SetStatus(codes.Error, "commit failed")
		} else if i < len(res.Outcomes) {
			process[i].SetAttributes(attribute.String("edb.outcome", res.Outcomes[i].Status.String()))
		}
		save[i].End()
		process[i].End()
	}
	return res, err
}
