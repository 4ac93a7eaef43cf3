package redisstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
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
	metrics *PublishMetrics // nil: not measured
	tracer  trace.Tracer

	queue    chan *pending
	stop     chan struct{}
	done     chan struct{}
	closeMu  sync.RWMutex
	closed   bool
	maxBatch int
	// inFlight counts the requests of the round trip being written; with
	// the queue's length it is what tests wait on (export_test.go).
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

// Option configures a Publisher.
type Option func(*Publisher)

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

// Publish stores o with XADD and returns the entry id once Redis has stored
// it. The stream is not trimmed here: the consumer trims only what it has
// processed, so an entry is never dropped before it is counted.
func (p *Publisher) Publish(ctx context.Context, o events.Event) (string, error) {
	// Guard the contract: the consumer dead-letters a bad event, so refuse
	// to produce one in the first place.
	if err := o.Validate(); err != nil {
		return "", fmt.Errorf("publishing to stream %q: %w", p.stream, err)
	}
	ctx, span := p.startSpan(ctx, &o)
	defer span.End()

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	id, err := p.commit(ctx, o.Fields())
	p.metrics.observe(start, &o, err)
	endSpan(span, id, err)
	if err != nil {
		return "", fmt.Errorf("XADD to stream %q: %w", p.stream, err)
	}
	return id, nil
}

// commit hands fields to the writer and waits for its XADD's answer or for
// ctx to end.
func (p *Publisher) commit(ctx context.Context, fields []string) (string, error) {
	req := &pending{ctx: ctx, fields: fields, reply: make(chan result, 1)}
	if err := p.enqueue(ctx, req); err != nil {
		return "", err
	}
	select {
	case r := <-req.reply:
		return r.id, r.err
	case <-ctx.Done():
		// The XADD may still be stored; the caller answers 503 and the
		// client may retry (at-least-once from its point of view).
		return "", ctx.Err()
	}
}

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
