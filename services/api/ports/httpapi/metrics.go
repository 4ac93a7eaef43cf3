package httpapi

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// HTTPMetrics are the RED metrics of the api's HTTP server.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
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
	route := c.Route().Path
	if c.Response().StatusCode() == fiber.StatusNotFound && route == "/" {
		route = unmatchedRoute
	}
	method := c.Method()
	m.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().StatusCode())).Inc()
	m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	return nil
}
