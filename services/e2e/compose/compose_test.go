package compose_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// binary is what one Go service's binary reads and serves, pinned here by
// hand from services/<svc>/service/config.go and its HTTP port. The tests
// check the compose file against it, and check that each pinned name still
// appears in the service's source, so a renamed variable or route fails
// here instead of being silently ignored by a container.
type binary struct {
	dir         string // the module, relative to the repository root
	dockerfile  string
	defaultPort int
	env         []string // every variable the binary reads
	endpoints   []string // the GET routes it serves
	health      []string // the routes fit for a health check
}

// sharedVars are read by both binaries, most through platform/redisconf
// and platform/telemetry. Of the OTEL_* variables the SDK reads, only those the
// compose file may set are listed.
var sharedVars = []string{"REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_USERNAME", "REDIS_PASSWORD",
	"REDIS_CLUSTER_ADDRS", "STREAM_SHARDS",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"}

// platformDirs hold the shared configuration code both binaries use.
var platformDirs = []string{"services/platform/redisconf", "services/platform/telemetry"}

var binaries = map[string]binary{
	"api-publisher": {
		dir:         "services/api",
		dockerfile:  "Dockerfile.api",
		defaultPort: 8000,
		env: append([]string{"PORT", "REDIS_STREAM", "PUBLISH_TIMEOUT", "LOG_LEVEL", "SHUTDOWN_TIMEOUT",
			"MAX_REQUEST_BYTES", "RATE_LIMIT", "RATE_LIMIT_BURST", "CORS_ALLOW_ORIGINS", "REDIS_WAIT_REPLICAS"}, sharedVars...),
		endpoints: []string{"/healthz", "/readyz", "/metrics", "/update_model/", "/models/"},
		health:    []string{"/healthz", "/readyz"},
	},
	"bayes-subscriber": {
		dir:         "services/bayes",
		dockerfile:  "Dockerfile.bayes",
		defaultPort: 8001,
		env: append([]string{"PORT", "REDIS_STREAM", "REDIS_CHANNEL", "CONSUMER_NAME", "BATCH_SIZE",
			"CLAIM_MIN_IDLE", "CLAIM_INTERVAL", "TRIM_INTERVAL", "STALE_CONSUMER_AFTER", "GRAPHS_DIR",
			"GRAPHS_KEEP", "GRAPHS_MIN_INTERVAL", "GRID_POINTS", "PRIOR", "LOG_LEVEL", "SHUTDOWN_TIMEOUT",
			"MODEL_METRICS_LIMIT", "API_PUBLIC_URL", "LIVE_POLL_INTERVAL"}, sharedVars...),
		endpoints: []string{"/healthz", "/readyz", "/metrics", "/model", "/models/"},
		health:    []string{"/healthz", "/readyz"},
	},
}

// Defaults the compose file must keep, because users and the README rely on
// them.
const (
	redisService       = "redis"
	redisContainerName = "event-driven-bayes-redis"
	apiHostPort        = "8000"
	graphsEnv          = "GRAPHS_DIR"
	graphsInit         = "graphs-init"
)

// repoRoot is the repository root, three levels above this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "docker-compose.yml")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// loadProject loads docker-compose.yml as a fresh clone sees it: no .env
// file and no variables from the environment, with every profile enabled.
func loadProject(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	var pairs []string
	for k, v := range env {
		pairs = append(pairs, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(pairs),
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("loading docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q (the original's names must keep working)", name)
	}
	return s
}

func envValue(s types.ServiceConfig, key string) (string, bool) {
	v, ok := s.Environment[key]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

// TestComposeFileLoadsWithoutDotEnv is the fresh clone: no .env, nothing
// exported, and the file must still load with every service complete.
func TestComposeFileLoadsWithoutDotEnv(t *testing.T) {
	p := loadProject(t, nil)
	for _, name := range []string{redisService, "bayes-subscriber", "api-publisher", "prometheus", "grafana", "jaeger", "tests", "jupyter"} {
		service(t, p, name)
	}
	for name, s := range p.Services {
		if s.Image == "" {
			t.Errorf("service %s: no image name", name)
		}
	}
}

// TestComposeFileEnvironmentIsReadByBinaries: a variable a binary does not
// read is a setting that does nothing, usually a typo or a rename.
func TestComposeFileEnvironmentIsReadByBinaries(t *testing.T) {
	p := loadProject(t, nil)
	root := repoRoot(t)
	for name, b := range binaries {
		s := service(t, p, name)
		if len(s.Environment) == 0 {
			t.Errorf("%s: no environment; it needs at least PORT and the Redis address", name)
		}
		for key := range s.Environment {
			if !slices.Contains(b.env, key) {
				t.Errorf("%s sets %s, which %s does not read (it reads %v)", name, key, b.dir, b.env)
			}
		}
		for _, e := range s.EnvFiles {
			t.Errorf("%s: env_file %s: its variables cannot be checked; set them in environment:", name, e.Path)
		}
		// The pinned list must still match the code.
		dirs := []string{filepath.Join(root, b.dir)}
		for _, d := range platformDirs {
			dirs = append(dirs, filepath.Join(root, d))
		}
		src := goSources(t, dirs...)
		for _, key := range b.env {
			if !strings.Contains(src, strconv.Quote(key)) {
				t.Errorf("%s: %q no longer appears in %s; update the pinned list in this test", name, key, b.dir)
			}
		}
		for _, path := range b.endpoints {
			if !strings.Contains(src, path) {
				t.Errorf("%s: route %s no longer appears in %s; update the pinned list in this test", name, path, b.dir)
			}
		}
	}
}

// TestComposeFilePortsAndHealthChecks: the published port is the one the
// binary listens on, the health check probes a route it serves, and the
// services start only once Redis answers.
func TestComposeFilePortsAndHealthChecks(t *testing.T) {
	p := loadProject(t, nil)
	root := repoRoot(t)
	for name, b := range binaries {
		s := service(t, p, name)
		port := b.defaultPort
		if v, ok := envValue(s, "PORT"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: PORT=%q is not a number", name, v)
			}
			port = n
		}
		if len(s.Ports) != 1 || int(s.Ports[0].Target) != port {
			t.Errorf("%s: ports %+v, want one mapping to container port %d (its PORT)", name, s.Ports, port)
		}
		df := readFile(t, filepath.Join(root, b.dockerfile))
		if !regexp.MustCompile(`(?m)^EXPOSE\s+` + strconv.Itoa(port) + `\s*$`).MatchString(df) {
			t.Errorf("%s: %s does not EXPOSE %d", name, b.dockerfile, port)
		}
		if !regexp.MustCompile(`(?m)^ENV\s+PORT=` + strconv.Itoa(port) + `\b`).MatchString(df) {
			t.Errorf("%s: %s does not set ENV PORT=%d, which /healthcheck probes", name, b.dockerfile, port)
		}

		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) != 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/healthcheck" {
			t.Errorf("%s: health check %+v, want [CMD /healthcheck <route>]", name, hc)
		} else if !slices.Contains(b.health, hc.Test[2]) {
			t.Errorf("%s: health check probes %s; %s serves %v", name, hc.Test[2], b.dir, b.health)
		}
		dep, ok := s.DependsOn[redisService]
		if !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on redis %+v, want condition service_healthy", name, dep)
		}
		if host, _ := envValue(s, "REDIS_HOST"); host != redisService {
			t.Errorf("%s: REDIS_HOST=%q, want the compose service %q", name, host, redisService)
		}
	}
	if got := service(t, p, "api-publisher").Ports[0].Published; got != apiHostPort {
		t.Errorf("api-publisher is published on host port %s, want %s by default", got, apiHostPort)
	}
	// Every long-running service has a health check; the one-shot jobs
	// (restart "no", or a test runner) have nothing to be healthy about.
	for name, s := range p.Services {
		oneShot := s.Restart == types.RestartPolicyNo || slices.Contains(s.Profiles, "test")
		if !oneShot && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
			t.Errorf("service %s has no health check", name)
		}
	}
}

// TestComposeFileRedis: the names and settings the README and the
// services' durability depend on.
func TestComposeFileRedis(t *testing.T) {
	p := loadProject(t, nil)
	r := service(t, p, redisService)
	if r.ContainerName != redisContainerName {
		t.Errorf("redis container_name %q, want %q (docker exec -it %s redis-cli)", r.ContainerName, redisContainerName, redisContainerName)
	}
	cmd := strings.Join(r.Command, " ")
	if !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("redis command %q: AOF is off; the knowledge would not survive a restart", cmd)
	}
	// ACL users: each --user value is a line of the generated rules plus
	// the user's password; the default user is off.
	golden, err := os.ReadFile(filepath.Join("..", "..", "platform", "redisacl", "testdata", "users.acl"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(string(golden), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	got, passwords := userLines(r.Command)
	if !slices.Equal(got, want) {
		t.Errorf("redis --user rules differ from services/platform/redisacl/testdata/users.acl:\n got %q\nwant %q", got, want)
	}
	if _, ok := passwords["default"]; ok {
		t.Error("the default user has a password; it must be off")
	}
	for _, u := range []string{"edb-api", "edb-bayes", "edb-admin"} {
		if passwords[u] == "" {
			t.Errorf("ACL user %s has no password", u)
		}
	}
	if v, _ := envValue(r, "REDISCLI_AUTH"); v != passwords["edb-admin"] {
		t.Errorf("redis REDISCLI_AUTH is not edb-admin's password: the health check would fail")
	}
	if hc := strings.Join(r.HealthCheck.Test, " "); !strings.Contains(hc, "--user edb-admin") {
		t.Errorf("redis health check %q does not log in as edb-admin", hc)
	}
	for name, user := range map[string]string{"api-publisher": "edb-api", "bayes-subscriber": "edb-bayes"} {
		s := service(t, p, name)
		if v, _ := envValue(s, "REDIS_USERNAME"); v != user {
			t.Errorf("%s REDIS_USERNAME = %q, want %s", name, v, user)
		}
		if v, _ := envValue(s, "REDIS_PASSWORD"); v != passwords[user] {
			t.Errorf("%s REDIS_PASSWORD is not %s's password", name, user)
		}
	}
	var data bool
	for _, v := range r.Volumes {
		if v.Target == "/data" && v.Type == types.VolumeTypeVolume {
			if _, ok := p.Volumes[v.Source]; ok {
				data = true
			}
		}
	}
	if !data {
		t.Errorf("redis /data is not a named volume: %+v", r.Volumes)
	}
	if len(r.Ports) != 0 {
		t.Errorf("redis publishes %+v on the host; Debian's own redis-server often holds 6379", r.Ports)
	}
}

// TestComposeFileGraphs: bayes writes its plots to GRAPHS_DIR, which must be
// the host's folder, made writable by graphs-init before bayes starts.
func TestComposeFileGraphs(t *testing.T) {
	p := loadProject(t, nil)
	root := repoRoot(t)
	bayes := service(t, p, "bayes-subscriber")
	dir, ok := envValue(bayes, graphsEnv)
	if !ok || !filepath.IsAbs(dir) {
		t.Fatalf("bayes-subscriber %s=%q, want an absolute path with a mounted folder", graphsEnv, dir)
	}
	source := bindSource(t, bayes, dir)
	if want := filepath.Join(root, "graphs"); source != want {
		t.Errorf("bayes-subscriber mounts %s at %s, want %s (plots appear in ./graphs)", source, dir, want)
	}
	if _, err := os.Stat(filepath.Join(root, "graphs", ".gitkeep")); err != nil {
		t.Errorf("./graphs must exist on a fresh clone: %v", err)
	}

	init := service(t, p, graphsInit)
	if dep, ok := bayes.DependsOn[graphsInit]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("bayes-subscriber depends_on %s %+v, want service_completed_successfully", graphsInit, dep)
	}
	if len(init.Entrypoint) == 0 {
		t.Fatalf("%s has no entrypoint", graphsInit)
	}
	target := init.Entrypoint[len(init.Entrypoint)-1]
	if got := bindSource(t, init, target); got != source {
		t.Errorf("%s changes %s, mounted from %s; bayes writes into %s", graphsInit, target, got, source)
	}
	if init.User != "0:0" || init.Restart != types.RestartPolicyNo {
		t.Errorf("%s: user %q restart %q, want a one-shot job as root", graphsInit, init.User, init.Restart)
	}

	// Overridable, so the e2e test can use a temporary folder.
	tmp := t.TempDir()
	p = loadProject(t, map[string]string{"GRAPHS_HOST_DIR": tmp})
	if got := bindSource(t, service(t, p, "bayes-subscriber"), dir); got != tmp {
		t.Errorf("GRAPHS_HOST_DIR=%s mounts %s", tmp, got)
	}
}

func bindSource(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target && v.Type == types.VolumeTypeBind && !v.ReadOnly {
			return v.Source
		}
	}
	t.Fatalf("service %s has no writable bind mount at %s: %+v", s.Name, target, s.Volumes)
	return ""
}

// TestComposeFileBuilds: the images build from the repository root with
// base images as arguments, and each Dockerfile copies every local module
// its go.mod replaces (a missing one fails only inside the build).
func TestComposeFileBuilds(t *testing.T) {
	p := loadProject(t, nil)
	root := repoRoot(t)
	ignore := readFile(t, filepath.Join(root, ".dockerignore"))
	for name, b := range binaries {
		s := service(t, p, name)
		if s.Build == nil {
			t.Fatalf("%s has no build section", name)
		}
		if s.Build.Context != root || s.Build.Dockerfile != b.dockerfile {
			t.Errorf("%s: build context %s dockerfile %s, want %s and %s", name, s.Build.Context, s.Build.Dockerfile, root, b.dockerfile)
		}
		if s.Build.Network != "host" {
			t.Errorf("%s: build network %q, want host (go mod download reaches the module proxy from there)", name, s.Build.Network)
		}
		df := readFile(t, filepath.Join(root, b.dockerfile))
		for arg, def := range map[string]string{"GO_IMAGE": "golang:", "RUNTIME_IMAGE": "gcr.io/distroless/static-debian12:nonroot"} {
			if _, ok := s.Build.Args[arg]; !ok {
				t.Errorf("%s: build arg %s is not passed", name, arg)
			}
			if !regexp.MustCompile(`(?m)^ARG\s+` + arg + `=` + regexp.QuoteMeta(def)).MatchString(df) {
				t.Errorf("%s: %s has no ARG %s with the public default %s…", name, b.dockerfile, arg, def)
			}
		}
		for _, want := range []string{"FROM ${RUNTIME_IMAGE}", "USER 65532:65532", "ENTRYPOINT [", "CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "go mod download"} {
			if !strings.Contains(df, want) {
				t.Errorf("%s: %s lacks %q", name, b.dockerfile, want)
			}
		}
		dirs := []string{b.dir}
		for _, r := range replacedDirs(t, filepath.Join(root, b.dir, "go.mod")) {
			dirs = append(dirs, filepath.ToSlash(filepath.Join(b.dir, r)))
		}
		for _, d := range dirs {
			if !strings.Contains(df, "COPY "+d+"/ ") || !strings.Contains(df, "COPY "+d+"/go.mod") {
				t.Errorf("%s: %s must COPY %s/go.mod (before go mod download) and %s/", name, b.dockerfile, d, d)
			}
			if !strings.Contains(ignore, "!"+d+"\n") {
				t.Errorf(".dockerignore keeps %s out of the build context", d)
			}
		}
	}
}

// replacedDirs are the local directories a go.mod's replace directives
// point at, relative to the module.
func replacedDirs(t *testing.T, gomod string) []string {
	t.Helper()
	var dirs []string
	sc := bufio.NewScanner(strings.NewReader(readFile(t, gomod)))
	for sc.Scan() {
		_, target, ok := strings.Cut(sc.Text(), "=>")
		if !ok {
			continue
		}
		if f := strings.Fields(target); len(f) == 1 && strings.HasPrefix(f[0], ".") {
			dirs = append(dirs, f[0])
		}
	}
	return dirs
}

// serviceImages are the repositories of the two images compose builds for
// the services: the Helm chart's api.image.repository and
// bayes.image.repository and skaffold's artifacts, so the image compose
// builds is the one the chart deploys.
var serviceImages = map[string]string{
	"api-publisher":    "event-driven-bayes-api",
	"bayes-subscriber": "event-driven-bayes-bayes",
}

// TestComposeFileImageNames: every image compose builds is named
// event-driven-bayes-<part>:${IMAGE_TAG}, one path component with no
// registry, as kind load and skaffold name them, and api's and bayes' are
// the chart's and skaffold's repositories.
func TestComposeFileImageNames(t *testing.T) {
	const tag = "e2e-tag"
	p := loadProject(t, map[string]string{"IMAGE_TAG": tag})
	root := repoRoot(t)
	built := regexp.MustCompile(`^event-driven-bayes-[a-z]+$`)
	for name, s := range p.Services {
		if s.Build == nil {
			continue
		}
		if repo, got, _ := strings.Cut(s.Image, ":"); !built.MatchString(repo) || got != tag {
			t.Errorf("%s builds image %s with IMAGE_TAG=%s, want event-driven-bayes-<name>:%s", name, s.Image, tag, tag)
		}
	}
	values := readFile(t, filepath.Join(root, "charts/event-driven-bayes/values.yaml"))
	skaffold := readFile(t, filepath.Join(root, "skaffold.yaml"))
	for name, repo := range serviceImages {
		if got, _, _ := strings.Cut(service(t, p, name).Image, ":"); got != repo {
			t.Errorf("%s: image repository %s, want %s (the chart's and skaffold's)", name, got, repo)
		}
		q := regexp.QuoteMeta(repo)
		if !regexp.MustCompile(`(?m)^\s+repository:\s*` + q + `\s*$`).MatchString(values) {
			t.Errorf("charts/event-driven-bayes/values.yaml has no image repository %s, which compose builds for %s", repo, name)
		}
		if !regexp.MustCompile(`(?m)^\s*-\s*image:\s*` + q + `\s*$`).MatchString(skaffold) {
			t.Errorf("skaffold.yaml builds no artifact %s, which compose builds for %s", repo, name)
		}
	}
}

// TestComposeFileMountsExist: the files compose mounts into Prometheus and
// Grafana are in the repository, so `docker compose up` on a fresh clone
// does not create empty directories in their place.
func TestComposeFileMountsExist(t *testing.T) {
	p := loadProject(t, nil)
	root := repoRoot(t)
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind || !strings.HasPrefix(v.Source, root) || !v.ReadOnly {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s, which is not in the repository: %v", name, v.Source, err)
			}
		}
	}
	prom := readFile(t, filepath.Join(root, "charts/event-driven-bayes/files/compose/prometheus.yml"))
	for name, b := range binaries {
		target := name + ":" + strconv.Itoa(b.defaultPort)
		if !strings.Contains(prom, target) || !slices.Contains(b.endpoints, "/metrics") {
			t.Errorf("prometheus.yml scrapes %s/metrics: it must be listed there and served", target)
		}
	}
}

// interpolated matches ${VAR:-default} in the compose file.
var interpolated = regexp.MustCompile(`\$\{([A-Z0-9_]+):-([^}]*)\}`)

// TestEnvExampleMatchesComposeFile: .env.example lists every variable the
// compose file takes, with the compose file's own default, so copying it to
// .env changes nothing until a value is edited.
func TestEnvExampleMatchesComposeFile(t *testing.T) {
	root := repoRoot(t)
	defaults := map[string]string{}
	var code strings.Builder
	for line := range strings.Lines(readFile(t, filepath.Join(root, "docker-compose.yml"))) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			code.WriteString(line)
		}
	}
	for _, m := range interpolated.FindAllStringSubmatch(code.String(), -1) {
		if d, seen := defaults[m[1]]; seen && d != m[2] {
			t.Errorf("docker-compose.yml gives %s two defaults: %q and %q", m[1], d, m[2])
		}
		defaults[m[1]] = m[2]
	}
	example := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(readFile(t, filepath.Join(root, ".env.example"))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf(".env.example: %q is not KEY=VALUE", line)
			continue
		}
		example[k] = v
	}
	for k, v := range example {
		d, ok := defaults[k]
		switch {
		case !ok:
			t.Errorf(".env.example sets %s, which docker-compose.yml does not use", k)
		case d != v:
			t.Errorf(".env.example %s=%s, but the compose default is %q", k, v, d)
		}
	}
	for k := range defaults {
		if _, ok := example[k]; !ok {
			t.Errorf("docker-compose.yml takes %s, which .env.example does not list", k)
		}
	}
	// And the project loads with it as its .env.
	loadProject(t, example)
}

// goSources is the text of the non-test Go files under dirs.
func goSources(t *testing.T, dirs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b.WriteString(readFile(t, path))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The Jupyter service: what users type (docker compose --profile jupyter up
// jupyter, http://localhost:8888) and what the notebook reads.
const (
	jupyterService    = "jupyter"
	jupyterDockerfile = "Dockerfile.jupyter"
	jupyterPort       = 8888
	notebookFile      = "notebooks/globe-tossing.ipynb"
)

// TestComposeFileJupyter: the jupyter service serves ./notebooks from an
// image of Debian's packages, as a user other than root, reaches the real
// bayes and api by their compose names and ports, and sets only variables
// the notebook or the Notebook server reads.
func TestComposeFileJupyter(t *testing.T) {
	p := loadProject(t, nil)
	root := repoRoot(t)
	s := service(t, p, jupyterService)
	if !slices.Equal(s.Profiles, []string{jupyterService}) {
		t.Errorf("jupyter: profiles %v, want [jupyter] (docker compose up alone must not start it)", s.Profiles)
	}

	if s.Build == nil || s.Build.Context != root || s.Build.Dockerfile != jupyterDockerfile {
		t.Fatalf("jupyter: build %+v, want context %s and dockerfile %s", s.Build, root, jupyterDockerfile)
	}
	if _, ok := s.Build.Args["BASE_IMAGE"]; !ok {
		t.Error("jupyter: build arg BASE_IMAGE is not passed")
	}
	df := readFile(t, filepath.Join(root, jupyterDockerfile))
	if !regexp.MustCompile(`(?m)^ARG\s+BASE_IMAGE=debian:bookworm`).MatchString(df) {
		t.Errorf("%s has no ARG BASE_IMAGE with the public default debian:bookworm…", jupyterDockerfile)
	}
	for _, pkg := range []string{"jupyter-notebook", "python3-ipykernel", "python3-numpy", "python3-scipy", "python3-matplotlib"} {
		if !regexp.MustCompile(`apt-get install[^\n]*(\\\n[^\n]*)*\b` + regexp.QuoteMeta(pkg) + `\b`).MatchString(df) {
			t.Errorf("%s does not apt-get install %s", jupyterDockerfile, pkg)
		}
	}
	if strings.Contains(df, "pip install") {
		t.Errorf("%s uses pip: the stack must be Debian's packages, as in CI", jupyterDockerfile)
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(user) == 0 || slices.Contains([]string{"0", "root", "0:0", "root:root"}, user[len(user)-1][1]) {
		t.Errorf("%s runs the server as root: %v", jupyterDockerfile, user)
	}
	if !regexp.MustCompile(`(?m)^EXPOSE\s+` + strconv.Itoa(jupyterPort) + `\s*$`).MatchString(df) {
		t.Errorf("%s does not EXPOSE %d", jupyterDockerfile, jupyterPort)
	}
	cmd := regexp.MustCompile(`(?m)^CMD\s+(\[.*\])\s*$`).FindStringSubmatch(df)
	if cmd == nil {
		t.Fatalf("%s has no CMD in exec form", jupyterDockerfile)
	}
	var argv []string
	if err := json.Unmarshal([]byte(cmd[1]), &argv); err != nil {
		t.Fatalf("%s CMD %s: %v", jupyterDockerfile, cmd[1], err)
	}
	var notebookDir string
	for _, a := range argv {
		if d, ok := strings.CutPrefix(a, "--notebook-dir="); ok {
			notebookDir = d
		}
	}
	if !slices.Contains(argv, "--port="+strconv.Itoa(jupyterPort)) || !slices.Contains(argv, "--ip=0.0.0.0") || notebookDir == "" {
		t.Fatalf("%s CMD %v: want --ip=0.0.0.0 --port=%d --notebook-dir=…", jupyterDockerfile, argv, jupyterPort)
	}

	// The notebooks folder is mounted where the server looks, writable so
	// edits are saved, and holds the notebook CI executes.
	if got, want := bindSource(t, s, notebookDir), filepath.Join(root, "notebooks"); got != want {
		t.Errorf("jupyter mounts %s at %s, want %s", got, notebookDir, want)
	}
	if _, err := os.Stat(filepath.Join(root, notebookFile)); err != nil {
		t.Errorf("the notebook is missing: %v", err)
	}

	if len(s.Ports) != 1 || int(s.Ports[0].Target) != jupyterPort || s.Ports[0].Published != strconv.Itoa(jupyterPort) {
		t.Errorf("jupyter: ports %+v, want %d:%d by default", s.Ports, jupyterPort, jupyterPort)
	}
	if hc := strings.Join(s.HealthCheck.Test, " "); !strings.Contains(hc, "127.0.0.1:"+strconv.Itoa(jupyterPort)+"/") {
		t.Errorf("jupyter: health check %q does not probe the server's port", hc)
	}

	// The services the notebook talks to, by compose name and container port.
	nb := readFile(t, filepath.Join(root, notebookFile))
	for key, target := range map[string]string{"BAYES_URL": "bayes-subscriber", "API_URL": "api-publisher"} {
		want := "http://" + target + ":" + strconv.Itoa(binaries[target].defaultPort)
		if v, _ := envValue(s, key); v != want {
			t.Errorf("jupyter: %s=%q, want %s", key, v, want)
		}
		if dep, ok := s.DependsOn[target]; !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("jupyter: depends_on %s %+v, want condition service_healthy", target, dep)
		}
	}
	// Every variable is one the notebook (or, for the token, the Notebook
	// server itself) reads.
	for key := range s.Environment {
		if key != "JUPYTER_TOKEN" && !strings.Contains(nb, `os.environ.get(\"`+key+`\"`) {
			t.Errorf("jupyter sets %s, which %s does not read", key, notebookFile)
		}
	}
	if v, _ := envValue(s, "JUPYTER_TOKEN"); v == "" {
		t.Error("jupyter: JUPYTER_TOKEN is empty; the server would be open to anyone who reaches the port")
	}
}
