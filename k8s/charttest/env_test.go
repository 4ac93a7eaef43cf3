package charttest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Variables a binary reads that the chart deliberately does not set, with
// the reason. Every other variable of a binary's configuration must be
// settable through a value.
var notSetByChart = map[string]string{
	"REDIS_URL": "the chart passes the address and the ACL user as REDIS_HOST, REDIS_PORT, REDIS_DB and " +
		"REDIS_USERNAME, and the password from the Secret as REDIS_PASSWORD, so no password sits in a value; " +
		"REDIS_URL would win over all of them",
}

// The platform packages a configuration may hand its envconf.Reader to,
// and where their sources are: the scan reads them too.
var readerHelpers = map[string]string{
	"redisconf.Read":     "services/platform/redisconf",
	"redisconf.ReadConn": "services/platform/redisconf",
}

// envconf.Reader methods that read a variable named by their first
// argument. Fail names a variable already read; Err reads nothing.
var readerMethods = []string{"String", "Int", "Duration", "OneOf", "Lookup", "Bool", "Float"}

var (
	scanOnce sync.Once
	scanned  map[string][]string
	scanErr  string
)

// binaryVars are the variables a binary's configuration reads, found in
// its source rather than kept by hand, so the list cannot go stale: every
// call of an envconf.Reader method in services/<bin>/service/config.go, and
// in the platform packages that config hands its reader to.
func binaryVars(t *testing.T, bin string) []string {
	t.Helper()
	scanOnce.Do(func() {
		scanned = map[string][]string{}
		for _, b := range []string{"api", "bayes"} {
			vars, err := scanConfig(filepath.Join(repoRoot, "services", b, "service", "config.go"))
			if err != "" {
				scanErr = err
				return
			}
			scanned[b] = vars
		}
	})
	if scanErr != "" {
		t.Fatal(scanErr)
	}
	vars, ok := scanned[bin]
	if !ok {
		t.Fatalf("no binary %q", bin)
	}
	return vars
}

// scanConfig returns the sorted variable names read in file and in the
// helpers it passes its reader to; a problem is returned as a message.
func scanConfig(file string) ([]string, string) {
	found := map[string]bool{}
	helpers, msg := scanFile(file, found, false)
	if msg != "" {
		return nil, msg
	}
	dirs := map[string]bool{}
	for _, h := range helpers {
		dirs[readerHelpers[h]] = true
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		dir := filepath.Join(repoRoot, filepath.FromSlash(d))
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			more, msg := scanFile(f, found, true)
			if msg != "" {
				return nil, msg
			}
			if len(more) > 0 {
				return nil, f + " hands the reader on to " + strings.Join(more, ", ") + ": teach the scan (readerHelpers)"
			}
		}
	}
	if len(found) < 5 {
		return nil, file + ": the scan found only " + strconv.Itoa(len(found)) + " variables; has the way config.go reads them changed?"
	}
	return slices.Sorted(func(yield func(string) bool) {
		for v := range found {
			if !yield(v) {
				return
			}
		}
	}), ""
}

// scanFile adds to found every variable named in a reader call of file and
// returns the helpers (readerHelpers keys) the reader is passed to. A
// reader is a variable assigned from envconf.New or a parameter of type
// *envconf.Reader. wholePackage says every file of file's package is
// scanned, so a call of the package's own functions is covered.
func scanFile(file string, found map[string]bool, wholePackage bool) ([]string, string) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		return nil, err.Error()
	}
	readers := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			for i, rhs := range n.Rhs {
				if call, ok := rhs.(*ast.CallExpr); ok && selectorName(call.Fun) == "envconf.New" && i < len(n.Lhs) {
					if id, ok := n.Lhs[i].(*ast.Ident); ok {
						readers[id.Name] = true
					}
				}
			}
		case *ast.Field:
			if star, ok := n.Type.(*ast.StarExpr); ok && selectorName(star.X) == "envconf.Reader" {
				for _, id := range n.Names {
					readers[id.Name] = true
				}
			}
		}
		return true
	})
	if len(readers) == 0 {
		return nil, file + ": no envconf.Reader found; has the way it reads its configuration changed?"
	}
	// Functions declared in this file: a reader handed to one of them is
	// read in this file, which the scan covers. (A helper package is
	// scanned whole, so its calls of its own functions are covered too.)
	local := map[string]bool{}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
			local[fn.Name.Name] = true
		}
	}
	// Loop variables over a list of literal names, as in
	// `for _, v := range []string{"A", "B"} { r.Lookup(v) }`: each name is read.
	lists := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		rs, ok := n.(*ast.RangeStmt)
		if !ok {
			return true
		}
		v, ok := rs.Value.(*ast.Ident)
		lit, isLit := rs.X.(*ast.CompositeLit)
		if !ok || !isLit {
			return true
		}
		var names []string
		for _, e := range lit.Elts {
			b, ok := e.(*ast.BasicLit)
			if !ok || b.Kind != token.STRING {
				return true
			}
			name, err := strconv.Unquote(b.Value)
			if err != nil {
				return true
			}
			names = append(names, name)
		}
		lists[v.Name] = names
		return true
	})
	var helpers []string
	var problems []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		// A reader handed to another function: that function reads too.
		for _, a := range call.Args {
			if id, ok := a.(*ast.Ident); ok && readers[id.Name] {
				if fn, ok := call.Fun.(*ast.Ident); ok && (local[fn.Name] || wholePackage) {
					continue
				}
				name := selectorName(call.Fun)
				if _, known := readerHelpers[name]; !known {
					problems = append(problems, fset.Position(call.Pos()).String()+": the reader is passed to "+name+", which the scan does not read (add it to readerHelpers)")
				} else if !slices.Contains(helpers, name) {
					helpers = append(helpers, name)
				}
			}
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		recv, ok := sel.X.(*ast.Ident)
		if !ok || !readers[recv.Name] || !slices.Contains(readerMethods, sel.Sel.Name) {
			return true
		}
		if len(call.Args) == 0 {
			return true
		}
		if id, ok := call.Args[0].(*ast.Ident); ok && lists[id.Name] != nil {
			for _, name := range lists[id.Name] {
				found[name] = true
			}
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			problems = append(problems, fset.Position(call.Pos()).String()+": "+recv.Name+"."+sel.Sel.Name+" reads a variable whose name is not a string literal; the scan cannot see it")
			return true
		}
		name, err := strconv.Unquote(lit.Value)
		if err != nil {
			problems = append(problems, err.Error())
			return true
		}
		found[name] = true
		return true
	})
	if len(problems) > 0 {
		return nil, strings.Join(problems, "\n")
	}
	return helpers, ""
}

// selectorName is "pkg.Name" for a selector expression, "" otherwise.
func selectorName(e ast.Expr) string {
	if sel, ok := e.(*ast.SelectorExpr); ok {
		if x, ok := sel.X.(*ast.Ident); ok {
			return x.Name + "." + sel.Sel.Name
		}
	}
	return ""
}

// The scan itself: what it must find, and what it must not.
func TestBinaryVarsScan(t *testing.T) {
	for bin, want := range map[string][]string{
		// A few each, including the ones only redisconf reads.
		"api":   {"PORT", "RATE_LIMIT", "RATE_LIMIT_BURST", "MAX_REQUEST_BYTES", "CORS_ALLOW_ORIGINS", "REDIS_URL", "REDIS_PASSWORD", "REDIS_USERNAME", "REDIS_CLUSTER_ADDRS"},
		"bayes": {"PORT", "BATCH_SIZE", "GRAPHS_MIN_INTERVAL", "LIVE_POLL_INTERVAL", "PRIOR", "CONSUMER_NAME", "REDIS_URL", "REDIS_HOST", "REDIS_CLUSTER_ADDRS", "REDIS_DB"},
	} {
		got := binaryVars(t, bin)
		for _, v := range want {
			if !slices.Contains(got, v) {
				t.Errorf("%s: the scan of its config misses %s (found %v)", bin, v, got)
			}
		}
		for _, v := range got {
			if strings.ToUpper(v) != v || strings.ContainsAny(v, " -.") {
				t.Errorf("%s: the scan found %q, not a variable name", bin, v)
			}
		}
	}
	// bayes has no rate limit; the api has no consumer.
	if slices.Contains(binaryVars(t, "bayes"), "RATE_LIMIT") || slices.Contains(binaryVars(t, "api"), "BATCH_SIZE") {
		t.Errorf("the scan mixes the binaries up")
	}
}

// The other direction of checkEnv: every variable a binary reads can be
// set through the chart, but the documented few in notSetByChart. Rendered
// with every optional variable switched on (rateLimitBurst is omitted at 0,
// so the binary's default applies, and pprofAddr when empty), once on the
// chart's own Redis and once on an external Redis Cluster: REDIS_HOST and
// REDIS_CLUSTER_ADDRS exclude each other, so each is set by one of them.
func TestChartSetsEveryVariable(t *testing.T) {
	const optional = `api: {rateLimit: 100, rateLimitBurst: 200, pprofAddr: "127.0.0.1:6060"}`
	own := render(t, renderOpts{values: valuesFrom(t, optional)})
	cluster := render(t, renderOpts{values: mergeValues(valuesFrom(t, clusterValues), valuesFrom(t, optional))})
	for _, comp := range []string{"api", "bayes"} {
		var cs []*corev1.Container
		for _, r := range []*release{own, cluster} {
			cs = append(cs, container(t, r.component(t, comp).template.Spec, comp))
		}
		for _, v := range binaryVars(t, comp) {
			set := false
			for _, c := range cs {
				set = set || envVar(c, v) != nil
			}
			if _, excluded := notSetByChart[v]; excluded {
				if set {
					t.Errorf("%s: %s is set although notSetByChart says why it must not be: %s", comp, v, notSetByChart[v])
				}
				continue
			}
			if !set {
				t.Errorf("%s reads %s, which the chart cannot set: add a value (values.yaml, values.schema.json, the template) or list it in notSetByChart with the reason", comp, v)
			}
		}
	}
	for v := range notSetByChart {
		if !slices.Contains(binaryVars(t, "api"), v) && !slices.Contains(binaryVars(t, "bayes"), v) {
			t.Errorf("notSetByChart lists %s, which no binary reads any more", v)
		}
	}
}

// The new values reach their variables as given.
func TestValuesReachTheirVariables(t *testing.T) {
	r := render(t, renderOpts{values: valuesFrom(t, `
maxModels: 1000000
api: {maxRequestBytes: 8192, rateLimit: 50, rateLimitBurst: 75, shutdownDrain: 4s, pprofAddr: "[::1]:6061", auth: {legacyOpen: true}}
bayes: {graphsMinInterval: 2s, livePollInterval: 1s, batchSize: 250, liveMaxStreams: 1000000, plotWorkers: 3}
`)})
	api := container(t, r.component(t, "api").template.Spec, "api")
	bayes := container(t, r.component(t, "bayes").template.Spec, "bayes")
	for c, want := range map[*corev1.Container]map[string]string{
		api: {"MAX_REQUEST_BYTES": "8192", "RATE_LIMIT": "50", "RATE_LIMIT_BURST": "75", "SHUTDOWN_DRAIN": "4s", "PPROF_ADDR": "[::1]:6061",
			"MAX_MODELS": "1000000", "LEGACY_OPEN": "1"},
		bayes: {"GRAPHS_MIN_INTERVAL": "2s", "LIVE_POLL_INTERVAL": "1s", "BATCH_SIZE": "250",
			"MAX_MODELS": "1000000", "LIVE_MAX_STREAMS": "1000000", "PLOT_WORKERS": "3"},
	} {
		for name, v := range want {
			if got := envValue(c, name); got != v {
				t.Errorf("%s: %s=%q, want %q", c.Name, name, got, v)
			}
		}
	}
	// rateLimitBurst 0, the default, leaves RATE_LIMIT_BURST to the binary
	// (= RATE_LIMIT): "0" would be refused, its minimum is 1.
	d := container(t, render(t, renderOpts{}).component(t, "api").template.Spec, "api")
	if e := envVar(d, "RATE_LIMIT_BURST"); e != nil {
		t.Errorf("default api sets RATE_LIMIT_BURST=%q; want it unset", e.Value)
	}
	if e := envVar(d, "PPROF_ADDR"); e != nil {
		t.Errorf("default api sets PPROF_ADDR=%q; want it unset (no profiling listener)", e.Value)
	}
	if got := envValue(d, "RATE_LIMIT"); got != "0" {
		t.Errorf("default api RATE_LIMIT=%q, want 0 (off, the binary's default)", got)
	}
}

// extraEnv entries come after the chart's own, unchanged and in order, in
// each of the three containers.
func TestExtraEnvAppended(t *testing.T) {
	base := render(t, renderOpts{})
	r := render(t, renderOpts{values: valuesFrom(t, `
api:
  extraEnv:
    - name: GOMEMLIMIT
      valueFrom: {resourceFieldRef: {resource: limits.memory}}
    - name: EDB_NOTE
      value: "port $(PORT)"
bayes:
  extraEnv:
    - {name: TZ, value: Europe/Paris}
redis:
  extraEnv:
    - {name: TZ, value: UTC}
`)})
	for comp, want := range map[string][]string{"api": {"GOMEMLIMIT", "EDB_NOTE"}, "bayes": {"TZ"}, "redis": {"TZ"}} {
		own := container(t, base.component(t, comp).template.Spec, comp).Env
		got := container(t, r.component(t, comp).template.Spec, comp).Env
		if len(got) != len(own)+len(want) {
			t.Fatalf("%s: %d env entries, want the chart's %d + %d extra", comp, len(got), len(own), len(want))
		}
		for i := range own {
			if got[i].Name != own[i].Name || got[i].Value != own[i].Value {
				t.Errorf("%s: env[%d] is %s=%q, want the chart's %s=%q first", comp, i, got[i].Name, got[i].Value, own[i].Name, own[i].Value)
			}
		}
		for i, name := range want {
			if got[len(own)+i].Name != name {
				t.Errorf("%s: env[%d] is %s, want extraEnv's %s", comp, len(own)+i, got[len(own)+i].Name, name)
			}
		}
	}
	api := container(t, r.component(t, "api").template.Spec, "api")
	if e := envVar(api, "GOMEMLIMIT"); e == nil || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("GOMEMLIMIT not carried as given: %+v", e)
	}
}

// An extraEnv entry may not shadow a variable the chart sets, nor repeat
// another: the render fails naming the variable.
func TestExtraEnvRefusesDuplicates(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		{`api: {extraEnv: [{name: LOG_LEVEL, value: debug}]}`, "api.extraEnv: LOG_LEVEL is set by the chart"},
		{`api: {extraEnv: [{name: REDIS_PASSWORD, value: x}]}`, "api.extraEnv: REDIS_PASSWORD is set by the chart"},
		{`bayes: {extraEnv: [{name: CONSUMER_NAME, value: bayes-x}]}`, "bayes.extraEnv: CONSUMER_NAME is set by the chart"},
		{`bayes: {extraEnv: [{name: GRAPHS_MIN_INTERVAL, value: 1s}]}`, "bayes.extraEnv: GRAPHS_MIN_INTERVAL is set by the chart"},
		{`redis: {extraEnv: [{name: REDISCLI_AUTH, value: x}]}`, "redis.extraEnv: REDISCLI_AUTH is set by the chart"},
		{"tracing: {enabled: true}\napi: {extraEnv: [{name: OTEL_SERVICE_NAME, value: x}]}", "api.extraEnv: OTEL_SERVICE_NAME is set by the chart"},
		{`api: {extraEnv: [{name: TZ, value: UTC}, {name: TZ, value: CET}]}`, "api.extraEnv: TZ is listed twice"},
	} {
		_, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, tc.values)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to say %q", tc.values, err, tc.want)
		}
	}
	// Without tracing the chart sets no OTEL_* variable, so extraEnv may
	// (the standard way to set, say, OTEL_TRACES_EXPORTER).
	if _, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, `api: {extraEnv: [{name: OTEL_SDK_DISABLED, value: "true"}]}`)}); err != nil {
		t.Errorf("an OTEL_* variable the chart does not set was refused: %v", err)
	}
}
