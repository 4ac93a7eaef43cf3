// Package streamconsumer is the driving port that feeds the stream into the
// application: it recovers this consumer's own pending entries, claims those
// of dead consumers, reads new ones in batches, and hands each batch to the
// ApplyBatch command (decoded by the source, decorated by the service).
// Maintenance (trim, stale consumer clean-up) runs on
// the same goroutine between reads, so there is one loop to stop.
package streamconsumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Source is the stream as the runner needs it (redisstream.Consumer).
type Source interface {
	EnsureGroup(ctx context.Context) error
	ReadOwnPending(ctx context.Context, after string, count int) ([]command.Entry, error)
	ReadNew(ctx context.Context, count int, block time.Duration) ([]command.Entry, error)
	Claim(ctx context.Context, cursor string, minIdle time.Duration, count int) ([]command.Entry, string, error)
	Trim(ctx context.Context) (int64, error)
	RemoveStaleConsumers(ctx context.Context, idle time.Duration) ([]string, error)
}

// Config tunes the loop.
type Config struct {
	BatchSize    int           // entries per XREADGROUP
	Block        time.Duration // how long one read waits; bounds shutdown latency
	ClaimEvery   time.Duration // how often to look for entries of dead consumers
	ClaimMinIdle time.Duration // how long an entry is pending before it counts as abandoned
	TrimEvery    time.Duration // how often to trim acknowledged entries; 0 disables
	StaleAfter   time.Duration // idle time after which an empty consumer is removed; 0 disables
	CommitGrace  time.Duration // how long a batch already read may take to commit after shutdown began
}

// Runner owns the consume loop.
type Runner struct {
	src   Source
	apply command.BatchHandler
	cfg   Config
	log   *slog.Logger

	// held are entries the last commit held back (command.Waiting): still
	// pending, offered again with the next batch. Only the loop touches it.
	held []command.Entry
}

// New rejects nil dependencies and nonsensical settings.
func New(src Source, apply command.BatchHandler, cfg Config, log *slog.Logger) (*Runner, error) {
	if src == nil || apply == nil || log == nil {
		return nil, errors.New("stream consumer: nil source, applier or logger")
	}
	if cfg.BatchSize <= 0 || cfg.Block <= 0 || cfg.ClaimEvery <= 0 || cfg.ClaimMinIdle <= 0 {
		return nil, fmt.Errorf("stream consumer: invalid config %+v", cfg)
	}
	if cfg.CommitGrace <= 0 {
		cfg.CommitGrace = 5 * time.Second
	}
	return &Runner{src: src, apply: apply, cfg: cfg, log: log}, nil
}

// Run consumes until ctx is cancelled, then returns nil once the batch in
// hand is committed. Failures (Redis down) are logged and retried with a
// growing back-off; whatever was read but not committed stays pending and is
// read again from this consumer's own pending list.
func (r *Runner) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.log.WarnContext(ctx, "stream consumer: retrying", "err", err, "backoff", backoff.String())
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// session runs until the first error. A reader goroutine fetches the next
// batch while this one commits the current one, so Redis' work on the read
// and the decoding here overlap with the commit; at most two batches are
// read and not yet committed, and those stay pending if anything fails.
func (r *Runner) session(ctx context.Context) error {
	if err := r.src.EnsureGroup(ctx); err != nil {
		return err
	}
	if err := r.recoverOwn(ctx); err != nil {
		return err
	}
	rctx, stopReader := context.WithCancel(ctx)
	batches := make(chan []command.Entry, 1)
	readErr := make(chan error, 1)
	go r.readAhead(rctx, batches, readErr)
	defer func() {
		stopReader()
		for range batches { // let the reader finish; what it read stays pending
		}
	}()

	now := time.Now()
	nextClaim, nextTrim := now, now.Add(r.cfg.TrimEvery)
	cursor := "0-0"
	for {
		if now := time.Now(); !now.Before(nextClaim) && ctx.Err() == nil {
			var err error
			if cursor, err = r.claim(ctx, cursor); err != nil {
				return err
			}
			if cursor == "0-0" { // a full scan is done; the next one waits
				nextClaim = now.Add(r.cfg.ClaimEvery)
				r.removeStale(ctx)
			}
		}
		if r.cfg.TrimEvery > 0 && !time.Now().Before(nextTrim) && ctx.Err() == nil {
			if n, err := r.src.Trim(ctx); err != nil {
				r.log.WarnContext(ctx, "stream consumer: trim failed", "err", err)
			} else if n > 0 {
				r.log.DebugContext(ctx, "stream consumer: trimmed acknowledged entries", "count", n)
			}
			nextTrim = time.Now().Add(r.cfg.TrimEvery)
		}
		batch, ok := <-batches
		if !ok {
			// The reader stopped: shutdown (every batch it read has been
			// committed above) or a read error.
			if ctx.Err() != nil {
				return nil
			}
			return <-readErr
		}
		if err := r.process(ctx, batch); err != nil {
			return err
		}
	}
}

// readAhead reads new entries until ctx ends or a read fails, handing every
// result, empty ones included (they pace the maintenance above), to out.
// It closes out when it stops.
func (r *Runner) readAhead(ctx context.Context, out chan<- []command.Entry, errc chan<- error) {
	defer close(out)
	for ctx.Err() == nil {
		batch, err := r.src.ReadNew(ctx, r.cfg.BatchSize, r.cfg.Block)
		if err != nil {
			if ctx.Err() == nil {
				errc <- err
			}
			return
		}
		// Sent even after ctx ended: a batch already read is committed
		// rather than left for a claim.
		out <- batch
	}
}

// recoverOwn finishes what a previous run under the same name left pending.
func (r *Runner) recoverOwn(ctx context.Context) error {
	after := "0"
	for ctx.Err() == nil {
		batch, err := r.src.ReadOwnPending(ctx, after, r.cfg.BatchSize)
		if err != nil || len(batch) == 0 {
			return err
		}
		r.log.InfoContext(ctx, "stream consumer: recovering own pending entries", "count", len(batch))
		if err := r.process(ctx, batch); err != nil {
			return err
		}
		after = batch[len(batch)-1].ID
	}
	return nil
}

// claim takes one page of abandoned entries and applies it.
func (r *Runner) claim(ctx context.Context, cursor string) (string, error) {
	batch, next, err := r.src.Claim(ctx, cursor, r.cfg.ClaimMinIdle, r.cfg.BatchSize)
	if err != nil {
		return cursor, err
	}
	if len(batch) > 0 {
		r.log.InfoContext(ctx, "stream consumer: claimed abandoned entries", "count", len(batch))
	}
	return next, r.process(ctx, batch)
}

func (r *Runner) removeStale(ctx context.Context) {
	if r.cfg.StaleAfter <= 0 {
		return
	}
	removed, err := r.src.RemoveStaleConsumers(ctx, r.cfg.StaleAfter)
	if err != nil {
		r.log.WarnContext(ctx, "stream consumer: stale consumer clean-up failed", "err", err)
	} else if len(removed) > 0 {
		r.log.InfoContext(ctx, "stream consumer: removed stale consumers", "consumers", removed)
	}
}

// process commits a batch. A batch already read is committed even when
// shutdown has begun (with a bounded grace), so SIGTERM does not leave work
// for a claim timeout to find.
//
// Entries a commit held back (a delete or reset of their model waits for
// older entries, or they wait for it) go with the next batch, in stream
// order; an empty read, at least every Block, offers them again too.
func (r *Runner) process(ctx context.Context, batch []command.Entry) error {
	if len(r.held) > 0 {
		batch = merge(r.held, batch)
		r.held = nil
	}
	if len(batch) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.CommitGrace)
	defer cancel()
	res, err := r.apply.Handle(cctx, batch)
	if err != nil {
		return err
	}
	r.held = res.Waiting(batch)
	r.log.DebugContext(ctx, "stream consumer: batch committed", "size", len(batch),
		"applied", res.Applied, "skipped", res.Skipped, "dead_lettered", res.DeadLettered,
		"held_back", len(r.held), "models", len(res.States))
	return nil
}

// merge returns the entries of a and b in stream id order, each id once.
func merge(a, b []command.Entry) []command.Entry {
	out := make([]command.Entry, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.SortStableFunc(out, func(x, y command.Entry) int { return events.CompareStreamIDs(x.ID, y.ID) })
	return slices.CompactFunc(out, func(x, y command.Entry) bool { return x.ID == y.ID })
}
