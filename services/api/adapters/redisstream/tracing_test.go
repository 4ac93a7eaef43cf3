package redisstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// tracedPublisher publishes to srv (through hooks) with a producer span per event,
// kept by the returned recorder.
func tracedPublisher(t *testing.T, srv *redistest.Server, timeout time.Duration, hooks ...redis.Hook) (*redisstream.Publisher, *tracetest.SpanRecorder) {
	t.Helper()
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	rec := tracetest.NewSpanRecorder()
	client := newClient(t, srv)
	for _, h := range hooks {
		client.AddHook(h)
	}
	pub, err := redisstream.NewPublisher(client, stream, timeout,
		redisstream.WithTracer(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	return pub, rec
}

// attrs are a span's attributes as strings.
func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}

// lastSpan is the span the last publish ended.
func lastSpan(t *testing.T, rec *tracetest.SpanRecorder) sdktrace.ReadOnlySpan {
	t.Helper()
	ended := rec.Ended()
	if len(ended) == 0 {
		t.Fatal("no span ended")
	}
	return ended[len(ended)-1]
}

// A publish is a producer span named and described by the OpenTelemetry
// messaging conventions, whose context the stored entry carries to bayes.
func TestPublishSpanFollowsTheMessagingConventions(t *testing.T) {
	srv := redistest.Start(t)
	pub, rec := tracedPublisher(t, srv, 2*time.Second)
	id, err := pub.Publish(context.Background(), events.Event{Trial: events.TrialWater, Source: events.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	s := lastSpan(t, rec)
	if s.Name() != "send "+stream || s.SpanKind() != trace.SpanKindProducer || s.Status().Code == codes.Error {
		t.Fatalf("span %q kind %v status %v, want a producer span \"send %s\"", s.Name(), s.SpanKind(), s.Status(), stream)
	}
	got := attrs(s)
	for k, v := range map[string]string{
		"messaging.system":           "redis",
		"messaging.destination.name": stream,
		"messaging.operation.name":   "send",
		"messaging.operation.type":   "send",
		"messaging.message.id":       id,
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["error.type"]; ok {
		t.Errorf("a stored event has error.type %q", got["error.type"])
	}
	entries, err := srv.Client().XRange(context.Background(), stream, id, id).Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("XRANGE: %v %v", entries, err)
	}
	if tp, _ := entries[0].Values[events.FieldTraceParent].(string); !strings.Contains(tp, s.SpanContext().SpanID().String()) {
		t.Errorf("entry traceparent %q does not name the span %s", tp, s.SpanContext().SpanID())
	}
}

// A failed publish has error.type: "timeout" when Redis did not answer in
// time, the reply's code when Redis refused.
func TestPublishSpanHasTheErrorType(t *testing.T) {
	srv := redistest.Start(t)
	stuck := &holdFirstPipeline{release: make(chan struct{})}
	pub, rec := tracedPublisher(t, srv, 200*time.Millisecond, stuck)
	if _, err := pub.Publish(context.Background(), events.Event{Trial: events.TrialWater}); err == nil {
		t.Fatal("a publish succeeded while its round trip was stuck")
	}
	close(stuck.release)
	s := lastSpan(t, rec)
	if got := attrs(s)["error.type"]; got != "timeout" || s.Status().Code != codes.Error {
		t.Errorf("timed out: error.type %q, status %v; want timeout, Error", got, s.Status())
	}
	waitUntil(t, func() bool { return pub.Waiting() == 0 })

	// The stream's key holds a string: XADD gets a WRONGTYPE reply.
	if err := srv.Client().Set(context.Background(), stream, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(context.Background(), events.Event{Trial: events.TrialWater}); err == nil {
		t.Fatal("XADD to a string succeeded")
	}
	s = lastSpan(t, rec)
	if got := attrs(s)["error.type"]; got != "WRONGTYPE" || s.Status().Code != codes.Error {
		t.Errorf("refused: error.type %q, status %v; want WRONGTYPE, Error", got, s.Status())
	}
}
