package tracing_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/tracing"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// handler plays the command: it answers with fixed outcomes and records the
// span context each entry's context carries.
type handler struct {
	res  command.Result
	err  error
	seen []trace.SpanContext
}

func (h *handler) Handle(ctx context.Context, batch []command.Entry) (command.Result, error) {
	for i := range batch {
		h.seen = append(h.seen, trace.SpanContextFromContext(command.EntryContext(ctx, i)))
	}
	return h.res, h.err
}

func record(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	prev, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prev); otel.SetTextMapPropagator(prevProp) })
	return rec
}

const producer = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// Each entry gets a consumer span under its producer's span, with
// model.apply and state.save under it and the outcome on it; the handler
// sees each entry's span in its context.
func TestBatchesSpanPerEntry(t *testing.T) {
	rec := record(t)
	h := &handler{res: command.Result{Outcomes: []command.Outcome{{Status: command.Applied}, {Status: command.DeadLettered}}}}
	batch := []command.Entry{
		{ID: "1-0", Kind: command.Observe, Model: "default", Observation: model.Toss(model.Water), TraceParent: producer},
		{ID: "2-0", Kind: command.Reject, Rejection: command.Rejection{Code: "invalid_trial"}},
	}
	if _, err := tracing.Batches(h, "obs", "obs-group").Handle(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	process := byName["process obs"]
	if len(process) != 2 || len(byName["model.apply"]) != 2 || len(byName["state.save"]) != 2 {
		t.Fatalf("spans %v", byName)
	}
	first := process[0]
	if first.Parent().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || first.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("first consumer span: parent %v kind %v, want the producer's trace", first.Parent(), first.SpanKind())
	}
	if process[1].Parent().IsValid() {
		t.Errorf("an entry without traceparent got parent %v", process[1].Parent())
	}
	for i, id := range []string{"1-0", "2-0"} {
		got := attrs(process[i])
		for k, v := range map[string]string{
			"messaging.system":              "redis",
			"messaging.destination.name":    "obs",
			"messaging.operation.name":      "process",
			"messaging.operation.type":      "process",
			"messaging.consumer.group.name": "obs-group",
			"messaging.message.id":          id,
			"messaging.batch.message_count": "2",
		} {
			if got[k] != v {
				t.Errorf("entry %d: %s = %q, want %q", i, k, got[k], v)
			}
		}
	}
	// The applied entry is fine; the dead-lettered one failed.
	if got := attrs(process[0]); got["edb.outcome"] != "applied" || got["error.type"] != "" || process[0].Status().Code == codes.Error {
		t.Errorf("applied entry: %v, status %v", got, process[0].Status())
	}
	if got := attrs(process[1]); got["edb.outcome"] != "dead_lettered" || got["error.type"] != "dead_letter" || process[1].Status().Code != codes.Error {
		t.Errorf("dead-lettered entry: %v, status %v; want error.type dead_letter and an Error status", got, process[1].Status())
	}
	for i := range process {
		if !h.seen[i].Equal(process[i].SpanContext()) {
			t.Errorf("entry %d: the handler saw span %v, want %v", i, h.seen[i], process[i].SpanContext())
		}
	}
	for _, s := range append(byName["model.apply"], byName["state.save"]...) {
		if s.Parent().SpanID() != process[0].SpanContext().SpanID() && s.Parent().SpanID() != process[1].SpanContext().SpanID() {
			t.Errorf("%s is not under a consumer span", s.Name())
		}
	}
}

// A failed commit marks every entry's spans as failed, with the error's
// type, and passes the error on.
func TestBatchesFailure(t *testing.T) {
	rec := record(t)
	boom := fmt.Errorf("committing: %w", context.DeadlineExceeded)
	_, err := tracing.Batches(&handler{err: boom}, "obs", "obs-group").Handle(context.Background(),
		[]command.Entry{{ID: "1-0", Kind: command.Observe, Model: "default", Observation: model.Toss(model.Land)}})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	for _, s := range rec.Ended() {
		if s.Name() == "model.apply" {
			continue
		}
		if s.Status().Code != codes.Error || attrs(s)["error.type"] != "timeout" {
			t.Errorf("%s: status %v, error.type %q; want Error, timeout", s.Name(), s.Status(), attrs(s)["error.type"])
		}
	}
}

// attrs are a span's attributes as strings.
func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}
