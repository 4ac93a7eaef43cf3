// Package redisstream is the api's Redis adapter: it publishes observations
// to a Redis Stream with XADD and checks that Redis answers. It implements
// the interfaces of the app layer and knows nothing of HTTP.
package redisstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Publisher appends observations to one stream.
type Publisher struct {
	client  redis.Cmdable
	stream  string
	timeout time.Duration
	metrics *PublishMetrics
	tracer  trace.Tracer
}

// PublishMetrics count and time XADDs.
type PublishMetrics struct {
	published *prometheus.CounterVec
	failures  prometheus.Counter
	duration  prometheus.Histogram
}

// NewPublishMetrics registers the publish metrics with reg.
func NewPublishMetrics(reg prometheus.Registerer) *PublishMetrics {
	m := &PublishMetrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edb_api_events_published_total",
			Help: "Observations stored in the stream (XADD succeeded), by trial.",
		}, []string{"trial"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edb_api_publish_failures_total",
			Help: "XADDs that failed or timed out; each one was answered 503.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edb_api_publish_duration_seconds",
			Help:    "Time one XADD took, successful or not.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	reg.MustRegister(m.published, m.failures, m.duration)
	m.published.WithLabelValues(events.TrialWater)
	m.published.WithLabelValues(events.TrialLand)
	return m
}

// Option configures a Publisher.
type Option func(*Publisher)

// WithMetrics makes the publisher count and time its XADDs.
func WithMetrics(m *PublishMetrics) Option { return func(p *Publisher) { p.metrics = m } }

// NewPublisher returns a Publisher appending to stream through client. Every
// Publish gives up after timeout, so a Redis that accepts connections but
// does not answer cannot make a request hang.
func NewPublisher(client redis.Cmdable, stream string, timeout time.Duration, opts ...Option) (*Publisher, error) {
	if client == nil {
		return nil, errors.New("redisstream: nil client")
	}
	if stream == "" {
		return nil, errors.New("redisstream: empty stream name")
	}
	if timeout <= 0 {
		return nil, errors.New("redisstream: publish timeout must be positive")
	}
	p := &Publisher{client: client, stream: stream, timeout: timeout, tracer: otel.Tracer(tracerName)}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// tracerName is the instrumentation scope of the producer spans.
const tracerName = "github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"

// Publish stores o with XADD and returns the entry id once Redis has stored
// it. The stream is not trimmed here: the consumer trims only what it has
// processed, so an entry is never dropped before it is counted.
func (p *Publisher) Publish(ctx context.Context, o events.Observation) (string, error) {
	// Guard the contract: the consumer dead-letters a bad trial, so refuse to
	// produce one in the first place.
	if !events.ValidTrial(o.Trial) {
		return "", fmt.Errorf("publishing to stream %q: invalid trial %q", p.stream, o.Trial)
	}
	// The producer span is the parent of bayes' consumer span: its context
	// travels in the entry's traceparent/tracestate fields.
	ctx, span := p.tracer.Start(ctx, p.stream+" publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "redis"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", p.stream),
			attribute.String("edb.trial", o.Trial),
		))
	defer span.End()
	if span.SpanContext().IsValid() {
		carrier := propagation.MapCarrier{}
		otel.GetTextMapPropagator().Inject(ctx, carrier)
		o.TraceParent, o.TraceState = carrier["traceparent"], carrier["tracestate"]
	}

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	id, err := p.client.XAdd(ctx, &redis.XAddArgs{Stream: p.stream, Values: o.Fields()}).Result()
	if p.metrics != nil {
		p.metrics.duration.Observe(time.Since(start).Seconds())
		if err != nil {
			p.metrics.failures.Inc()
		} else {
			p.metrics.published.WithLabelValues(o.Trial).Inc()
		}
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "XADD failed")
		return "", fmt.Errorf("XADD to stream %q: %w", p.stream, err)
	}
	span.SetAttributes(attribute.String("messaging.message.id", id))
	return id, nil
}

// Pinger checks that Redis answers.
type Pinger struct {
	client redis.Cmdable
}

// NewPinger returns a Pinger using client.
func NewPinger(client redis.Cmdable) (*Pinger, error) {
	if client == nil {
		return nil, errors.New("redisstream: nil client")
	}
	return &Pinger{client: client}, nil
}

// Ping sends PING; the caller's context bounds how long it may take.
func (p *Pinger) Ping(ctx context.Context) error {
	if err := p.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("PING redis: %w", err)
	}
	return nil
}
