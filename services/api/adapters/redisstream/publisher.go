package redisstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
)

// Publisher appends observations to one stream. Concurrent calls are
// written together (group commit): one writer goroutine sends, in one
// pipelined round trip, every XADD that arrived while the previous round
// trip was in flight, and answers each caller with its own entry's result.
// A lone request goes out at once; nobody waits for a batch to fill.
//
// The costs a request adds are kept per batch, not per request: callers
// join the open batch under one mutex (no channel send each), the writer is
// woken once per batch, a batch's answers are published by closing one
// channel (a broadcast), and a caller's timeout is the batch's one timer
// while the round trip is on time; a caller arms a timer of its own only
// when its batch is already late.
//
// Each round trip goes to the node that serves the stream's slot (the one
// server, or the stream's master in a Redis Cluster) on one connection, so
// that WAIT, sent in the same pipeline when replicas are asked for
// (WithWaitReplicas), counts the replicas of exactly that batch. The
// cluster client's own retries are bypassed: an XADD whose reply was lost
// may have been stored, and sending it again would count the event twice.
type Publisher struct {
	client  redis.UniversalClient
	stream  string
	timeout time.Duration
	wait    int             // replicas WAIT asks for after each batch; 0: no WAIT
	metrics *PublishMetrics // nil: not measured
	tracer  trace.Tracer    // nil: not traced

	mu       sync.Mutex
	queue    []*batch // oldest first; the last one is open while not full
	inFlight int      // requests in the round trip being written
	idle     bool     // the writer waits for a kick
	closed   bool
	kick     chan struct{} // one token: "the queue is not empty, or closed"
	done     chan struct{} // closed when the writer has stopped
	maxBatch int
}

// batch is the requests written in one round trip.
type batch struct {
	entries []entry
	// results, written by the writer before done is closed.
	ids  []string
	errs []error
	done chan struct{}
	// expired is closed when the first entry's deadline passes (a timer
	// armed when the batch opens): the callers still waiting then are
	// late, and each waits on to its own deadline.
	expired chan struct{}
	timer   *time.Timer
}

// entry is one Publish waiting for its XADD.
type entry struct {
	ctx      context.Context // the caller's: its cancellation, and its producer span for the pipeline
	fields   []string
	deadline time.Time // the caller gives up then; the writer does not send it after
}

// Option configures a Publisher.
type Option func(*Publisher)

// WithTracer makes the publisher start a producer span per event and carry
// its context in the event, so bayes' consumer span joins the trace.
// Without it nothing is traced and nothing is spent on spans.
func WithTracer(tp trace.TracerProvider) Option {
	return func(p *Publisher) { p.tracer = tp.Tracer(tracerName) }
}

// WithWaitReplicas makes every batch wait, with WAIT on the node that took
// it, until k replicas have its writes: a Publish succeeds only then, and
// fails with an error wrapping ErrNotReplicated when fewer confirm before
// its deadline. 0, the default, sends no WAIT: Redis replicates
// asynchronously, and an event acknowledged by a master that dies before
// its replica got it is lost.
func WithWaitReplicas(k int) Option { return func(p *Publisher) { p.wait = k } }

// ErrNotReplicated is wrapped by Publish's error when the event was stored
// on the master but fewer replicas than WithWaitReplicas asks for confirmed
// it within the publish timeout: it may still be counted (it is, unless the
// master fails before replicating it), so a retry may count it twice. The
// error is a *command.NotReplicatedError, which says how many confirmed.
var ErrNotReplicated = command.ErrNotReplicated

// NewPublisher returns a Publisher appending to stream through client (one
// server, or a Redis Cluster). Every Publish gives up after timeout, so a
// Redis that accepts connections but does not answer cannot make a request
// hang.
func NewPublisher(client redis.UniversalClient, stream string, timeout time.Duration, opts ...Option) (*Publisher, error) {
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
		client: client, stream: stream, timeout: timeout,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
		maxBatch: defaultMaxBatch,
	}
	for _, o := range opts {
		o(p)
	}
	if p.wait < 0 {
		return nil, errors.New("redisstream: negative number of replicas to wait for")
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
	p.mu.Lock()
	p.closed = true
	wake := p.idle
	p.idle = false
	p.mu.Unlock()
	if wake {
		p.kick <- struct{}{}
	}
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
	var span trace.Span
	if p.tracer != nil {
		ctx, span = p.startSpan(ctx, &o)
		defer span.End()
	}
	start := time.Now()
	id, err := p.commit(ctx, o.Fields(), start)
	p.metrics.observe(start, &o, err)
	if span != nil {
		endSpan(span, id, err)
	}
	if err != nil {
		return "", fmt.Errorf("XADD to stream %q: %w", p.stream, err)
	}
	return id, nil
}

// commit queues fields for the writer and waits for its XADD's answer, for
// the timeout from now or for ctx to end, whichever comes first.
func (p *Publisher) commit(ctx context.Context, fields []string, now time.Time) (string, error) {
	deadline := now.Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	b, i, err := p.enqueue(entry{ctx: ctx, fields: fields, deadline: deadline})
	if err != nil {
		return "", err
	}
	select {
	case <-b.done:
		return b.ids[i], b.errs[i]
	case <-ctx.Done():
		return "", ctx.Err()
	case <-b.expired:
	}
	// The batch's first deadline passed before its round trip ended:
	// Redis is slow or gone. Wait on to this request's own deadline.
	if wait := time.Until(deadline); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-b.done:
			return b.ids[i], b.errs[i]
		case <-ctx.Done():
			return "", ctx.Err()
		case <-t.C:
		}
	}
	select {
	case <-b.done: // answered just in time: a stored event is a success
		return b.ids[i], b.errs[i]
	default:
		// The XADD may still be stored; the caller answers 503 and the
		// client may retry (at-least-once from its point of view).
		return "", context.DeadlineExceeded
	}
}

// enqueue adds e to the open batch (opening one when there is none or the
// last is full) and wakes the writer if it is idle. It returns the batch and
// e's index in it.
func (p *Publisher) enqueue(e entry) (*batch, int, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, 0, ErrClosed
	}
	var b *batch
	if n := len(p.queue); n > 0 && len(p.queue[n-1].entries) < p.maxBatch {
		b = p.queue[n-1]
	} else {
		b = newBatch(e.deadline)
		p.queue = append(p.queue, b)
	}
	i := len(b.entries)
	b.entries = append(b.entries, e)
	wake := p.idle
	p.idle = false
	p.mu.Unlock()
	if wake {
		p.kick <- struct{}{} // buffered, and only the one who cleared idle sends
	}
	return b, i, nil
}

// newBatch opens a batch whose first entry gives up at deadline.
func newBatch(deadline time.Time) *batch {
	b := &batch{done: make(chan struct{}), expired: make(chan struct{})}
	b.timer = time.AfterFunc(time.Until(deadline), func() { close(b.expired) })
	return b
}

// write is the writer goroutine: take the oldest batch, send it in one
// pipeline, answer its callers; wait for a kick when there is none. After
// Close it writes what is queued, then stops.
func (p *Publisher) write() {
	defer close(p.done)
	p.mu.Lock()
	for {
		if len(p.queue) == 0 {
			if p.closed {
				p.mu.Unlock()
				return
			}
			p.idle = true
			p.mu.Unlock()
			<-p.kick
			p.mu.Lock()
			continue
		}
		b := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.inFlight = len(b.entries)
		p.mu.Unlock()
		p.flush(b)
		p.mu.Lock()
		p.inFlight = 0
	}
}

// flush writes one batch in one round trip. A failed round trip fails
// exactly the requests it carried; the reply of each XADD goes to its
// caller. A request whose caller has given up (its deadline passed while it
// waited, e.g. during a Redis outage) is answered, not written: its client
// got a 503 and must not have the observation counted anyway. The round
// trip's deadline is the earliest of its callers', so none is written after
// its caller was told it failed.
//
// With replicas asked for, WAIT follows the XADDs in the same pipeline, on
// the same connection to the stream's master: its answer is how many
// replicas have every write of the batch. Fewer than asked fails every
// XADD of the batch (ErrNotReplicated), each caller told its event may
// still be counted.
func (p *Publisher) flush(b *batch) {
	n := len(b.entries)
	b.ids, b.errs = make([]string, n), make([]error, n)
	defer func() {
		b.timer.Stop()
		close(b.done)
	}()
	now := time.Now()
	var deadline time.Time
	first := -1
	for i, e := range b.entries {
		switch {
		case e.ctx.Err() != nil:
			b.errs[i] = e.ctx.Err()
		case !now.Before(e.deadline):
			b.errs[i] = context.DeadlineExceeded
		default:
			if first < 0 {
				first = i
			}
			if deadline.IsZero() || e.deadline.Before(deadline) {
				deadline = e.deadline
			}
		}
	}
	if first < 0 {
		return
	}
	// The pipeline's own client span joins the first request's trace; every
	// request keeps its own producer span around the whole wait.
	ctx := context.Background()
	if p.tracer != nil {
		ctx = trace.ContextWithSpan(ctx, trace.SpanFromContext(b.entries[first].ctx))
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	node, err := redisconf.MasterFor(ctx, p.client, p.stream)
	if err != nil {
		redisconf.Reload(ctx, p.client)
		for i := range b.entries {
			if b.errs[i] == nil {
				b.errs[i] = err
			}
		}
		return
	}
	pipe := node.Pipeline()
	cmds := make([]*redis.StringCmd, n)
	for i, e := range b.entries {
		if b.errs[i] == nil {
			cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: p.stream, Values: e.fields})
		}
	}
	var wait *redis.Cmd
	if p.wait > 0 {
		// WAIT numreplicas timeout-ms (Pipeliner has no Wait method).
		ms := waitTimeout(time.Until(deadline), node.Options().ReadTimeout).Milliseconds()
		wait = pipe.Do(ctx, "WAIT", p.wait, ms)
	}
	// Each command carries its own error. A failed round trip (refused,
	// timed out, MOVED after a failover, a master turned replica) makes the
	// cluster client read the slot map again, so the next batch goes to
	// the stream's master of now.
	if _, err := pipe.Exec(ctx); err != nil {
		redisconf.Reload(ctx, p.client)
	}
	unconfirmed := p.confirmed(wait)
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		id, err := cmd.Result()
		if err == nil && unconfirmed != nil {
			// Stored, but not known to be on the replicas: not a success.
			id, err = "", fmt.Errorf("entry %s: %w", id, unconfirmed)
		}
		b.ids[i], b.errs[i] = id, err
	}
}

// confirmed is nil when the batch's WAIT (nil: none asked for) saw enough
// replicas, else why not: a *command.NotReplicatedError, or WAIT's own
// error (a dropped connection, or an ACL without +wait).
func (p *Publisher) confirmed(wait *redis.Cmd) error {
	if wait == nil {
		return nil
	}
	got, err := wait.Int64()
	switch {
	case err != nil:
		return fmt.Errorf("stored, but WAIT %d failed: %w", p.wait, err)
	case got < int64(p.wait):
		return &command.NotReplicatedError{Want: p.wait, Got: int(got)}
	default:
		return nil
	}
}

// waitReserve is what a batch keeps of its time for WAIT's answer to come
// back: Redis checks the timeouts of blocked clients on its cron, every
// 100 ms at the default hz of 10, so WAIT answers up to that much late,
// and the reply still has its way back to make.
const waitReserve = 150 * time.Millisecond

// waitTimeout is WAIT's timeout for a batch with left before its deadline,
// on a connection that gives up reading after readTimeout (≤ 0: never):
// short enough that WAIT's own answer (too few replicas) arrives before the
// deadline, and the callers learn their event is stored, rather than a
// plain timeout. A third of the time at least, when there is less than
// twice the reserve (PUBLISH_TIMEOUT under ~0.3 s may then see timeouts
// instead); never 0, which WAIT takes as "forever".
func waitTimeout(left, readTimeout time.Duration) time.Duration {
	if readTimeout > 0 && readTimeout < left {
		left = readTimeout
	}
	return max(left-waitReserve, left/3, time.Millisecond)
}
