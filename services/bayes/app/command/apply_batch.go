// Package command holds the handlers that change the model's knowledge.
package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Ledger acknowledges entries and applies their effect in one atomic step,
// so each entry changes the state exactly once however often it is
// delivered. Rejected entries are dead-lettered in the same step.
type Ledger interface {
	Commit(ctx context.Context, batch []Entry) (Result, error)
}

// StateListener hears about every new state of a model, e.g. to redraw its
// plots, and about its deletion (st.Deleted). It must not block.
type StateListener interface {
	Notify(st ModelState)
}

// ApplyBatchHandler commits a batch of decoded entries and tells the
// listener about every model it changed.
type ApplyBatchHandler struct {
	ledger   Ledger
	listener StateListener
	log      *slog.Logger
}

// NewApplyBatchHandler rejects nil dependencies at start-up rather than
// failing on the first event.
func NewApplyBatchHandler(ledger Ledger, listener StateListener, log *slog.Logger) (*ApplyBatchHandler, error) {
	if ledger == nil || listener == nil || log == nil {
		return nil, errors.New("apply batch handler: nil ledger, listener or logger")
	}
	return &ApplyBatchHandler{ledger: ledger, listener: listener, log: log}, nil
}

// Handle commits one batch. On error nothing of the batch was applied or
// acknowledged (the ledger is atomic), so the entries stay pending and are
// delivered again.
func (h *ApplyBatchHandler) Handle(ctx context.Context, batch []Entry) (Result, error) {
	if len(batch) == 0 {
		return Result{}, nil
	}
	res, err := h.ledger.Commit(ctx, batch)
	if err != nil {
		return Result{}, fmt.Errorf("committing a batch of %d: %w", len(batch), err)
	}
	if res.DeadLettered > 0 {
		for i, o := range res.Outcomes {
			if o.Status == DeadLettered {
				h.log.WarnContext(EntryContext(ctx, i), "event dead-lettered",
					"id", batch[i].ID, "model", batch[i].Model, "reason", o.Reason, "code", o.Code)
			}
		}
	}
	if res.Applied > 0 {
		for _, st := range res.States {
			h.listener.Notify(st)
		}
	}
	return res, nil
}
