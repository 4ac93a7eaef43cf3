package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/httpmetrics"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// RequestMetrics counts and times requests (metrics.HTTP is the Prometheus
// one). The labels it gets are bounded: route is a registered pattern's
// path ("/models/{name}") or UnmatchedRoute, method one of a fixed set of
// constant strings, code a status code.
type RequestMetrics interface {
	// Observe records one request when its answer is complete. took is the
	// time to the complete answer, except for an event stream, whose length
	// is how long the page stayed open: there it is the time until the
	// stream opened (the first read done and the headers sent), the latency
	// a page waits for.
	Observe(route, method string, code int, took time.Duration)
}

// UnmatchedRoute labels requests no route matched (the api's label too),
// so a scanner probing random paths cannot create a series per path.
const UnmatchedRoute = httpmetrics.Unmatched

// noRoute is the catch-all pattern: every request no other route takes.
const noRoute = "/"

// noRouteFor is the detail of the 404 of a request no route takes.
func noRouteFor(r *http.Request) string {
	return "no route for " + r.Method + " " + r.URL.Path
}

// middleware wraps the mux: every error answer that is not a problem yet
// becomes one, and when m is not nil every request is measured by the
// route the mux matched.
//
// The answers net/http writes itself are plain text: http.FileServer's
// missing file, the mux's answer to "GET *". Rewriting them here is the
// one place that keeps the contract "every error is a problem" whatever a
// library writes.
func middleware(mux http.Handler, m RequestMetrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		aw := &answer{ResponseWriter: w, r: r}
		mux.ServeHTTP(aw, r)
		if m == nil {
			return
		}
		code := aw.code
		if code == 0 { // nothing written: net/http answers 200
			code = http.StatusOK
		}
		took := time.Since(start)
		if !aw.streamAt.IsZero() {
			took = aw.streamAt.Sub(start)
		}
		m.Observe(routeLabel(r.Pattern), httpmetrics.Method(r.Method), code, took)
	})
}

// routeLabel is the path of the pattern the mux matched (it sets
// r.Pattern on the request it was given): "GET /models/{name}" is
// "/models/{name}". The catch-all, and the redirects and 405s the mux
// answers with no pattern, are UnmatchedRoute.
func routeLabel(pattern string) string {
	i := strings.IndexByte(pattern, '/')
	if i < 0 || pattern[i:] == noRoute {
		return UnmatchedRoute
	}
	return pattern[i:]
}

// answer is the ResponseWriter handlers get: it notes the status and when
// an event stream opened, and replaces an error answer that is not a
// problem with one.
type answer struct {
	http.ResponseWriter
	r        *http.Request
	code     int
	streamAt time.Time // when an event stream's headers were written
	swallow  bool      // the handler's own error body is dropped
}

func (a *answer) WriteHeader(code int) {
	if a.code != 0 {
		a.ResponseWriter.WriteHeader(code) // net/http logs the superfluous call
		return
	}
	a.code = code
	h := a.ResponseWriter.Header()
	switch ct := h.Get("Content-Type"); {
	case code >= 400 && ct != problem.ContentType:
		a.swallow = true
		detail := http.StatusText(code)
		if code == http.StatusNotFound {
			detail = noRouteFor(a.r)
		}
		h.Del("Content-Length") // of the body dropped
		problem.Write(a.ResponseWriter, code, detail)
		return
	case ct == "text/event-stream":
		a.streamAt = time.Now()
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answer) Write(b []byte) (int, error) {
	if a.code == 0 {
		a.WriteHeader(http.StatusOK)
	}
	if a.swallow {
		return len(b), nil
	}
	return a.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer: the
// feeds flush and set deadlines through it.
func (a *answer) Unwrap() http.ResponseWriter { return a.ResponseWriter }
