package e2e

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// span is one received span with the service that sent it.
type span struct {
	service string
	*tracepb.Span
}

func (s span) attr(key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return anyString(kv.Value)
		}
	}
	return ""
}

func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	}
	return ""
}

func (s span) id() string     { return hex.EncodeToString(s.SpanId) }
func (s span) parent() string { return hex.EncodeToString(s.ParentSpanId) }
func (s span) trace() string  { return hex.EncodeToString(s.TraceId) }

// otlpReceiver is an OTLP/HTTP trace endpoint inside the test: both binaries
// export to it as they would to a collector.
type otlpReceiver struct {
	url   string
	mu    sync.Mutex
	spans []span
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, req *http.Request) {
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var msg collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.ResourceSpans {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = anyString(kv.Value)
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.spans = append(r.spans, span{service: service, Span: s})
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	r.url = "http://" + ln.Addr().String()
	return r
}

func (r *otlpReceiver) all() []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]span(nil), r.spans...)
}

// otelEnv points a binary at the receiver with a short export delay.
func otelEnv(r *otlpReceiver, service string) []string {
	return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.url, "OTEL_SERVICE_NAME=" + service,
		"OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_TRACES_SAMPLER=parentbased_always_on"}
}

// One observation gives one trace across both processes:
// api SERVER span → PRODUCER span (→ the XADD client span) → bayes CONSUMER
// span → model.apply and state.save.
func TestOneTraceFromRequestToModel(t *testing.T) {
	rec := startOTLPReceiver(t)
	srv := redistest.Start(t)
	rdb := srv.Client()
	api := startProc(t, "api", "api", append([]string{"REDIS_URL=" + srv.URL()}, otelEnv(rec, "edb-api")...)...)
	bayes := startProc(t, "bayes-a", "bayes", append([]string{"REDIS_URL=" + srv.URL(), "GRAPHS_DIR=" + t.TempDir(),
		"CONSUMER_NAME=a"}, otelEnv(rec, "edb-bayes")...)...)

	var ids []string
	for i := range 5 {
		method := http.MethodGet
		if i%2 == 1 {
			method = http.MethodPost
		}
		status, id, err := record(api, method, "w")
		if err != nil || status != 201 {
			t.Fatalf("record: %d %v", status, err)
		}
		ids = append(ids, id)
	}
	waitForN(t, bayes, 5)

	for _, id := range ids {
		var chain string
		eventually(t, 30*time.Second, "trace of "+id, func() (bool, string) {
			var ok bool
			ok, chain = traceChain(rec.all(), id)
			return ok, chain
		})
		t.Logf("%s: %s", id, chain)
	}

	// Polling commands are not traced: no span for the blocking XREADGROUP.
	for _, s := range rec.all() {
		if strings.Contains(strings.ToLower(s.Name), "xreadgroup") || strings.Contains(strings.ToLower(s.attr("db.statement")), "xreadgroup") {
			t.Fatalf("polling command traced: %s %q", s.Name, s.attr("db.statement"))
		}
	}

	// Logs carry the trace id of the entry they are about: a malformed entry
	// with a traceparent is dead-lettered with a warning that names its trace.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "update_model",
		Values: []any{"trial", "z", "traceparent", "00-" + traceID + "-00f067aa0ba902b7-01"}}).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "dead-letter log line with the trace id", func() (bool, string) {
		return logLineWith(bayes.log, "event dead-lettered", traceID), "not yet"
	})
	// Its consumer span failed, and says why in error.type.
	eventually(t, 20*time.Second, "the dead-lettered entry's consumer span", func() (bool, string) {
		for _, s := range rec.all() {
			if s.Kind == tracepb.Span_SPAN_KIND_CONSUMER && s.trace() == traceID {
				return s.attr("error.type") == "dead_letter" && s.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR,
					fmt.Sprintf("error.type %q, status %v", s.attr("error.type"), s.Status)
			}
		}
		return false, "no consumer span in trace " + traceID
	})
}

// traceChain checks the span chain of the observation with stream id id.
func traceChain(spans []span, id string) (bool, string) {
	byID := map[string]span{}
	for _, s := range spans {
		byID[s.id()] = s
	}
	var producer, consumer span
	for _, s := range spans {
		if s.attr("messaging.message.id") != id {
			continue
		}
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_PRODUCER:
			producer = s
		case tracepb.Span_SPAN_KIND_CONSUMER:
			consumer = s
		}
	}
	if producer.Span == nil {
		return false, "no producer span"
	}
	if producer.service != "edb-api" {
		return false, "producer span from " + producer.service
	}
	// The OpenTelemetry messaging conventions: "<operation> <destination>"
	// and their attributes.
	if producer.Name != "send update_model" {
		return false, "producer span named " + producer.Name
	}
	if msg := conventions(producer, map[string]string{"messaging.operation.name": "send", "messaging.operation.type": "send"}); msg != "" {
		return false, "producer span: " + msg
	}
	server, ok := byID[producer.parent()]
	if !ok || server.Kind != tracepb.Span_SPAN_KIND_SERVER || server.service != "edb-api" || server.trace() != producer.trace() {
		return false, "producer's parent is not the api's server span"
	}
	if !strings.Contains(server.Name, "/update_model/") {
		return false, "server span named " + server.Name
	}
	// The api writes concurrent requests' XADDs in one pipeline (group
	// commit); the pipeline's client span joins the trace of the first
	// request of its batch. These requests are sequential: one per batch.
	var xadd bool
	for _, s := range spans {
		if s.parent() == producer.id() && s.Kind == tracepb.Span_SPAN_KIND_CLIENT && strings.Contains(strings.ToLower(s.Name), "xadd") {
			xadd = true
		}
	}
	if !xadd {
		return false, "no XADD client span under the producer"
	}
	if consumer.Span == nil {
		return false, "no consumer span"
	}
	if consumer.service != "edb-bayes" || consumer.parent() != producer.id() || consumer.trace() != producer.trace() {
		return false, fmt.Sprintf("consumer span (service %s) is not a child of the producer span", consumer.service)
	}
	if consumer.Name != "process update_model" {
		return false, "consumer span named " + consumer.Name
	}
	if msg := conventions(consumer, map[string]string{"messaging.operation.name": "process", "messaging.operation.type": "process",
		"messaging.consumer.group.name": "bayes"}); msg != "" {
		return false, "consumer span: " + msg
	}
	children := map[string]bool{}
	for _, s := range spans {
		if s.parent() == consumer.id() && s.trace() == consumer.trace() {
			children[s.Name] = true
		}
	}
	if !children["model.apply"] || !children["state.save"] {
		return false, fmt.Sprintf("consumer span children %v", children)
	}
	if consumer.attr("edb.outcome") != "applied" {
		return false, "consumer outcome " + consumer.attr("edb.outcome")
	}
	return true, fmt.Sprintf("trace %s: %s → %s → %s → {model.apply, state.save}", producer.trace(), server.Name, producer.Name, consumer.Name)
}

// conventions is what s lacks of the messaging conventions' attributes for
// the default stream and of want, or "" when it has them all.
func conventions(s span, want map[string]string) string {
	for k, v := range map[string]string{"messaging.system": "redis", "messaging.destination.name": "update_model"} {
		want[k] = v
	}
	var missing []string
	for k, v := range want {
		if got := s.attr(k); got != v {
			missing = append(missing, fmt.Sprintf("%s=%q (want %q)", k, got, v))
		}
	}
	return strings.Join(missing, ", ")
}

// logLineWith reports whether the JSON log at path has a line with msg and
// trace_id.
func logLineWith(path, msg, traceID string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg && line["trace_id"] == traceID && line["span_id"] != nil {
			return true
		}
	}
	return false
}
