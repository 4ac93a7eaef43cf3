package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTP are the RED metrics of bayes' HTTP server, by route, like the api's:
// give it to the HTTP port (httpapi.Options.Requests), which tells it each
// request's route pattern, method and status.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series maps a seriesKey to its *httpSeries: the vectors look up (and
	// hash) a request's labels once per series, not once per request. The
	// keys are bounded: the port passes route patterns, a fixed set of
	// methods and status codes.
	series sync.Map
}

type seriesKey struct {
	route, method string
	code          int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// NewHTTP registers the HTTP metrics with reg.
func NewHTTP(reg prometheus.Registerer) *HTTP {
	m := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edb_bayes_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code; an event feed is counted when it ends.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "edb_bayes_http_request_duration_seconds",
			Help: "Time from request to complete response, by route pattern and method; for an event feed, the time until the feed opened.",
			// The api's buckets, up to the seconds a large plot or comparison may take.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	// The series a dashboard plots exist from the start, at 0.
	for _, route := range []string{"/model", "/models/{name}"} {
		m.requests.WithLabelValues(route, "GET", "200")
		m.duration.WithLabelValues(route, "GET")
	}
	return m
}

// Observe counts one request in its series and records how long it took.
func (m *HTTP) Observe(route, method string, code int, took time.Duration) {
	k := seriesKey{route: route, method: method, code: code}
	s, ok := m.series.Load(k)
	if !ok {
		s, _ = m.series.LoadOrStore(k, &httpSeries{
			requests: m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
			duration: m.duration.WithLabelValues(route, method),
		})
	}
	hs := s.(*httpSeries)
	hs.requests.Inc()
	hs.duration.Observe(took.Seconds())
}
