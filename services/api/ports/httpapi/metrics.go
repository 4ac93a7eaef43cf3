package httpapi

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/httpmetrics"
)

// HTTPMetrics are the RED metrics of the api's HTTP server (package
// httpmetrics, bayes' too).
type HTTPMetrics struct{ red *httpmetrics.RED }

// NewHTTPMetrics registers the HTTP metrics with reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{red: httpmetrics.New(reg, "edb_api",
		"HTTP requests served, by route template, method and status code.",
		"Time from request to response, by route template and method.")}
	// The series a dashboard plots exist from the start, at 0.
	for _, method := range []string{fiber.MethodGet, fiber.MethodPost} {
		m.red.Touch("/update_model/:trial", method, fiber.StatusCreated, fiber.StatusNotFound, fiber.StatusServiceUnavailable)
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
		route = httpmetrics.Unmatched
	}
	m.red.Observe(route, httpmetrics.Method(c.Method()), code, time.Since(start))
	return nil
}
