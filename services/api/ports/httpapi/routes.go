package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/access"
)

// route is one endpoint of the api. The route table is the one place that
// knows the api's paths: the registrations, the tracing filter, the Allow
// header of a 405 and the rate-limit exemptions are all derived from it, so
// a new route cannot be served yet missing from one of them; the methods a
// browser may send across origins (CORS) come from it too.
type route struct {
	// methods are exactly the methods served: Fiber's Get would add HEAD,
	// here a route has HEAD only if it lists it.
	methods []string
	// path is a Fiber pattern; ":name" stands for one non-empty segment.
	path    string
	handler fiber.Handler
	// traced routes get a server span, and so does any request under
	// their static prefix (a 404 or 405 near them). Probes and scrapes are
	// not traced: they would drown the traces that matter.
	traced bool
	// unlimited routes are never rate limited: probes and scrapes must see
	// the service as it is, not as throttled. Only a static path can be
	// unlimited, and only as written, so no variant of it passes for free.
	unlimited bool
	// scope is what a token must grant to use a writing route when API
	// tokens are on (auth.go); empty for the routes anyone may read.
	scope Scope
}

// Scope is a permission an API token grants (domain/access).
type Scope = access.Scope

// The scopes: observe records observations, define defines models, admin
// deletes and resets them.
const (
	ScopeObserve = access.Observe
	ScopeDefine  = access.Define
	ScopeAdmin   = access.Admin
)

// routes is the api's route table; metrics, when not nil, serves
// GET /metrics. The OpenAPI document and its docs page come last
// (docsRoutes, openapi.go).
func (s server) routes(metrics http.Handler) routeTable {
	getHead := []string{fiber.MethodGet, fiber.MethodHead}
	var rs []route
	if metrics != nil {
		rs = append(rs, route{methods: getHead, path: "/metrics", handler: adaptor.HTTPHandler(metrics), unlimited: true})
	}
	rs = append(rs,
		route{methods: getHead, path: "/healthz", handler: s.healthz, unlimited: true},
		route{methods: getHead, path: "/readyz", handler: s.readyz, unlimited: true},
		// No HEAD: a HEAD from a link checker must not record an observation.
		route{methods: []string{fiber.MethodGet, fiber.MethodPost}, path: "/update_model/:trial", handler: s.recordObservation, traced: true, scope: ScopeObserve},
		route{methods: []string{fiber.MethodPost}, path: "/models/:name/observations", handler: s.recordObservations, traced: true, scope: ScopeObserve},
		route{methods: []string{fiber.MethodPut}, path: "/models/:name", handler: s.defineModel, traced: true, scope: ScopeDefine},
		route{methods: []string{fiber.MethodDelete}, path: "/models/:name", handler: s.deleteModel, traced: true, scope: ScopeAdmin},
		route{methods: []string{fiber.MethodPost}, path: "/models/:name/reset", handler: s.resetModel, traced: true, scope: ScopeAdmin},
	)
	return newRouteTable(append(rs, docsRoutes()...))
}

// routeTable is the route table with what the middleware asks of it on
// every request worked out once: a few string comparisons per request, as
// many as a literal list would cost.
type routeTable struct {
	routes []route
	// tracedPrefixes are the static prefixes of the traced routes: the
	// pattern up to its first parameter, or the whole path of a static one.
	tracedPrefixes []string
	// unlimitedPaths are the paths of the unlimited routes.
	unlimitedPaths []string
}

func newRouteTable(rs []route) routeTable {
	t := routeTable{routes: rs}
	for _, r := range rs {
		static, _, _ := strings.Cut(r.path, ":")
		if r.traced && !slices.Contains(t.tracedPrefixes, static) {
			t.tracedPrefixes = append(t.tracedPrefixes, static)
		}
		if r.unlimited {
			if static != r.path {
				panic("httpapi: route " + r.path + " has a parameter and cannot be unlimited")
			}
			t.unlimitedPaths = append(t.unlimitedPaths, r.path)
		}
	}
	return t
}

// register adds every route to f.
func (t routeTable) register(f *fiber.App) {
	for _, r := range t.routes {
		for _, m := range r.methods {
			f.Add(m, r.path, r.handler)
		}
	}
}

// traced reports whether a request for path gets a server span.
func (t routeTable) traced(path string) bool {
	for _, p := range t.tracedPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// unlimited reports whether a request for path skips the rate limit.
func (t routeTable) unlimited(path string) bool {
	return slices.Contains(t.unlimitedPaths, path)
}

// browserMethods are the methods of the api's own (traced) routes, for the
// CORS preflight: what a page from another origin may send.
func (t routeTable) browserMethods() string {
	var methods []string
	for _, r := range t.routes {
		for _, m := range r.methods {
			if r.traced && m != fiber.MethodHead && !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
	}
	return strings.Join(methods, ",")
}

// allow is the Allow header of a 405 for path: the methods of every route
// whose pattern matches it. Only a 405 asks, so its cost does not matter.
func (t routeTable) allow(path string) string {
	var methods []string
	for _, r := range t.routes {
		if !matches(r.path, path) {
			continue
		}
		for _, m := range r.methods {
			if !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
	}
	return strings.Join(methods, ", ")
}

// matches reports whether path matches pattern the way Fiber's router
// does with its default settings: case-insensitively, a trailing slash
// ignored, ":name" matching one non-empty segment.
func matches(pattern, path string) bool {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	want, got := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		if strings.HasPrefix(w, ":") {
			if got[i] == "" {
				return false
			}
			continue
		}
		if !strings.EqualFold(w, got[i]) {
			return false
		}
	}
	return true
}
