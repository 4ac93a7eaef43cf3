package compose_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/e2e/compose/standin"
)

// The stack test's budget: a cold build downloads modules and compiles
// gonum/plot (a few minutes on 2 cores); the run itself takes about one.
const (
	stackTimeout = 20 * time.Minute
	waitHealthy  = 180 * time.Second
	waitCounted  = 90 * time.Second
)

// The services the stack test runs. Prometheus, Grafana and Jaeger are left
// out: their images cannot be pulled without a registry, and the pipeline
// does not depend on them.
var coreServices = []string{"redis", "bayes-subscriber", "api-publisher"}

// TestComposeStack brings up redis, bayes-subscriber and api-publisher
// from docker-compose.yml with freshly built images, records 500
// observations through the api's published port, and checks that bayes
// counts each exactly once, draws the plot into the host's folder, and
// loses nothing when Redis restarts or bayes is killed.
func TestComposeStack(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the compose stack is not run")
	}
	unavailable := giveUp(t, "the compose stack was not run")
	ctx, cancel := context.WithTimeout(context.Background(), stackTimeout)
	defer cancel()

	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		unavailable("`docker info` failed, no Docker engine to talk to: %v: %s", err, bytes.TrimSpace(out))
	}
	composeCmd, err := findCompose(ctx)
	if err != nil {
		unavailable("%v", err)
	}

	root := repoRoot(t)
	imgs, err := standin.Ensure(ctx, slog.New(slog.NewTextHandler(t.Output(), nil)), standin.FromEnv(os.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("edb-e2e-%d-%d", os.Getpid(), time.Now().Unix()%100000)
	graphs := filepath.Join(t.TempDir(), "graphs")
	if err := os.Mkdir(graphs, 0o755); err != nil {
		t.Fatal(err)
	}
	apiPort, bayesPort := freePort(t), freePort(t)
	s := &stack{
		t: t, root: root, project: project, cmd: composeCmd,
		env: append(append(os.Environ(), imgs.Env()...),
			"IMAGE_TAG="+project, "GRAPHS_HOST_DIR="+graphs, "REDIS_CONTAINER_NAME="+project+"-redis",
			"API_PORT="+strconv.Itoa(apiPort), "BAYES_PORT="+strconv.Itoa(bayesPort),
		),
		api:   "http://127.0.0.1:" + strconv.Itoa(apiPort),
		bayes: "http://127.0.0.1:" + strconv.Itoa(bayesPort),
	}
	t.Cleanup(s.down)

	start := time.Now()
	s.compose(ctx, "build", "bayes-subscriber", "api-publisher")
	t.Logf("FIGURE docker compose build (api and bayes): %s", time.Since(start).Round(time.Second))
	for _, img := range s.images() {
		t.Logf("FIGURE image %s: %s", img, imageSize(ctx, t, img))
	}

	start = time.Now()
	s.up(ctx)
	t.Logf("FIGURE docker compose up until all three healthy: %s", time.Since(start).Round(100*time.Millisecond))
	s.ready(ctx)

	// 500 observations, then every one counted exactly once.
	want := counts{}
	s.observe(ctx, 500, &want)
	s.waitCounted(ctx, want)
	s.waitPlot(ctx, graphs, want)

	// Redis restarts: its AOF keeps the knowledge and the stream.
	s.compose(ctx, "restart", "redis")
	s.up(ctx)
	s.ready(ctx)
	s.waitCounted(ctx, want)
	s.observe(ctx, 100, &want)
	s.waitCounted(ctx, want)

	// bayes is killed; what arrives meanwhile waits in the stream.
	s.compose(ctx, "kill", "-s", "SIGKILL", "bayes-subscriber")
	s.observe(ctx, 100, &want)
	s.up(ctx)
	s.ready(ctx)
	s.waitCounted(ctx, want)
	s.waitPlot(ctx, graphs, want)

	s.down()
	for _, kind := range []string{"container", "network", "volume"} {
		args := []string{kind, "ls", "-q", "--filter", "label=com.docker.compose.project=" + project}
		if kind == "container" {
			args = []string{"ps", "-aq", "--filter", "label=com.docker.compose.project=" + project}
		}
		out, err := exec.CommandContext(ctx, "docker", args...).Output()
		if err != nil {
			t.Fatalf("docker %v: %v", args, err)
		}
		if left := strings.TrimSpace(string(out)); left != "" {
			t.Errorf("after down -v, %ss of %s are left: %s", kind, project, left)
		}
	}
}

// images are the two images this project builds, tagged with its name so
// that runs beside each other do not swap images under one another.
func (s *stack) images() []string {
	return []string{"event-driven-bayes-api:" + s.project, "event-driven-bayes-bayes:" + s.project}
}

// stack is one compose project of the test.
type stack struct {
	t          *testing.T
	root       string
	project    string
	cmd        []string // the compose CLI: [docker compose] or [/path/docker-compose]
	env        []string
	api, bayes string
	downed     bool
}

// compose runs one compose command of this project and fails the test on
// an error, with its output.
func (s *stack) compose(ctx context.Context, args ...string) string {
	s.t.Helper()
	out, err := s.run(ctx, args...)
	if err != nil {
		s.t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *stack) run(ctx context.Context, args ...string) (string, error) {
	// .env.example as the env file: the documented defaults, and no
	// developer's .env in the way.
	full := append([]string{
		"-f", filepath.Join(s.root, "docker-compose.yml"),
		"--project-directory", s.root,
		"--env-file", filepath.Join(s.root, ".env.example"),
		"-p", s.project,
		"--progress", "plain",
	}, args...)
	cmd := exec.CommandContext(ctx, s.cmd[0], append(s.cmd[1:], full...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// up starts the core services (again) and waits until compose sees them
// healthy.
func (s *stack) up(ctx context.Context) {
	s.t.Helper()
	args := append([]string{"up", "-d", "--wait", "--wait-timeout", strconv.Itoa(int(waitHealthy.Seconds()))}, coreServices...)
	s.compose(ctx, args...)
}

// ready waits until both services answer /readyz from the host, through the
// published ports.
func (s *stack) ready(ctx context.Context) {
	s.t.Helper()
	for _, base := range []string{s.api, s.bayes} {
		deadline := time.Now().Add(waitHealthy)
		for {
			code, body, err := get(ctx, base+"/readyz")
			if err == nil && code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("%s/readyz not ready after %s: %d %s %v", base, waitHealthy, code, body, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

type counts struct{ N, W int64 }

// observe records n observations through the api, about two thirds water,
// each answered 201.
func (s *stack) observe(ctx context.Context, n int, c *counts) {
	s.t.Helper()
	for i := range n {
		trial := "l"
		if (c.N+int64(i))%3 != 0 {
			trial = "w"
		}
		code, body, err := get(ctx, s.api+"/update_model/"+trial)
		if err != nil || code != http.StatusCreated {
			s.t.Fatalf("observation %d (%s): %d %s %v", c.N+int64(i)+1, trial, code, body, err)
		}
		if trial == "w" {
			c.W++
		}
	}
	c.N += int64(n)
}

// waitCounted waits until bayes' /model shows exactly want, then checks that
// it stays there (a redelivered event counted twice would push it past).
func (s *stack) waitCounted(ctx context.Context, want counts) {
	s.t.Helper()
	deadline := time.Now().Add(waitCounted)
	var got counts
	for {
		code, body, err := get(ctx, s.bayes+"/model")
		if err == nil && code == http.StatusOK {
			if err := json.Unmarshal(body, &got); err != nil {
				s.t.Fatalf("/model: %v: %s", err, body)
			}
			if got.N > want.N {
				s.t.Fatalf("/model shows n=%d w=%d, more than the %d observations made: counted twice", got.N, got.W, want.N)
			}
			if got == want {
				break
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("/model shows n=%d w=%d after %s, want n=%d w=%d (last answer %d %s %v)",
				got.N, got.W, waitCounted, want.N, want.W, code, body, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Stays there: once the stream is fully acknowledged (bayes' metrics read
	// lag and pending from Redis), nothing can arrive late and count twice.
	for {
		code, body, err := get(ctx, s.bayes+"/metrics")
		if err == nil && code == http.StatusOK && metricIsZero(body, "edb_bayes_consumer_group_lag") &&
			metricIsZero(body, "edb_bayes_consumer_group_pending") {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("stream not fully acknowledged after %s (%d %v)", waitCounted, code, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	code, body, err := get(ctx, s.bayes+"/model")
	if err != nil || code != http.StatusOK || json.Unmarshal(body, &got) != nil || got != want {
		s.t.Fatalf("/model moved from n=%d w=%d to %d %s %v", want.N, want.W, code, body, err)
	}
	s.t.Logf("/model: n=%d w=%d, every observation counted once", got.N, got.W)
}

// waitPlot waits for the numbered plot of want in the host's folder: a PNG
// the host user can read.
func (s *stack) waitPlot(ctx context.Context, dir string, want counts) {
	s.t.Helper()
	name := filepath.Join(dir, fmt.Sprintf("n_%d_w_%d.png", want.N, want.W))
	deadline := time.Now().Add(waitCounted)
	for {
		b, err := os.ReadFile(name)
		if err == nil && bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			st, err := os.Stat(name)
			if err != nil {
				s.t.Fatal(err)
			}
			if st.Mode().Perm()&0o044 != 0o044 {
				s.t.Errorf("%s has mode %v: not readable by the host's other users", name, st.Mode())
			}
			s.t.Logf("plot %s: %d bytes", filepath.Base(name), len(b))
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			s.t.Fatalf("no PNG %s after %s (%v); the folder holds %v", name, waitCounted, err, names)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// down removes the project's containers, network and volumes; on a failed
// test it first prints what the services logged.
func (s *stack) down() {
	if s.downed {
		return
	}
	s.downed = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if s.t.Failed() {
		out, _ := s.run(ctx, "ps", "-a")
		s.t.Logf("compose ps -a:\n%s", out)
		out, _ = s.run(ctx, "logs", "--no-color", "--tail", "60")
		s.t.Logf("compose logs:\n%s", out)
	}
	if out, err := s.run(ctx, "down", "-v", "--remove-orphans", "--timeout", "10"); err != nil {
		s.t.Errorf("compose down: %v\n%s", err, out)
	}
	// The tags go; the layers stay in the build cache for the next run.
	_ = exec.CommandContext(ctx, "docker", append([]string{"image", "rm"}, s.images()...)...).Run()
}

// findCompose is COMPOSE_BIN, or the docker CLI's compose plugin.
func findCompose(ctx context.Context) ([]string, error) {
	if bin := os.Getenv("COMPOSE_BIN"); bin != "" {
		out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("COMPOSE_BIN=%s: %v: %s", bin, err, out)
		}
		return []string{bin}, nil
	}
	if exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	return nil, fmt.Errorf("no compose v2 CLI: `docker compose` is not installed and COMPOSE_BIN is unset; " +
		"`make e2e-compose` builds the pinned one")
}

func imageSize(ctx context.Context, t *testing.T, image string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Size}}", image).Output()
	if err != nil {
		t.Fatalf("docker image inspect %s: %v", image, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%.1f MB (%d bytes)", float64(n)/1e6, n)
}

var client = &http.Client{Timeout: 5 * time.Second}

func get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), err
}

// freePort is a TCP port free on the host right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// metricIsZero reports whether the Prometheus text body has the unlabelled
// series name with value 0.
func metricIsZero(body []byte, name string) bool {
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v) == "0"
		}
	}
	return false
}

// giveUp returns how a stack test gives up when Docker or the compose CLI
// is missing: it skips, saying that what was not run, unless
// EDB_REQUIRE_DOCKER=1 (CI), where it fails.
func giveUp(t *testing.T, what string) func(format string, args ...any) {
	require := os.Getenv("EDB_REQUIRE_DOCKER") == "1"
	return func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if require {
			t.Fatal(msg + " (EDB_REQUIRE_DOCKER=1: Docker is required)")
		}
		t.Skip("SKIPPED, " + what + ": " + msg)
	}
}
