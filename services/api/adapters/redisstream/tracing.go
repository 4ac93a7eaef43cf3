package redisstream

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// tracerName is the instrumentation scope of the producer spans.
const tracerName = "github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"

// startSpan starts the producer span of o's publish and writes its context
// into o's traceparent/tracestate fields: the span is the parent of bayes'
// consumer span. The caller ends the span.
func (p *Publisher) startSpan(ctx context.Context, o *events.Event) (context.Context, trace.Span) {
	ctx, span := p.tracer.Start(ctx, p.stream+" publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "redis"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", p.stream),
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
// error.
func endSpan(span trace.Span, id string, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "XADD failed")
		return
	}
	span.SetAttributes(attribute.String("messaging.message.id", id))
}
