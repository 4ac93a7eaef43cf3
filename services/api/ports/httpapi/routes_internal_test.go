package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// allow is checked against Fiber's router itself: a path gets a 405 with
// exactly these methods, or a 404 where no route matches.
func TestRouteTableAllow(t *testing.T) {
	routes := server{}.routes(http.NotFoundHandler())
	f := fiber.New(fiber.Config{ErrorHandler: errorHandler(slog.New(slog.DiscardHandler), routes.allow)})
	routes.register(f)
	for path, want := range map[string]string{
		"/healthz":                "GET, HEAD",
		"/readyz":                 "GET, HEAD",
		"/metrics":                "GET, HEAD",
		"/update_model/w":         "GET, POST",
		"/update_model/x":         "GET, POST",
		"/models/ab/observations": "POST",
		"/models/ab":              "PUT, DELETE",
		"/models/ab/reset":        "POST",
		"/openapi.json":           "GET",
		"/docs":                   "GET",
		"/docs/docs.js":           "GET",
		// A model may be called observations or reset: the route is still
		// the model's.
		"/models/observations": "PUT, DELETE",
		"/models/reset":        "PUT, DELETE",
		// Fiber routes case-insensitively and ignores a trailing slash, so
		// these are 405s too, of the same routes.
		"/HEALTHZ":                 "GET, HEAD",
		"/update_model/w/":         "GET, POST",
		"/Models/ab/Observations/": "POST",
		// No route: Fiber answers 404, which has no Allow header.
		"/update_model/":        "",
		"/models//observations": "",
		"/models/a/b":           "",
		"/nope":                 "",
	} {
		if got := routes.allow(path); got != want {
			t.Errorf("allow(%q) = %q, want %q", path, got, want)
		}
		// PATCH: no route takes it, so every path that matches is a 405.
		resp, err := f.Test(httptest.NewRequest(http.MethodPatch, path, nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if wantStatus := map[bool]int{true: 405, false: 404}[want != ""]; resp.StatusCode != wantStatus || resp.Header.Get("Allow") != want {
			t.Errorf("PATCH %s: %d Allow %q, want %d Allow %q", path, resp.StatusCode, resp.Header.Get("Allow"), wantStatus, want)
		}
	}
	if got := (server{}).routes(nil).allow("/metrics"); got != "" {
		t.Errorf("without a metrics handler, allow(/metrics) = %q, want no route", got)
	}
}

// Only the api's own routes are traced, and a 404 or 405 near them too;
// probes and scrapes are never rate limited, but only as written, so a
// variant of their path pays like any unknown path.
func TestRouteTableTracingAndRateLimit(t *testing.T) {
	routes := server{}.routes(http.NotFoundHandler())
	for _, tc := range []struct {
		path              string
		traced, unlimited bool
	}{
		{"/update_model/w", true, false},
		{"/update_model/", true, false},
		{"/models/ab", true, false},
		{"/models/ab/observations", true, false},
		{"/models/a/b/c", true, false},
		{"/healthz", false, true},
		{"/readyz", false, true},
		{"/metrics", false, true},
		{"/HEALTHZ", false, false},
		{"/healthz/", false, false},
		{"/update_model", false, false},
		{"/nope", false, false},
	} {
		traced, unlimited := routes.traced(tc.path), routes.unlimited(tc.path)
		if traced != tc.traced || unlimited != tc.unlimited {
			t.Errorf("%s: traced %v, unlimited %v; want %v, %v", tc.path, traced, unlimited, tc.traced, tc.unlimited)
		}
	}
}

func TestRouteTableRefusesAnUnlimitedPattern(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("an unlimited route with a parameter was accepted")
		}
	}()
	newRouteTable([]route{{methods: []string{fiber.MethodGet}, path: "/probe/:name", unlimited: true}})
}

// The CORS preflight allows the methods of the api's own routes.
func TestRouteTableBrowserMethods(t *testing.T) {
	if got := (server{}).routes(http.NotFoundHandler()).browserMethods(); got != "GET,POST,PUT,DELETE" {
		t.Errorf("browserMethods = %q, want GET,POST,PUT,DELETE", got)
	}
}
