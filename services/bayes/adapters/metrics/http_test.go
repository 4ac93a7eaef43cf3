package metrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/metrics"
)

// Each request is counted in the series of its route, method and status,
// and timed in the series of its route and method.
func TestHTTPCountsEachRequestInItsSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewHTTP(reg)
	for range 3 {
		m.Observe("/models/{name}", "GET", 200, 2*time.Millisecond)
	}
	m.Observe("/models/{name}", "GET", 404, time.Millisecond)
	m.Observe("unmatched", "other", 404, time.Millisecond)
	m.Observe("/models/{name}/events", "GET", 200, 5*time.Millisecond)
	for series, want := range map[string]float64{
		`edb_bayes_http_requests_total{code="200",method="GET",route="/models/{name}"}`:        3,
		`edb_bayes_http_requests_total{code="404",method="GET",route="/models/{name}"}`:        1,
		`edb_bayes_http_requests_total{code="404",method="other",route="unmatched"}`:           1,
		`edb_bayes_http_requests_total{code="200",method="GET",route="/models/{name}/events"}`: 1,
		`edb_bayes_http_requests_total{code="200",method="GET",route="/model"}`:                0, // made at start
		`edb_bayes_http_request_duration_seconds{method="GET",route="/models/{name}"}_count`:   4,
		`edb_bayes_http_request_duration_seconds{method="GET",route="/models/{name}"}_sum`:     0.007,
		`edb_bayes_http_request_duration_seconds{method="other",route="unmatched"}_count`:      1,
	} {
		if got := value(t, reg, series); got < want-1e-12 || got > want+1e-12 {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}
