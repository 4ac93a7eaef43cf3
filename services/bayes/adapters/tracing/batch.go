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
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/telemetry"
)

// tracerName is the instrumentation scope of bayes' consumer spans.
const tracerName = "github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/tracing"

// Batches wraps next so that every entry of a batch gets a consumer span,
// "process <stream>" as the OpenTelemetry messaging conventions name it,
// with the conventions' attributes (the consumer group's name is group)
// and two children: "model.apply" (what the entry
// asks of its model) and "state.save" (the one commit the batch shares).
// The entry's span context reaches next through command.WithEntryContexts,
// so what next logs about an entry carries its trace. An entry that failed
// has error.type on its span: "dead_letter" when it was dead-lettered (its
// reason code in edb.dead_letter.reason), or the commit's error type
// ("timeout", a Redis reply's code, a Go type name). Leave the decorator
// out when tracing is off: then no span is started at all.
func Batches(next command.BatchHandler, stream, group string) command.BatchHandler {
	return batches{next: next, stream: stream, group: group, tracer: otel.Tracer(tracerName)}
}

type batches struct {
	next          command.BatchHandler
	stream, group string
	tracer        trace.Tracer
}

// deadLetter is the error.type of a dead-lettered entry.
var deadLetter = semconv.ErrorTypeKey.String("dead_letter")

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
		per[i], process[i] = b.tracer.Start(parent, "process "+b.stream,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				telemetry.MessagingRedis,
				semconv.MessagingOperationName("process"),
				semconv.MessagingOperationTypeProcess,
				semconv.MessagingDestinationName(b.stream),
				semconv.MessagingConsumerGroupName(b.group),
				semconv.MessagingMessageID(e.ID),
				semconv.MessagingBatchMessageCount(len(batch)),
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
	var errType attribute.KeyValue
	if err != nil {
		errType = telemetry.ErrorType(err)
	}
	for i := range batch {
		switch {
		case err != nil:
			save[i].RecordError(err)
			save[i].SetAttributes(errType)
			save[i].SetStatus(codes.Error, "commit failed")
			process[i].SetAttributes(errType)
			process[i].SetStatus(codes.Error, "commit failed")
		case i < len(res.Outcomes):
			o := res.Outcomes[i]
			process[i].SetAttributes(attribute.String("edb.outcome", o.Status.String()))
			if o.Status == command.DeadLettered {
				process[i].SetAttributes(deadLetter)
				process[i].SetStatus(codes.Error, "dead-lettered: "+o.Code)
			}
		}
		save[i].End()
		process[i].End()
	}
	return res, err
}
