package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// dashboardFile is the one dashboard: docker compose provisions it into
// Grafana and the chart puts it in a ConfigMap for the Grafana sidecar.
var dashboardFile = filepath.Join("..", "..", "charts", "event-driven-bayes", "files", "dashboards", "event-driven-bayes.json")

// exportedMetrics pins every edb_ metric the two services export (true for
// histograms, which Prometheus stores as _bucket, _sum and _count). A
// dashboard query naming anything else plots nothing, so the structural
// test refuses it before Prometheus is even started.
var exportedMetrics = map[string]bool{
	"edb_api_http_requests_total":             false,
	"edb_api_http_request_duration_seconds":   true,
	"edb_api_events_published_total":          false,
	"edb_api_publish_failures_total":          false,
	"edb_api_publish_duration_seconds":        true,
	"edb_api_publish_not_replicated_total":    false,
	"edb_api_stream_shards":                   false,
	"edb_bayes_http_requests_total":           false,
	"edb_bayes_http_request_duration_seconds": true,
	"edb_bayes_events_consumed_total":         false,
	"edb_bayes_events_applied_total":          false,
	"edb_bayes_events_skipped_total":          false,
	"edb_bayes_events_dead_lettered_total":    false,
	"edb_bayes_events_claimed_total":          false,
	"edb_bayes_consume_batch_size":            true,
	"edb_bayes_event_latency_seconds":         true,
	"edb_bayes_commit_duration_seconds":       true,
	"edb_bayes_consumer_group_lag":            false,
	"edb_bayes_consumer_group_pending":        false,
	"edb_bayes_dead_letter_stream_length":     false,
	"edb_bayes_redis_up":                      false,
	"edb_bayes_model_observations":            false,
	"edb_bayes_model_water":                   false,
	"edb_bayes_model_posterior_mean":          false,
	"edb_bayes_model_posterior_sd":            false,
	"edb_bayes_model_posterior_map":           false,
	"edb_bayes_model_hpdi_low":                false,
	"edb_bayes_model_hpdi_high":               false,
	"edb_bayes_models":                        false,
	"edb_bayes_models_not_exported":           false,
	"edb_bayes_plot_renders_total":            false,
	"edb_bayes_plot_render_duration_seconds":  true,
	"edb_bayes_changes_applied_total":         false,
	"edb_bayes_plot_queue_models":             false,
	"edb_bayes_live_streams":                  false,
	"edb_bayes_live_watched_models":           false,
	"edb_bayes_stream_shards":                 false,
}

// dashQuery is one PromQL expression of the dashboard and the title of the
// panel it belongs to.
type dashQuery struct{ panel, expr string }

// dashQueries returns every "expr" anywhere in the dashboard JSON (panels,
// rows, targets, whatever nests them), each with its nearest panel title.
func dashQueries(raw []byte) ([]dashQuery, error) {
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parsing the dashboard: %w", err)
	}
	var out []dashQuery
	var walk func(v any, title string)
	walk = func(v any, title string) {
		switch v := v.(type) {
		case map[string]any:
			if t, ok := v["title"].(string); ok {
				title = t
			}
			if e, ok := v["expr"].(string); ok {
				out = append(out, dashQuery{panel: title, expr: e})
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k], title)
			}
		case []any:
			for _, e := range v {
				walk(e, title)
			}
		}
	}
	walk(doc, "")
	return out, nil
}

// grafanaMacros stand in for what Grafana substitutes before it sends a
// query; the longer names come first so "$__range" does not eat "$__range_s".
var grafanaMacros = strings.NewReplacer(
	"${__rate_interval}", "30s", "$__rate_interval", "30s",
	"${__interval}", "30s", "$__interval", "30s",
	"${__range}", "30s", "$__range", "30s",
)

// dashboardVars stand in for the dashboard's own template variables: each
// is given the value the dashboard opens with (TestDashboardStructure checks
// that the two agree and that no variable lacks a stand-in).
var dashboardVars = map[string]string{"model": "default"}

var dashboardVarsReplacer = func() *strings.Replacer {
	var pairs []string
	for _, name := range slices.Sorted(maps.Keys(dashboardVars)) {
		pairs = append(pairs, "${"+name+"}", dashboardVars[name], "$"+name, dashboardVars[name])
	}
	return strings.NewReplacer(pairs...)
}()

// promExpr turns a dashboard expression into one Prometheus can evaluate.
func promExpr(expr string) (string, error) {
	e := dashboardVarsReplacer.Replace(grafanaMacros.Replace(expr))
	if strings.Contains(e, "$") {
		return "", fmt.Errorf("unknown Grafana variable left in %q", e)
	}
	return e, nil
}

var metricName = regexp.MustCompile(`\bedb_[a-z0-9_]+`)

// unknownMetrics returns the edb_ names in expr that no service exports.
func unknownMetrics(expr string) []string {
	var bad []string
	for _, name := range metricName.FindAllString(expr, -1) {
		if _, ok := exportedMetrics[name]; ok {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if exportedMetrics[base] { // histogram series
			continue
		}
		bad = append(bad, name)
	}
	return bad
}

// dashPanel is what the structural test needs of a panel.
type dashPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels      []dashPanel `json:"panels"` // a collapsed row holds its panels
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
}

// probabilityMetrics are the gauges whose values are a proportion p or in
// its units (the sd, the HPDI bounds and width): every panel showing one
// shows it as probabilityUnit, so 0.7 never reads 0.7 on one panel and 70%
// on the next.
var probabilityMetrics = regexp.MustCompile(`\bedb_bayes_model_(posterior_mean|posterior_sd|posterior_map|hpdi_low|hpdi_high)\b`)

const probabilityUnit = "percentunit"

// probabilityUnitErrors returns a line for every panel that plots a
// probability in a unit other than probabilityUnit, or overrides the unit
// of some of its series.
func probabilityUnitErrors(ps []dashPanel) []string {
	var bad []string
	for _, p := range ps {
		bad = append(bad, probabilityUnitErrors(p.Panels)...)
		plots := false
		for _, tg := range p.Targets {
			plots = plots || probabilityMetrics.MatchString(tg.Expr)
		}
		if !plots {
			continue
		}
		if u := p.FieldConfig.Defaults.Unit; u != probabilityUnit {
			bad = append(bad, fmt.Sprintf("panel %q plots a probability in unit %q, want %q", p.Title, u, probabilityUnit))
		}
		for _, o := range p.FieldConfig.Overrides {
			for _, prop := range o.Properties {
				if prop.ID == "unit" && prop.Value != probabilityUnit {
					bad = append(bad, fmt.Sprintf("panel %q overrides a unit to %v, want %q", p.Title, prop.Value, probabilityUnit))
				}
			}
		}
	}
	return bad
}

type dashboardDoc struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []dashVar `json:"list"`
	} `json:"templating"`
}

type dashVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      string          `json:"query"`
	Datasource json.RawMessage `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// labelValues matches a query variable's label_values(metric, label).
var labelValues = regexp.MustCompile(`^label_values\((edb_[a-z0-9_]+),\s*([a-z_]+)\)$`)

// perModelSeries matches a reference to a per-model gauge and its selector.
var perModelSeries = regexp.MustCompile(`\bedb_bayes_model_[a-z_]+(\{[^}]*\})?`)

// perModelOK says whether every per-model gauge in expr is narrowed to the
// chosen model or kept apart by model: a max() over all models' posterior
// means is a number that means nothing.
func perModelOK(expr string) bool {
	for _, m := range perModelSeries.FindAllStringSubmatch(expr, -1) {
		if !strings.Contains(m[1], `model="$model"`) && !strings.Contains(expr, "by (model)") {
			return false
		}
	}
	return true
}

// TestDashboardStructure needs no Prometheus: the JSON parses, the uid stays
// what links and the compose provisioning rely on, every panel has a title
// and queries through the data source variable, and every edb_ metric named
// is one the services export (and every exported one is plotted).
func TestDashboardStructure(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboardDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID != "event-driven-bayes" || d.Title != "event-driven-bayes" || d.SchemaVersion < 36 {
		t.Errorf("uid %q title %q schemaVersion %d; want event-driven-bayes, event-driven-bayes, >= 36", d.UID, d.Title, d.SchemaVersion)
	}
	wantDS := `{"type":"prometheus","uid":"${datasource}"}`
	sameDS := func(raw json.RawMessage) bool {
		var v, w any
		return json.Unmarshal(raw, &v) == nil && json.Unmarshal([]byte(wantDS), &w) == nil && fmt.Sprint(v) == fmt.Sprint(w)
	}
	vars := map[string]dashVar{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	// One data source variable lets the same file work provisioned (compose)
	// and through the sidecar (Kubernetes), whatever the data source's uid.
	if v := vars["datasource"]; v.Type != "datasource" || v.Query != "prometheus" {
		t.Errorf("no template variable datasource of type datasource (prometheus): %+v", d.Templating.List)
	}
	// The model variable picks one of the exported models and opens on the
	// default one, which always exists.
	if v := vars["model"]; v.Type != "query" || v.Query != "label_values(edb_bayes_model_observations, model)" ||
		!sameDS(v.Datasource) || v.Multi || v.IncludeAll || v.Current.Value != "default" {
		t.Errorf("template variable model: %+v; want a single-valued query label_values(edb_bayes_model_observations, model) through %s, opening on default", v, wantDS)
	}
	for name, v := range vars {
		if _, ok := dashboardVars[name]; !ok && v.Type != "datasource" {
			t.Errorf("template variable %s has no stand-in in dashboardVars", name)
		} else if ok && v.Current.Value != dashboardVars[name] {
			t.Errorf("template variable %s opens on %v, its stand-in is %q", name, v.Current.Value, dashboardVars[name])
		}
	}
	for name := range dashboardVars {
		if _, ok := vars[name]; !ok {
			t.Errorf("dashboardVars stands in for %s, which the dashboard does not have", name)
		}
	}

	ids := map[int]string{}
	var rows []string
	used := map[string]bool{}
	var check func(ps []dashPanel)
	check = func(ps []dashPanel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			if p.Type == "row" {
				rows = append(rows, p.Title)
				check(p.Panels)
				continue
			}
			if p.Title == "" {
				t.Errorf("panel %d has no title", p.ID)
			}
			if p.Type != "timeseries" && p.Type != "stat" {
				t.Errorf("panel %q is a %q; want timeseries or stat", p.Title, p.Type)
			}
			if !sameDS(p.Datasource) {
				t.Errorf("panel %q queries %s; want %s", p.Title, p.Datasource, wantDS)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s has an empty expr", p.Title, tg.RefID)
				}
				if !sameDS(tg.Datasource) {
					t.Errorf("panel %q target %s queries %s; want %s", p.Title, tg.RefID, tg.Datasource, wantDS)
				}
				if _, err := promExpr(tg.Expr); err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
				}
				if bad := unknownMetrics(tg.Expr); len(bad) > 0 {
					t.Errorf("panel %q names metrics nobody exports: %v in %s", p.Title, bad, tg.Expr)
				}
				if !perModelOK(tg.Expr) {
					t.Errorf("panel %q mixes models: %s; want {model=\"$model\"} or by (model)", p.Title, tg.Expr)
				}
				for _, name := range metricName.FindAllString(tg.Expr, -1) {
					used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
				}
			}
		}
	}
	check(d.Panels)
	if want := []string{"API", "bayes HTTP", "Pipeline", "Model", "Runtime"}; !slices.Equal(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	for name := range exportedMetrics {
		if !used[name] {
			t.Errorf("%s is exported but on no panel", name)
		}
	}
	// Probabilities in one unit on every panel; the check itself must catch
	// a panel that strays.
	for _, e := range probabilityUnitErrors(d.Panels) {
		t.Error(e)
	}
	var stray []dashPanel
	if err := json.Unmarshal([]byte(`[{"type":"row","panels":[{"title":"stray","fieldConfig":{"defaults":{"unit":"short"}},
		"targets":[{"expr":"max(edb_bayes_model_posterior_sd{model=\"$model\"})"}]}]}]`), &stray); err != nil {
		t.Fatal(err)
	}
	if bad := probabilityUnitErrors(stray); len(bad) != 1 || !strings.Contains(bad[0], `"stray"`) {
		t.Errorf("probabilityUnitErrors missed a probability in unit short: %q", bad)
	}
	// A p50, a p99 and an error ratio by route for each service (that they
	// answer every route is TestDashboardQueriesOnPrometheus' to prove).
	qs, err := dashQueries(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range []routeService{{name: "api"}, {name: "bayes"}} {
		byKind := routeQueries(qs, rs)
		for _, kind := range routeQueryKinds {
			if len(byKind[kind]) == 0 {
				t.Errorf("no %s %s query by route in the dashboard", rs.name, kind)
			}
		}
	}
	if perModelOK("max(edb_bayes_model_posterior_mean)") || !perModelOK(`max(edb_bayes_model_hpdi_high{model="$model"}) - max(edb_bayes_model_hpdi_low{model="$model"})`) {
		t.Error("perModelOK misjudges whether a query mixes models")
	}
	// The name check itself must catch a typo.
	if bad := unknownMetrics("sum(rate(edb_api_nonexistent_total[5m])) / sum(rate(edb_api_http_requests_total[5m]))"); !slices.Equal(bad, []string{"edb_api_nonexistent_total"}) {
		t.Errorf("unknownMetrics missed a metric nobody exports: %v", bad)
	}
}

// promServer is a real Prometheus process the test started.
type promServer struct {
	base string
	log  string
}

var promClient = &http.Client{Timeout: 10 * time.Second}

// startPrometheus runs prometheus scraping every second the given jobs
// (job name → host:port targets) and waits until it is ready.
func startPrometheus(t *testing.T, jobs map[string][]string) *promServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not on PATH (%v); install it: apt-get install -y prometheus", err)
	}
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n")
	for _, job := range slices.Sorted(maps.Keys(jobs)) {
		quoted := make([]string, len(jobs[job]))
		for i, tg := range jobs[job] {
			quoted[i] = strconv.Quote(tg)
		}
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: [%s]\n", job, strings.Join(quoted, ", "))
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &promServer{base: "http://127.0.0.1:" + strconv.Itoa(redistest.FreePort(t)), log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+strings.TrimPrefix(p.base, "http://"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	})
	eventually(t, 30*time.Second, "prometheus ready", func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("prometheus exited at start-up: %v\n%s", waitErr, p.logs())
		default:
		}
		resp, err := promClient.Get(p.base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

func (p *promServer) logs() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// promSample is one series of an instant query's result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// query evaluates expr at the current time through /api/v1/query.
func (p *promServer) query(ctx context.Context, expr string) ([]promSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := promClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("querying prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading prometheus' answer: %w", err)
	}
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("prometheus answered %s %q: %w", resp.Status, body, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s: %s", r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result is a %s, not a vector of series", r.Data.ResultType)
	}
	var out []promSample
	if err := json.Unmarshal(r.Data.Result, &out); err != nil {
		return nil, fmt.Errorf("decoding the result: %w", err)
	}
	return out, nil
}

// errNoSeries is what a query naming a metric nobody exports comes to.
var errNoSeries = errors.New("no series")

// checkExpr evaluates one dashboard expression, macros substituted, and
// fails unless Prometheus accepts it and returns at least one series.
func (p *promServer) checkExpr(ctx context.Context, expr string) ([]promSample, error) {
	e, err := promExpr(expr)
	if err != nil {
		return nil, err
	}
	res, err := p.query(ctx, e)
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, errNoSeries
	}
	return res, nil
}

// checkDashboard evaluates every expression of the dashboard JSON and
// returns one line per failing one, naming its panel.
func (p *promServer) checkDashboard(ctx context.Context, t *testing.T, raw []byte) (checked int, failures []string, err error) {
	qs, err := dashQueries(raw)
	if err != nil {
		return 0, nil, err
	}
	for _, q := range qs {
		res, err := p.checkExpr(ctx, q.expr)
		if err != nil {
			failures = append(failures, fmt.Sprintf("panel %q: %s\n    %v", q.panel, q.expr, err))
			continue
		}
		vals := make([]string, 0, len(res))
		for _, s := range res {
			vals = append(vals, fmt.Sprint(s.Value[1]))
		}
		t.Logf("ok %-55q %d series %v %s", q.panel, len(res), vals, q.expr)
	}
	return len(qs), failures, nil
}

// promHolds polls until expr returns at least one series.
func (p *promServer) promHolds(t *testing.T, limit time.Duration, expr string) {
	t.Helper()
	eventually(t, limit, "prometheus: "+expr, func() (bool, string) {
		res, err := p.query(context.Background(), expr)
		if err != nil {
			return false, err.Error()
		}
		return len(res) > 0, fmt.Sprint(res)
	})
}

// TestDashboardQueriesOnPrometheus scrapes the real services with a real
// Prometheus and proves every query of the dashboard returns data.
func TestDashboardQueriesOnPrometheus(t *testing.T) {
	s := newSystem(t)
	// Two replicas: the max() over their gauges. b exports one model only,
	// so the cap on per-model series is seen through Prometheus too.
	a, b := s.bayes(t, "a"), s.bayes(t, "b", "MODEL_METRICS_LIMIT=1")
	addr := func(p *proc) string { return "127.0.0.1:" + strconv.Itoa(p.port) }
	prom := startPrometheus(t, map[string][]string{"api": {addr(s.api)}, "bayes": {addr(a), addr(b)}})
	prom.promHolds(t, 30*time.Second, `count(up{job="api"} == 1) == 1`)
	prom.promHolds(t, 30*time.Second, `count(up{job="bayes"} == 1) == 2`)

	// Traffic: observations, a batch for a second model (so the per-model
	// panels have two series), two malformed entries straight into the
	// stream (so dead-letter series have values) and one 404.
	tl := load(t, s.api, 4, 300, nil)
	ctx := context.Background()
	resp, err := client.Post(s.api.url("/models/alpha/observations"), "application/json", strings.NewReader(`{"w":3,"l":7}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /models/alpha/observations: %s", resp.Status)
	}
	for _, fields := range [][]any{{"trial", "x"}, {"foo", "bar"}} {
		if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "update_model", Values: fields}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if status, _, err := record(s.api, http.MethodGet, "x"); err != nil || status != http.StatusNotFound {
		t.Fatalf("GET /update_model/x: %d %v", status, err)
	}
	s.settled(t, a, tl.w.Load(), tl.n.Load())

	// Prometheus has scraped the final state, and often enough for rate().
	prom.promHolds(t, 30*time.Second, fmt.Sprintf(`max(edb_bayes_model_observations{model="default"}) == %d`, tl.n.Load()))
	prom.promHolds(t, 30*time.Second, `max(edb_bayes_model_observations{model="alpha"}) == 10`)
	// The cap: a exports both models, b only the default one and counts the
	// other as left out.
	prom.promHolds(t, 30*time.Second, fmt.Sprintf(`edb_bayes_models{instance=%q} == 2 and edb_bayes_models_not_exported{instance=%q} == 0`, addr(a), addr(a)))
	prom.promHolds(t, 30*time.Second, fmt.Sprintf(`edb_bayes_models{instance=%q} == 2 and edb_bayes_models_not_exported{instance=%q} == 1`, addr(b), addr(b)))
	prom.promHolds(t, 30*time.Second, fmt.Sprintf(`count(edb_bayes_model_observations{instance=%q}) == 2`, addr(a)))
	prom.promHolds(t, 30*time.Second, fmt.Sprintf(`count(edb_bayes_model_observations{instance=%q, model="default"}) == 1`, addr(b)))
	if res, err := prom.query(ctx, fmt.Sprintf(`count(edb_bayes_model_observations{instance=%q}) != 1`, addr(b))); err != nil || len(res) != 0 {
		t.Errorf("b (MODEL_METRICS_LIMIT=1) exports more than one model: %v %v", res, err)
	}
	prom.promHolds(t, 30*time.Second, "sum(edb_bayes_events_dead_lettered_total) == 2")
	prom.promHolds(t, 30*time.Second, `sum(edb_api_http_requests_total{code="404"}) >= 1`)
	prom.promHolds(t, 30*time.Second, "sum(rate(edb_api_http_requests_total[30s])) > 0")

	t.Run("every dashboard query returns series", func(t *testing.T) {
		raw, err := os.ReadFile(dashboardFile)
		if err != nil {
			t.Fatal(err)
		}
		checked, failures, err := prom.checkDashboard(ctx, t, raw)
		if err != nil {
			t.Fatal(err)
		}
		if checked < 20 {
			t.Errorf("found only %d queries in %s", checked, dashboardFile)
		}
		if len(failures) > 0 {
			t.Errorf("%d of %d dashboard queries fail:\n%s", len(failures), checked, strings.Join(failures, "\n"))
		}
	})

	// Grafana lists the model variable's choices with label_values(): the
	// same question put to Prometheus must list every model, the default
	// the dashboard opens on among them.
	t.Run("the model variable lists the models", func(t *testing.T) {
		raw, err := os.ReadFile(dashboardFile)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboardDoc
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, v := range d.Templating.List {
			m := labelValues.FindStringSubmatch(v.Query)
			if v.Type != "query" || m == nil {
				continue
			}
			checked++
			res, err := prom.query(ctx, fmt.Sprintf("group by (%s) (%s)", m[2], m[1]))
			if err != nil {
				t.Fatalf("variable %s: %v", v.Name, err)
			}
			var got []string
			for _, r := range res {
				got = append(got, r.Metric[m[2]])
			}
			slices.Sort(got)
			if v.Name == "model" && !slices.Equal(got, []string{"alpha", "default"}) {
				t.Errorf("variable model lists %q, want [alpha default]", got)
			}
			if !slices.Contains(got, fmt.Sprint(v.Current.Value)) {
				t.Errorf("variable %s opens on %v, which is not among %q", v.Name, v.Current.Value, got)
			}
		}
		if checked == 0 {
			t.Error("no label_values() variable in the dashboard")
		}
	})

	// The check must be able to fail: a panel naming a metric nobody exports,
	// or a query Prometheus cannot parse, is reported with its panel.
	t.Run("a metric nobody exports fails the check", func(t *testing.T) {
		if _, err := prom.checkExpr(ctx, "rate(edb_api_nonexistent_total[$__rate_interval])"); !errors.Is(err, errNoSeries) {
			t.Errorf("nonexistent metric: err %v, want %v", err, errNoSeries)
		}
		if _, err := prom.checkExpr(ctx, "sum(rate(edb_api_http_requests_total[30s])"); err == nil {
			t.Error("a query with a syntax error passed")
		}
		bad := []byte(`{"panels":[{"title":"good","targets":[{"expr":"sum(rate(edb_api_http_requests_total[$__rate_interval]))"}]},
			{"type":"row","title":"r","panels":[{"title":"typo","targets":[{"expr":"sum(rate(edb_api_nonexistent_total[$__rate_interval]))"}]}]}]}`)
		checked, failures, err := prom.checkDashboard(ctx, t, bad)
		if err != nil || checked != 2 || len(failures) != 1 || !strings.Contains(failures[0], `"typo"`) {
			t.Errorf("checked %d, failures %q, err %v; want 2 checked, 1 failure naming panel \"typo\"", checked, failures, err)
		}
	})
	// Every route template of both services: traffic on each, then the
	// dashboard's p50, p99 and error ratio by route answer a value for every
	// one. The routes are this test's list, and the list must hold every
	// path each service's OpenAPI document describes.
	t.Run("every route has latency and error series", func(t *testing.T) {
		raw, err := os.ReadFile(dashboardFile)
		if err != nil {
			t.Fatal(err)
		}
		qs, err := dashQueries(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range []routeService{apiRoutes(s.api), bayesRoutes(a)} {
			t.Run(rs.name, func(t *testing.T) {
				documented, err := openAPIRoutes(rs)
				if err != nil {
					t.Errorf("%s: %v; cannot check that every documented route is exercised", rs.name, err)
				}
				for _, r := range documented {
					if !covers(rs.routes(), r) {
						t.Errorf("%s documents route %s, which this test sends no traffic to: add it to %sRoutes", rs.name, r, rs.name)
					}
				}
				prom.checkRoutesOnDashboard(t, qs, rs)
			})
		}
	})
	if t.Failed() {
		t.Logf("prometheus log:\n%s", prom.logs())
	}
}
