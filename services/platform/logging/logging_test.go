package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/logging"
)

func TestTraceIDsOnLinesWithASpan(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, "svc", "debug")
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled,
	})
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "with span")
	log.With("k", "v").InfoContext(context.Background(), "without span")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	var with, without map[string]any
	if err := json.Unmarshal(lines[0], &with); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &without); err != nil {
		t.Fatal(err)
	}
	if with["trace_id"] != sc.TraceID().String() || with["span_id"] != sc.SpanID().String() || with["service"] != "svc" {
		t.Fatalf("line with span: %v", with)
	}
	if _, ok := without["trace_id"]; ok || without["k"] != "v" {
		t.Fatalf("line without span: %v", without)
	}
}

func TestLevel(t *testing.T) {
	var buf bytes.Buffer
	logging.New(&buf, "svc", "warn").Info("hidden")
	if buf.Len() != 0 {
		t.Fatalf("info logged at warn level: %s", buf.String())
	}
}
