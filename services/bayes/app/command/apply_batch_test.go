package command_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// fakeLedger applies decisions to counts, acking each id once, like the Lua
// script; it isolates the handler's logic from Redis.
type fakeLedger struct {
	acked map[string]bool
	state model.Counts
	err   error
}

func (f *fakeLedger) Commit(_ context.Context, batch []command.Decision) (command.CommitResult, error) {
	if f.err != nil {
		return command.CommitResult{}, f.err
	}
	var r command.CommitResult
	for _, d := range batch {
		if f.acked[d.ID] {
			r.Skipped++
			r.Outcomes += string(command.OutcomeSkipped)
			continue
		}
		f.acked[d.ID] = true
		if d.DeadLetter() {
			r.DeadLettered++
			r.Outcomes += string(command.OutcomeDeadLettered)
			continue
		}
		r.Applied++
		r.Outcomes += string(command.OutcomeApplied)
		f.state = model.Counts{W: f.state.W + d.W, N: f.state.N + d.W + d.L}
	}
	r.States = []command.ModelState{{Name: "default", Counts: f.state}}
	return r, nil
}

type recorder struct{ seen []model.Counts }

func (r *recorder) Notify(_ string, c model.Counts, _ events.ModelSpec) { r.seen = append(r.seen, c) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestDecide(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		model  string
		w, l   int64
		define bool
		reason string
	}{
		"water":         {map[string]any{"trial": "w"}, "default", 1, 0, false, ""},
		"land with ts":  {map[string]any{"trial": "l", "ts": "1700000000000000"}, "default", 0, 1, false, ""},
		"named counts":  {map[string]any{"model": "ab", "w": "30", "l": "70"}, "ab", 30, 70, false, ""},
		"definition":    {map[string]any{"kind": "define", "model": "ab", "prior": "uniform", "grid_points": "50"}, "ab", 0, 0, true, ""},
		"unknown trial": {map[string]any{"trial": "x"}, "", 0, 0, false, `malformed event: trial "x" is neither "w" nor "l"`},
		"missing trial": {map[string]any{"t": "w"}, "", 0, 0, false, `malformed event: missing field "trial" (or the counts "w" and "l")`},
		"deleted entry": {nil, "", 0, 0, false, "entry has no fields (deleted from the stream while pending?)"},
		"bad timestamp": {map[string]any{"trial": "w", "ts": "x"}, "", 0, 0, false, `malformed event: field "ts" is "x", not microseconds since the epoch`},
	} {
		t.Run(name, func(t *testing.T) {
			d := command.Decide(command.Delivery{ID: "1-0", Values: tc.values})
			if d.Reason != tc.reason || d.DeadLetter() != (tc.reason != "") {
				t.Fatalf("Decide = %+v, want reason %q", d, tc.reason)
			}
			if tc.reason == "" && (d.Event.Model != tc.model || d.W != tc.w || d.L != tc.l || d.IsDefinition() != tc.define) {
				t.Fatalf("Decide = %+v, want model %q w %d l %d define %v", d, tc.model, tc.w, tc.l, tc.define)
			}
		})
	}
}

func TestHandleAppliesAndNotifies(t *testing.T) {
	led := &fakeLedger{acked: map[string]bool{}}
	rec := &recorder{}
	h, err := command.NewApplyBatchHandler(led, rec, quiet)
	if err != nil {
		t.Fatal(err)
	}
	batch := []command.Delivery{
		{ID: "1-0", Values: map[string]any{"trial": "w"}},
		{ID: "2-0", Values: map[string]any{"trial": "nope"}},
		{ID: "3-0", Values: map[string]any{"trial": "l"}},
	}
	res, _, err := h.Handle(context.Background(), batch)
	if err != nil || res.Applied != 2 || res.DeadLettered != 1 || res.States[0].Counts != (model.Counts{W: 1, N: 2}) {
		t.Fatalf("Handle = %+v, %v", res, err)
	}
	// Redelivered: nothing applied, nobody told of a change.
	res, _, err = h.Handle(context.Background(), batch)
	if err != nil || res.Skipped != 3 || len(rec.seen) != 1 {
		t.Fatalf("redelivery = %+v, %v; notifications %v", res, err, rec.seen)
	}
	if res, _, err := h.Handle(context.Background(), nil); err != nil || res.Applied+res.Skipped+res.DeadLettered != 0 || res.States != nil {
		t.Fatalf("empty batch = %+v, %v", res, err)
	}
}

func TestHandleFailureIsWrappedAndSilent(t *testing.T) {
	boom := errors.New("connection refused")
	rec := &recorder{}
	h, _ := command.NewApplyBatchHandler(&fakeLedger{err: boom}, rec, quiet)
	_, _, err := h.Handle(context.Background(), []command.Delivery{{ID: "1-0", Values: map[string]any{"trial": "w"}}})
	if !errors.Is(err, boom) || len(rec.seen) != 0 {
		t.Fatalf("err = %v, notifications %v", err, rec.seen)
	}
}

func TestConstructorRejectsNil(t *testing.T) {
	if _, err := command.NewApplyBatchHandler(nil, &recorder{}, quiet); err == nil {
		t.Error("nil ledger accepted")
	}
	if _, err := command.NewApplyBatchHandler(&fakeLedger{}, nil, quiet); err == nil {
		t.Error("nil listener accepted")
	}
}
