package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The dashboard's per-route panels: a p50 and a p99 latency and an error
// ratio for every route template of each service. The route label is each
// service's own syntax: Fiber's ":name" for the api, the net/http pattern's
// path ("{name}", "/{$}", "/static/") for bayes.

// routeHit is one request that lands on a route template.
type routeHit struct {
	method, path, body string
	route              string // the route label the service counts it under
	status             []int  // the statuses it may be answered with
}

// routeService is a service, its metric prefix and a request for every
// route template it serves.
type routeService struct {
	name string // "api" or "bayes": its metrics are edb_<name>_http_…
	proc *proc
	hits []routeHit
}

func (rs routeService) requestsMetric() string { return "edb_" + rs.name + "_http_requests_total" }
func (rs routeService) durationMetric() string {
	return "edb_" + rs.name + "_http_request_duration_seconds_bucket"
}

// routes are the distinct route templates of rs's hits.
func (rs routeService) routes() []string {
	var out []string
	for _, h := range rs.hits {
		if !slices.Contains(out, h.route) {
			out = append(out, h.route)
		}
	}
	slices.Sort(out)
	return out
}

// apiRoutes are the api's routes (services/api/ports/httpapi/routes.go);
// model is one that exists, so every call is valid but the 404.
func apiRoutes(api *proc) routeService {
	ok := []int{http.StatusOK}
	return routeService{name: "api", proc: api, hits: []routeHit{
		{method: http.MethodGet, path: "/metrics", route: "/metrics", status: ok},
		{method: http.MethodGet, path: "/healthz", route: "/healthz", status: ok},
		{method: http.MethodGet, path: "/readyz", route: "/readyz", status: ok},
		{method: http.MethodPost, path: "/update_model/w", route: "/update_model/:trial", status: []int{http.StatusCreated}},
		{method: http.MethodGet, path: "/update_model/x", route: "/update_model/:trial", status: []int{http.StatusNotFound}},
		{method: http.MethodPost, path: "/models/alpha/observations", body: `{"w":1,"l":1}`, route: "/models/:name/observations", status: []int{http.StatusCreated}},
		// 202 while bayes has not applied the definition, 200 once it has.
		{method: http.MethodPut, path: "/models/routes", body: `{"prior":"uniform","grid_points":50}`, route: "/models/:name", status: []int{http.StatusAccepted, http.StatusOK}},
		{method: http.MethodPost, path: "/models/alpha/reset", route: "/models/:name/reset", status: []int{http.StatusAccepted}},
		// A model that does not exist: 404, an error in the route's ratio.
		{method: http.MethodDelete, path: "/models/nope", route: "/models/:name", status: []int{http.StatusNotFound}},
		{method: http.MethodGet, path: "/openapi.json", route: "/openapi.json", status: ok},
		{method: http.MethodGet, path: "/docs", route: "/docs", status: ok},
		{method: http.MethodGet, path: "/docs/docs.js", route: "/docs/:asset", status: ok},
	}}
}

// bayesRoutes are bayes' routes (services/bayes/ports/httpapi NewHandler),
// asked about models that exist (alpha and default) but for the 404.
func bayesRoutes(bayes *proc) routeService {
	ok := []int{http.StatusOK}
	get := func(path, route string) routeHit {
		return routeHit{method: http.MethodGet, path: path, route: route, status: ok}
	}
	return routeService{name: "bayes", proc: bayes, hits: []routeHit{
		get("/metrics", "/metrics"),
		get("/healthz", "/healthz"),
		get("/readyz", "/readyz"),
		get("/model", "/model"),
		get("/models", "/models"),
		get("/models/alpha", "/models/{name}"),
		{method: http.MethodGet, path: "/models/nope", route: "/models/{name}", status: []int{http.StatusNotFound}},
		get("/models/alpha/predictive?trials=3", "/models/{name}/predictive"),
		get("/models/alpha/plot.png", "/models/{name}/plot.png"),
		get("/models/alpha/events", "/models/{name}/events"),
		get("/models/alpha/posterior.csv", "/models/{name}/posterior.csv"),
		get("/compare?models=default,alpha", "/compare"),
		get("/compare/events?models=default,alpha", "/compare/events"),
		get("/allocate?models=default,alpha&seed=1", "/allocate"),
		get("/", "/{$}"),
		get("/static/app.js", "/static/"),
		get("/openapi.json", "/openapi.json"),
		get("/docs", "/docs"),
		get("/docs/docs.js", "/docs/{asset}"),
	}}
}

// hit sends h to rs and returns the status. A Server-Sent Events answer is
// read up to its first event and then closed, as a browser leaving the page
// would: the service counts the request when the stream ends.
func (rs routeService) hit(h routeHit) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var body io.Reader
	if h.body != "" {
		body = strings.NewReader(h.body)
	}
	req, err := http.NewRequestWithContext(ctx, h.method, rs.proc.url(h.path), body)
	if err != nil {
		return 0, err
	}
	if h.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sawEvent := false
		for sc.Scan() && (sc.Text() != "" || !sawEvent) {
			sawEvent = sawEvent || strings.HasPrefix(sc.Text(), "event:")
		}
		if !sawEvent {
			return resp.StatusCode, fmt.Errorf("%s %s: the stream ended before its first event: %v", h.method, h.path, sc.Err())
		}
		return resp.StatusCode, nil
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// hitAll sends every hit once and returns what went other than planned.
func (rs routeService) hitAll() []string {
	var problems []string
	for _, h := range rs.hits {
		status, err := rs.hit(h)
		if err != nil || !slices.Contains(h.status, status) {
			problems = append(problems, fmt.Sprintf("%s %s %s: status %d (want one of %v) %v", rs.name, h.method, h.path, status, h.status, err))
		}
	}
	return problems
}

// routeQueryKinds are the per-route questions the dashboard must answer for
// every route template of each service.
var routeQueryKinds = []string{"latency p50", "latency p99", "error ratio"}

// routeQueries finds, among the dashboard's queries, those answering each
// kind per route for rs: a histogram_quantile(0.5 or 0.99) of its request
// duration kept apart by route, and a ratio of its requests by code kept
// apart by route.
func routeQueries(qs []dashQuery, rs routeService) map[string][]dashQuery {
	out := map[string][]dashQuery{}
	for _, q := range qs {
		e := strings.Join(strings.Fields(q.expr), " ")
		if !strings.Contains(e, "by (route") && !strings.Contains(e, "le, route)") {
			continue
		}
		switch {
		case strings.Contains(e, rs.durationMetric()) && strings.HasPrefix(e, "histogram_quantile(0.5,"):
			out["latency p50"] = append(out["latency p50"], q)
		case strings.Contains(e, rs.durationMetric()) && strings.HasPrefix(e, "histogram_quantile(0.99,"):
			out["latency p99"] = append(out["latency p99"], q)
		case strings.Contains(e, rs.requestsMetric()) && strings.Contains(e, "code") && strings.Contains(e, "/"):
			out["error ratio"] = append(out["error ratio"], q)
		}
	}
	return out
}

// missingRoutes evaluates every per-route query of the dashboard for rs and
// returns, for each kind, the routes of want it answers with no series or
// with NaN (no recent traffic), and any other route rs has counted requests
// on that it leaves out altogether.
func (p *promServer) missingRoutes(ctx context.Context, qs []dashQuery, rs routeService, want []string) ([]string, error) {
	counted, err := p.query(ctx, fmt.Sprintf("group by (route) (%s)", rs.requestsMetric()))
	if err != nil {
		return nil, err
	}
	var others []string
	for _, s := range counted {
		if r := s.Metric["route"]; !slices.Contains(want, r) {
			others = append(others, r)
		}
	}
	var missing []string
	byKind := routeQueries(qs, rs)
	for _, kind := range routeQueryKinds {
		if len(byKind[kind]) == 0 {
			missing = append(missing, fmt.Sprintf("%s: no %s query by route in the dashboard", rs.name, kind))
		}
		for _, q := range byKind[kind] {
			e, err := promExpr(q.expr)
			if err != nil {
				return nil, err
			}
			res, err := p.query(ctx, e)
			if err != nil {
				return nil, fmt.Errorf("panel %q: %w", q.panel, err)
			}
			got := map[string]bool{}
			for _, s := range res {
				v, _ := s.Value[1].(string)
				f, err := strconv.ParseFloat(v, 64)
				got[s.Metric["route"]] = err == nil && !math.IsNaN(f)
			}
			for _, r := range want {
				if !got[r] {
					missing = append(missing, fmt.Sprintf("%s %s (panel %q): no value for route %s", rs.name, kind, q.panel, r))
				}
			}
			for _, r := range others {
				if _, ok := got[r]; !ok {
					missing = append(missing, fmt.Sprintf("%s %s (panel %q): no series for route %s", rs.name, kind, q.panel, r))
				}
			}
		}
	}
	return missing, nil
}

// checkRoutesOnDashboard sends a round of requests to every route of rs
// each second and waits until every per-route query of the dashboard
// answers a value for each of them: rate() needs two scrapes that saw the
// counters grow, and the round keeps them growing.
func (p *promServer) checkRoutesOnDashboard(t *testing.T, qs []dashQuery, rs routeService) {
	t.Helper()
	ctx := context.Background()
	want := rs.routes()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.Now().Add(60 * time.Second)
	for {
		problems := rs.hitAll()
		missing, err := p.missingRoutes(ctx, qs, rs, want)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) == 0 && len(problems) == 0 {
			t.Logf("%s: the dashboard answers p50, p99 and error ratio for all %d routes: %v", rs.name, len(want), want)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s of traffic on every %s route:\n%s", rs.name, strings.Join(slices.Concat(problems, missing), "\n"))
		}
		<-tick.C
	}
}

// openAPIRoutes reads the paths of rs's OpenAPI document (GET /openapi.json)
// and returns each as rs's route label: ":name" for the api's Fiber routes,
// "/{$}" for bayes' page at "/".
func openAPIRoutes(rs routeService) ([]string, error) {
	resp, err := client.Get(rs.proc.url("/openapi.json"))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /openapi.json: %s", resp.Status)
	}
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("GET /openapi.json: %w", err)
	}
	var out []string
	for path := range doc.Paths {
		out = append(out, routeLabel(rs.name, path))
	}
	slices.Sort(out)
	return out, nil
}

// routeLabel turns an OpenAPI path template into the route label svc counts
// its requests under.
func routeLabel(svc, path string) string {
	if svc == "bayes" {
		if path == "/" {
			return "/{$}"
		}
		return path
	}
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			parts[i] = ":" + p[1:len(p)-1]
		}
	}
	return strings.Join(parts, "/")
}

// covers reports whether the route templates routes include route, a
// prefix pattern such as bayes' "/static/" covering the paths under it.
func covers(routes []string, route string) bool {
	for _, r := range routes {
		if r == route || (strings.HasSuffix(r, "/") && r != "/" && strings.HasPrefix(route, r)) {
			return true
		}
	}
	return false
}

func TestRouteLabelAndCovers(t *testing.T) {
	for _, c := range []struct{ svc, path, want string }{
		{"api", "/models/{name}/observations", "/models/:name/observations"},
		{"api", "/update_model/{trial}", "/update_model/:trial"},
		{"api", "/healthz", "/healthz"},
		{"bayes", "/models/{name}", "/models/{name}"},
		{"bayes", "/", "/{$}"},
	} {
		if got := routeLabel(c.svc, c.path); got != c.want {
			t.Errorf("routeLabel(%s, %s) = %s, want %s", c.svc, c.path, got, c.want)
		}
	}
	routes := []string{"/{$}", "/static/", "/models/{name}"}
	for route, want := range map[string]bool{"/static/app.js": true, "/models/{name}": true, "/models": false, "/model": false} {
		if covers(routes, route) != want {
			t.Errorf("covers(%v, %s) = %v, want %v", routes, route, !want, want)
		}
	}
}
