package httpmetrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/httpmetrics"
)

// Each request is counted in the series of its route, method and status and
// timed in the series of its route and method; touched series exist at 0.
func TestObserveCountsEachRequestInItsSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := httpmetrics.New(reg, "edb_test", "requests", "durations")
	m.Touch("/a", "GET", 200, 404)
	for range 3 {
		m.Observe("/b/{x}", "GET", 200, 2*time.Millisecond)
	}
	m.Observe("/b/{x}", "GET", 404, time.Millisecond)
	m.Observe(httpmetrics.Unmatched, httpmetrics.Method("BREW"), 404, time.Millisecond)

	want := `
# HELP edb_test_http_requests_total requests
# TYPE edb_test_http_requests_total counter
edb_test_http_requests_total{code="200",method="GET",route="/a"} 0
edb_test_http_requests_total{code="404",method="GET",route="/a"} 0
edb_test_http_requests_total{code="200",method="GET",route="/b/{x}"} 3
edb_test_http_requests_total{code="404",method="GET",route="/b/{x}"} 1
edb_test_http_requests_total{code="404",method="other",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "edb_test_http_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "edb_test_http_request_duration_seconds"); n != 3 {
		t.Errorf("%d duration series, want 3 (/a, /b/{x}, unmatched)", n)
	}
}

// Method keeps the methods HTTP defines and folds every other into one
// label (the api's TestHTTPMetricsCountEachRequestInItsSeries checks that
// a Fiber request's reused buffer does not leak into the labels).
func TestMethodBoundsTheLabel(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "DELETE": "DELETE", "TRACE": "TRACE", "BREW": "other", "get": "other", "": "other"} {
		if got := httpmetrics.Method(in); got != want {
			t.Errorf("Method(%q) = %q, want %q", in, got, want)
		}
	}
}
