package httpapi

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// HTTPMetrics are the RED metrics of the api's HTTP server.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series maps a seriesKey to its *series: each request's labels are
	// looked up (and hashed) by the Prometheus vectors once per series,
	// not once per request. The keys are bounded: route templates, known
	// methods and status codes.
	series sync.Map
}

// seriesKey names the series one request is counted in.
type seriesKey struct {
	route, method string
	code          int
}

// series are the counter and histogram of one seriesKey.
type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// unmatchedRoute labels requests no route matched, so a scanner probing
// random paths cannot create a series per path.
const unmatchedRoute = "unmatched"

// NewHTTPMetrics registers the HTTP metrics with reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edb_api_http_requests_total",
			Help: "HTTP requests served, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edb_api_http_request_duration_seconds",
			Help:    "Time from request to response, by route template and method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	// The series a dashboard plots exist from the start, at 0.
	for _, method := range []string{fiber.MethodGet, fiber.MethodPost} {
		for _, code := range []string{"201", "404", "503"} {
			m.requests.WithLabelValues("/update_model/:trial", method, code)
		}
		m.duration.WithLabelValues("/update_model/:trial", method)
	}
	return m
}

// middleware measures every request; it runs first so it sees the status
// the error handler chose.
func (m *HTTPMetrics) middleware(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Let the error handler write the response now, so the status is known.
		if herr := c.App().Config().ErrorHandler(c, err); herr != nil {
			return errors.Join(err, herr)
		}
	}
	route, code := c.Route().Path, c.Response().StatusCode()
	if code == fiber.StatusNotFound && route == "/" {
		route = unmatchedRoute
	}
	s := m.seriesOf(seriesKey{route: route, method: methodLabel(c.Method()), code: code})
	s.requests.Inc()
	s.duration.Observe(time.Since(start).Seconds())
	return nil
}

// seriesOf returns k's series, creating them on first use.
func (m *HTTPMetrics) seriesOf(k seriesKey) *series {
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	s, _ := m.series.LoadOrStore(k, &series{
		requests: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.code)),
		duration: m.duration.WithLabelValues(k.route, k.method),
	})
	return s.(*series)
}

// methodLabel is method as a string of its own: Fiber's Method() points
// into the request's buffer, which the next request on the connection
// overwrites, and a label value (or a map key) must not change.
func methodLabel(method string) string {
	for _, known := range knownMethods {
		if method == known {
			return known
		}
	}
	return "other"
}

// knownMethods are the methods Fiber serves (problemForUnknownMethods turns
// the others away before any middleware).
var knownMethods = []string{
	fiber.MethodGet, fiber.MethodPost, fiber.MethodPut, fiber.MethodDelete, fiber.MethodPatch,
	fiber.MethodHead, fiber.MethodOptions, fiber.MethodConnect, fiber.MethodTrace,
}
