// Package redisstream is the api's Redis adapter: it publishes observations
// to a Redis Stream with XADD and checks that Redis answers. It implements
// the interfaces of the app layer and knows nothing of HTTP.
package redisstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

// Publisher appends observations to one stream. Concurrent calls are
// written together (group commit): one writer goroutine sends, in one
// pipelined round trip, every XADD that arrived while the previous round
// trip was in flight, and answers each caller with its own entry's result.
// A lone request goes out at once; nobody waits for a batch to fill.
type Publisher struct {
	client  redis.Cmdable
	stream  string
	timeout time.Duration
	metrics *PublishMetrics
	tracer  trace.Tracer

	queue    chan *pending
	stop     chan struct{}
	done     chan struct{}
	closeMu  sync.RWMutex
	closed   bool
	maxBatch int
	inFlight atomic.Int64
}

// pending is one Publish waiting for its XADD.
type pending struct {
	ctx    context.Context // carries the producer span to the pipeline
	fields []string
	reply  chan result // buffered: the writer never blocks on a caller that gave up
}

type result struct {
	id  string
	err error
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
			Help: "Events stored in the stream (XADD succeeded), by trial: w or l for one toss, batch for counts, define for a model definition.",
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
	for _, l := range []string{events.TrialWater, events.TrialLand, labelBatch, labelDefine} {
		m.published.WithLabelValues(l)
	}
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
	p := &Publisher{
		client: client, stream: stream, timeout: timeout, tracer: otel.Tracer(tracerName),
		queue: make(chan *pending, 4*defaultMaxBatch), stop: make(chan struct{}), done: make(chan struct{}),
		maxBatch: defaultMaxBatch,
	}
	for _, o := range opts {
		o(p)
	}
	go p.write()
	return p, nil
}

// defaultMaxBatch bounds one pipelined round trip; more waiting requests go
// in the next one.
const defaultMaxBatch = 1024

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("publisher closed")

// Close stops the writer after the requests already queued are written. Call
// it after the HTTP server has drained, before closing the Redis client.
func (p *Publisher) Close() {
	p.closeMu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
	}
	p.closeMu.Unlock()
	<-p.done
}

// Waiting is how many requests wait for their XADD: queued, or in the round
// trip in flight. For tests and diagnostics.
func (p *Publisher) Waiting() int { return len(p.queue) + int(p.inFlight.Load()) }

// enqueue hands req to the writer unless the publisher is closed.
func (p *Publisher) enqueue(ctx context.Context, req *pending) error {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.queue <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write is the writer goroutine: take one request, everything else already
// queued (up to maxBatch), send them in one pipeline, answer each.
func (p *Publisher) write() {
	defer close(p.done)
	batch := make([]*pending, 0, p.maxBatch)
	for {
		var first *pending
		select {
		case first = <-p.queue:
		case <-p.stop:
			// Closed: write what is still queued, then stop.
			for {
				select {
				case first = <-p.queue:
					p.flush(append(batch[:0], first))
					continue
				default:
				}
				return
			}
		}
		batch = append(batch[:0], first)
		p.inFlight.Store(1)
	drain:
		for len(batch) < p.maxBatch {
			select {
			case req := <-p.queue:
				batch = append(batch, req)
				p.inFlight.Add(1)
			default:
				break drain
			}
		}
		p.flush(batch)
		p.inFlight.Store(0)
	}
}

// flush writes one batch in one round trip. A failed round trip fails
// exactly the requests it carried; the reply of each XADD goes to its
// caller. A request whose caller has given up (its deadline passed while it
// waited, e.g. during a Redis outage) is answered, not written: its client
// got a 503 and must not have the observation counted anyway. The round
// trip's deadline is the earliest of its callers', so none is written after
// its caller was told it failed.
func (p *Publisher) flush(batch []*pending) {
	live := batch[:0:0]
	var deadline time.Time
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.reply <- result{err: err}
			continue
		}
		if d, ok := req.ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
			deadline = d
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(p.timeout)
	}
	// The pipeline's own client span joins the first request's trace; every
	// request keeps its own producer span around the whole wait.
	ctx, cancel := context.WithDeadline(trace.ContextWithSpan(context.Background(), trace.SpanFromContext(live[0].ctx)), deadline)
	defer cancel()
	pipe := p.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(live))
	for i, req := range live {
		cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: p.stream, Values: req.fields})
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, req := range live {
		id, err := cmds[i].Result()
		req.reply <- result{id: id, err: err}
	}
}

// Label values of edb_api_events_published_total besides the trials.
const (
	labelBatch  = "batch"
	labelDefine = "define"
)

func publishedLabel(o events.Event) string {
	switch {
	case o.Kind == events.KindDefine:
		return labelDefine
	case o.Trial != "":
		return o.Trial
	default:
		return labelBatch
	}
}

// tracerName is the instrumentation scope of the producer spans.
const tracerName = "github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"

// Publish stores o with XADD and returns the entry id once Redis has stored
// it. The stream is not trimmed here: the consumer trims only what it has
// processed, so an entry is never dropped before it is counted.
func (p *Publisher) Publish(ctx context.Context, o events.Event) (string, error) {
	// Guard the contract: the consumer dead-letters a bad event, so refuse
	// to produce one in the first place.
	if err := o.Validate(); err != nil {
		return "", fmt.Errorf("publishing to stream %q: %w", p.stream, err)
	}
	// The producer span is the parent of bayes' consumer span: its context
	// travels in the entry's traceparent/tracestate fields.
	ctx, span := p.tracer.Start(ctx, p.stream+" publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "redis"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", p.stream),
			attribute.String("edb.model", o.ModelName()),
			attribute.String("edb.kind", publishedLabel(o)),
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
	req := &pending{ctx: ctx, fields: o.Fields(), reply: make(chan result, 1)}
	var id string
	err := p.enqueue(ctx, req)
	if err == nil {
		select {
		case r := <-req.reply:
			id, err = r.id, r.err
		case <-ctx.Done():
			// The XADD may still be stored; the caller answers 503 and the
			// client may retry (at-least-once from its point of view).
			err = ctx.Err()
		}
	}
	if p.metrics != nil {
		p.metrics.duration.Observe(time.Since(start).Seconds())
		if err != nil {
			p.metrics.failures.Inc()
		} else {
			p.metrics.published.WithLabelValues(publishedLabel(o)).Inc()
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

// SpecReader reads model specs (command.SpecReader) with GET: the only
// read the api's Redis user may make.
type SpecReader struct {
	client redis.Cmdable
	stream string
}

// NewSpecReader returns a reader of the specs of stream's models.
func NewSpecReader(client redis.Cmdable, stream string) (*SpecReader, error) {
	if client == nil || stream == "" {
		return nil, errors.New("redisstream: nil client or empty stream name")
	}
	return &SpecReader{client: client, stream: stream}, nil
}

// Spec returns the spec model was created with, and whether it exists.
func (r *SpecReader) Spec(ctx context.Context, model string) (events.ModelSpec, bool, error) {
	key := events.SpecKey(r.stream, model)
	b, err := r.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return events.ModelSpec{}, false, nil
	}
	if err != nil {
		return events.ModelSpec{}, false, fmt.Errorf("GET %s: %w", key, err)
	}
	spec, err := events.DecodeModelSpec(b)
	if err != nil {
		return events.ModelSpec{}, false, fmt.Errorf("GET %s: %w", key, err)
	}
	return spec, true, nil
}
