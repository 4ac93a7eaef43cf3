package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
)

// Every request is counted once in the series of its route template,
// method and status, and the label values stay what they were when the
// series was made: Fiber hands out the method as a view of the request's
// buffer, which later requests overwrite.
func TestHTTPMetricsCountEachRequestInItsSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newServerWith(t, &fakePublisher{}, fakePinger{}, httpapi.Options{
		Stream: "update_model", Metrics: httpapi.NewHTTPMetrics(reg),
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	})
	requests := []struct {
		method, path string
		times        int
	}{
		{http.MethodGet, "/healthz", 3},
		{http.MethodPost, "/healthz", 2}, // 405
		{http.MethodGet, "/update_model/w", 4},
		{http.MethodPost, "/update_model/l", 1},
		{http.MethodDelete, "/nope", 2}, // 404, unmatched
		{http.MethodPut, "/update_model/w", 1},
	}
	for _, r := range requests {
		for range r.times {
			do(t, f, r.method, r.path)
		}
	}
	want := map[[3]string]float64{
		{"/healthz", "GET", "200"}:              3,
		{"/", "POST", "405"}:                    2, // Fiber matched no route for the method
		{"/", "PUT", "405"}:                     1,
		{"/update_model/:trial", "GET", "201"}:  4,
		{"/update_model/:trial", "POST", "201"}: 1,
		{"unmatched", "DELETE", "404"}:          2,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[[3]string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "edb_api_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var k [3]string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "route":
					k[0] = l.GetValue()
				case "method":
					k[1] = l.GetValue()
				case "code":
					k[2] = l.GetValue()
				}
			}
			if v := m.GetCounter().GetValue(); v > 0 {
				got[k] = v
			}
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("requests_total%v = %v, want %v", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %v = %v", k, n)
		}
	}
}
