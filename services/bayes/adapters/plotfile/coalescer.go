package plotfile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// FinalDrawTimeout bounds the last draw Run makes after its context is
// cancelled, so shutdown waits for the final image but not for ever.
const FinalDrawTimeout = 2 * time.Second

// Coalescer decouples drawing from event consumption: the consumer calls
// Notify for every new state and never waits; Run draws whatever state is
// newest when the previous draw finishes. A burst of thousands of events
// therefore costs a couple of images, and the last image is of the last
// state.
//
// The wake-up is a channel of capacity 1 beside a mutex-protected value:
// the channel says "something is pending", the value says what, and a newer
// state simply overwrites an older pending one.
type Coalescer struct {
	render func(context.Context, model.Counts) error
	log    *slog.Logger
	wake   chan struct{}

	mu         sync.Mutex
	pending    model.Counts
	hasPending bool
	newest     model.Counts // newest state accepted, pending or drawn
	seen       bool         // newest is set
	retry      bool         // newest's draw failed, so the same state is welcome again

	minGap    time.Duration // least time between the starts of two draws
	lastStart time.Time     // of the previous draw; only Run touches it

	running atomic.Bool
	// What happened, for the tests (export_test.go).
	draws   atomic.Int64
	errs    atomic.Int64
	ignored atomic.Int64
}

// NewCoalescer returns a Coalescer that draws with render. Start its Run in
// a goroutine that the caller owns.
func NewCoalescer(render func(ctx context.Context, c model.Counts) error, logger *slog.Logger, opts ...CoalescerOption) (*Coalescer, error) {
	if render == nil {
		return nil, errors.New("render func is nil")
	}
	if logger == nil {
		return nil, errors.New("logger is nil")
	}
	c := &Coalescer{render: render, log: logger, wake: make(chan struct{}, 1)}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// CoalescerOption configures a Coalescer.
type CoalescerOption func(*Coalescer)

// WithMinInterval makes draws start at least d apart. A draw costs tens of
// milliseconds of CPU; back to back under a steady stream of events they
// would take a whole core from the consumer on a small machine. The state
// drawn is still the newest one, and after the last event its image is
// written within d plus one draw.
func WithMinInterval(d time.Duration) CoalescerOption {
	return func(c *Coalescer) { c.minGap = d }
}

// Notify records c as the state to draw next and returns at once; it never
// waits for a draw. A state with a smaller N than one already seen is
// ignored (events may arrive out of order across consumers, and the image
// must not go backwards), and so is a repeat of the newest state unless its
// draw failed.
func (c *Coalescer) Notify(s model.Counts) {
	c.mu.Lock()
	if c.seen && (s.N < c.newest.N || (s == c.newest && !c.retry)) {
		c.mu.Unlock()
		c.ignored.Add(1)
		return
	}
	c.newest, c.seen, c.retry = s, true, false
	c.pending, c.hasPending = s, true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is already pending; Run will read the new value
	}
}

// Run draws the newest pending state, again and again, until ctx is
// cancelled. Then it draws the state still pending, if any, with a fresh
// context bounded by FinalDrawTimeout, and returns: nil, or the final
// draw's error. A failed draw is logged and counted and does not stop the
// loop. Run must not be called twice at once.
func (c *Coalescer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("coalescer is already running")
	}
	defer c.running.Store(false)
	for {
		select {
		case <-ctx.Done():
			return c.drawFinal(ctx)
		case <-c.wake:
			// select picks at random among ready cases; a cancelled ctx
			// must win so the state goes to the final draw, not to a draw
			// doomed by the cancelled context.
			if ctx.Err() != nil {
				continue
			}
			if wait := c.minGap - time.Since(c.lastStart); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return c.drawFinal(ctx)
				case <-t.C:
				}
			}
			// Taken after the wait: whatever arrived meanwhile is drawn now.
			if s, ok := c.take(); ok {
				c.lastStart = time.Now()
				_ = c.draw(ctx, s)
			}
		}
	}
}

func (c *Coalescer) drawFinal(ctx context.Context) error {
	s, ok := c.take()
	if !ok {
		return nil
	}
	// WithoutCancel keeps ctx's values (trace, logger fields) but not its
	// cancellation, which is what triggered this draw.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FinalDrawTimeout)
	defer cancel()
	if err := c.draw(fctx, s); err != nil {
		return fmt.Errorf("final draw of n=%d w=%d: %w", s.N, s.W, err)
	}
	return nil
}

// take returns the pending state, if any, and clears it.
func (c *Coalescer) take() (model.Counts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.pending, c.hasPending
	c.hasPending = false
	return s, ok
}

func (c *Coalescer) draw(ctx context.Context, s model.Counts) error {
	err := c.render(ctx, s)
	if err == nil {
		c.draws.Add(1)
		return nil
	}
	interrupted := ctx.Err() != nil
	c.mu.Lock()
	if s == c.newest {
		c.retry = true
		// Cancelled mid-draw with nothing newer queued: put the state back
		// so the final draw, on a fresh context, still writes it.
		if interrupted && !c.hasPending {
			c.pending, c.hasPending = s, true
		}
	}
	c.mu.Unlock()
	if interrupted {
		c.log.Debug("graph draw interrupted by shutdown", "n", s.N, "w", s.W, "err", err)
		return err
	}
	c.errs.Add(1)
	c.log.Error("drawing graph", "n", s.N, "w", s.W, "err", err)
	return err
}
