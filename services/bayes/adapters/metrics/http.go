package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/httpmetrics"
)

// NewHTTP registers bayes' HTTP metrics (package httpmetrics, the api's
// too) with reg: give them to the HTTP port (httpapi.Options.Requests),
// which tells them each request's route pattern, method and status.
func NewHTTP(reg prometheus.Registerer) *httpmetrics.RED {
	m := httpmetrics.New(reg, "edb_bayes",
		"HTTP requests served, by route pattern, method and status code; an event feed is counted when it ends.",
		"Time from request to complete response, by route pattern and method; for an event feed, the time until the feed opened.")
	// The series a dashboard plots exist from the start, at 0.
	for _, route := range []string{"/model", "/models/{name}"} {
		m.Touch(route, http.MethodGet, http.StatusOK)
	}
	return m
}
