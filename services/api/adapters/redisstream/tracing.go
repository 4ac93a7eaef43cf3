package redisstream

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/telemetry"
)

// tracerName is the instrumentation scope of the producer spans.
const tracerName = "github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"

// startSpan starts the producer span of o's publish, named and described as
// the OpenTelemetry messaging conventions say ("send <stream>"), and writes
// its context into o's traceparent/tracestate fields: the span is the
// parent of bayes' consumer span. The caller ends the span.
func (p *Publisher) startSpan(ctx context.Context, o *events.Event) (context.Context, trace.Span) {
	ctx, span := p.tracer.Start(ctx, "send "+p.stream, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			telemetry.MessagingRedis,
			semconv.MessagingOperationName("send"),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingDestinationName(p.stream),
			attribute.String("edb.model", o.ModelName()),
			attribute.String("edb.kind", publishedLabel(o)),
		))
	if span.SpanContext().IsValid() {
		carrier := propagation.MapCarrier{}
		otel.GetTextMapPropagator().Inject(ctx, carrier)
		o.TraceParent, o.TraceState = carrier[events.FieldTraceParent], carrier[events.FieldTraceState]
	}
	return ctx, span
}

// endSpan records the outcome of the XADD on span: the entry id, or the
// error and its error.type ("timeout" when the publish timed out, "closed"
// after Close, "not_replicated" when WAIT confirmed too few replicas, a
// Redis reply's code, or the error's Go type).
func endSpan(span trace.Span, id string, err error) {
	if err != nil {
		errType := telemetry.ErrorType(err)
		switch {
		case errors.Is(err, ErrClosed):
			errType = semconv.ErrorTypeKey.String("closed")
		case errors.Is(err, ErrNotReplicated):
			errType = semconv.ErrorTypeKey.String("not_replicated")
		}
		span.RecordError(err)
		span.SetAttributes(errType)
		span.SetStatus(codes.Error, "XADD failed")
		return
	}
	span.SetAttributes(semconv.MessagingMessageID(id))
}
