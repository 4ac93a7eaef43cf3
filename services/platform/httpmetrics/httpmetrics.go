// Package httpmetrics is the RED metrics (rate, errors, duration) of an
// HTTP server by route, shared by the api (Fiber) and bayes (net/http):
// a counter of requests by route, method and status code and a histogram
// of their durations by route and method. Each service's HTTP port tells
// it every request's labels; the labels must be bounded (route templates,
// Method's constants, status codes), which is what keeps a client from
// making up series.
package httpmetrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Unmatched labels requests no route matched, so a scanner probing random
// paths cannot create a series per path.
const Unmatched = "unmatched"

// Buckets are the durations the histogram counts, in seconds: from 0.1 ms
// (the api's hot path) to the seconds a large plot or comparison may take.
var Buckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// RED are one server's metrics.
type RED struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series maps a seriesKey to its *series: the vectors look up (and
	// hash) a request's labels once per series, not once per request.
	series sync.Map
}

type seriesKey struct {
	route, method string
	code          int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// New registers <prefix>_http_requests_total{route,method,code} and
// <prefix>_http_request_duration_seconds{route,method} with reg; the helps
// say what the service counts (e.g. when a stream is counted).
func New(reg prometheus.Registerer, prefix, requestsHelp, durationHelp string) *RED {
	m := &RED{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_http_requests_total", Help: requestsHelp,
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: prefix + "_http_request_duration_seconds", Help: durationHelp, Buckets: Buckets,
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// Touch creates the series of route and method with each code at 0, so a
// dashboard plots them from the start.
func (m *RED) Touch(route, method string, codes ...int) {
	for _, code := range codes {
		m.of(seriesKey{route: route, method: method, code: code})
	}
}

// Observe counts one request in its series and records how long it took.
// method must be one of Method's answers.
func (m *RED) Observe(route, method string, code int, took time.Duration) {
	s := m.of(seriesKey{route: route, method: method, code: code})
	s.requests.Inc()
	s.duration.Observe(took.Seconds())
}

// of returns k's series, creating them on first use.
func (m *RED) of(k seriesKey) *series {
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	s, _ := m.series.LoadOrStore(k, &series{
		requests: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.code)),
		duration: m.duration.WithLabelValues(k.route, k.method),
	})
	return s.(*series)
}

// Method is method as one of a fixed set of constant strings, "other" for
// any method HTTP does not define. The constant matters as much as the
// bound: Fiber's Method() points into the request's buffer, which the next
// request on the connection overwrites, and a label value must not change.
func Method(method string) string {
	for _, known := range methods {
		if method == known {
			return known
		}
	}
	return "other"
}

var methods = []string{
	http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
	http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace,
}
