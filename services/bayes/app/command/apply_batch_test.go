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

// fakeLedger applies entries to counts, acking each id once, like the Lua
// script; it isolates the handler's logic from Redis.
type fakeLedger struct {
	acked map[string]bool
	state model.Counts
	err   error
}

func (f *fakeLedger) Commit(_ context.Context, batch []command.Entry) (command.Result, error) {
	if f.err != nil {
		return command.Result{}, f.err
	}
	var r command.Result
	for _, e := range batch {
		if f.acked[e.ID] {
			r.Skipped++
			r.Outcomes = append(r.Outcomes, command.Outcome{Status: command.Skipped})
			continue
		}
		f.acked[e.ID] = true
		if e.Kind == command.Reject {
			r.DeadLettered++
			r.Outcomes = append(r.Outcomes, command.Outcome{Status: command.DeadLettered, Reason: e.Rejection.Reason, Code: e.Rejection.Code})
			continue
		}
		r.Applied++
		r.Outcomes = append(r.Outcomes, command.Outcome{Status: command.Applied})
		o := e.Observation
		f.state = model.Counts{W: f.state.W + o.W, N: f.state.N + o.W + o.L}
	}
	r.States = []command.ModelState{{Name: "default", Counts: f.state}}
	return r, nil
}

type recorder struct{ seen []model.Counts }

func (r *recorder) Notify(st command.ModelState) { r.seen = append(r.seen, st.Counts) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// toss is a decoded one-trial observation of the default model.
func toss(id string, t model.Trial) command.Entry {
	return command.Entry{ID: id, Kind: command.Observe, Model: "default", Observation: model.Toss(t)}
}

func TestHandleAppliesAndNotifies(t *testing.T) {
	led := &fakeLedger{acked: map[string]bool{}}
	rec := &recorder{}
	h, err := command.NewApplyBatchHandler(led, rec, quiet)
	if err != nil {
		t.Fatal(err)
	}
	batch := []command.Entry{
		toss("1-0", model.Water),
		{ID: "2-0", Kind: command.Reject, Rejection: command.Rejection{Reason: `malformed event: trial "nope" is neither "w" nor "l"`, Code: events.CodeInvalidTrial}},
		toss("3-0", model.Land),
	}
	res, err := h.Handle(context.Background(), batch)
	if err != nil || res.Applied != 2 || res.DeadLettered != 1 || res.States[0].Counts != (model.Counts{W: 1, N: 2}) {
		t.Fatalf("Handle = %+v, %v", res, err)
	}
	// Redelivered: nothing applied, nobody told of a change.
	res, err = h.Handle(context.Background(), batch)
	if err != nil || res.Skipped != 3 || len(rec.seen) != 1 {
		t.Fatalf("redelivery = %+v, %v; notifications %v", res, err, rec.seen)
	}
	if res, err := h.Handle(context.Background(), nil); err != nil || res.Applied+res.Skipped+res.DeadLettered != 0 || res.States != nil {
		t.Fatalf("empty batch = %+v, %v", res, err)
	}
}

func TestHandleFailureIsWrappedAndSilent(t *testing.T) {
	boom := errors.New("connection refused")
	rec := &recorder{}
	h, _ := command.NewApplyBatchHandler(&fakeLedger{err: boom}, rec, quiet)
	_, err := h.Handle(context.Background(), []command.Entry{toss("1-0", model.Water)})
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
