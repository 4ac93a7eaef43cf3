// Package e2e runs the two real binaries, api and bayes, as processes
// against a real redis-server and drives them over HTTP, as a user would.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/wait"
)

// binDir holds the binaries TestMain builds once for all tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edb-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, svc := range []string{"api", "bayes"} {
		cmd := exec.Command("go", "build", "-race", "-o", filepath.Join(dir, svc), ".")
		cmd.Dir = filepath.Join("..", svc)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", svc, err)
			os.Exit(1)
		}
	}
	// Every exchange with api or bayes is checked against its OpenAPI
	// document (openapi_test.go).
	http.DefaultTransport = openAPITransport{next: http.DefaultTransport}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running service binary.
type proc struct {
	t      *testing.T
	name   string
	bin    string
	env    []string
	port   int
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startProc starts bin with env (plus PORT) and waits until /readyz is 200.
func startProc(t *testing.T, name, bin string, env ...string) *proc {
	t.Helper()
	return startProcAt(t, name, bin, redistest.FreePort(t), env...)
}

// startProcAt is startProc on a port chosen by the caller (one another
// process must know before this one starts).
func startProcAt(t *testing.T, name, bin string, port int, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, bin: bin, env: env, port: port, log: filepath.Join(t.TempDir(), name+".log")}
	watchOpenAPI(p)
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(filepath.Join(binDir, p.bin))
	p.cmd.Env = append(os.Environ(), append([]string{"PORT=" + strconv.Itoa(p.port)}, p.env...)...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { p.err = cmd.Wait(); close(done) }(p.cmd, p.exited)
	p.waitReady()
}

func (p *proc) url(path string) string { return "http://127.0.0.1:" + strconv.Itoa(p.port) + path }

func (p *proc) waitReady() {
	p.t.Helper()
	eventually(p.t, 20*time.Second, p.name+" ready", func() (bool, string) {
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited at start-up: %v\n%s", p.name, p.err, p.logs())
		default:
		}
		resp, err := http.Get(p.url("/readyz"))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
}

// kill sends SIGKILL: the process gets no chance to finish anything.
func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.cmd = nil
}

// restart starts the process again with the same port and environment.
func (p *proc) restart() {
	p.t.Helper()
	p.kill()
	p.start()
}

// terminate sends SIGTERM and returns how long the process took to exit
// and its exit error (nil for status 0).
func (p *proc) terminate(limit time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(limit):
		p.kill()
		return time.Since(start), fmt.Errorf("%s still running %s after SIGTERM", p.name, limit)
	}
	p.cmd = nil
	return time.Since(start), p.err
}

func (p *proc) logs() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	wait.UntilState(t, limit, what, cond)
}

// modelView is the contract of GET /model and GET /models/{name}.
type modelView struct {
	Name       string    `json:"name"`
	W          int64     `json:"w"`
	N          int64     `json:"n"`
	PriorSpec  string    `json:"prior_spec"`
	GridPoints int       `json:"grid_points"`
	Grid       []float64 `json:"grid"`
	Prior      []float64 `json:"prior"`
	Posterior  []float64 `json:"posterior"`
	Mean       float64   `json:"mean"`
	SD         float64   `json:"sd"`
	MAP        float64   `json:"map"`
	HPDI       struct {
		Prob float64 `json:"prob"`
		Lo   float64 `json:"lo"`
		Hi   float64 `json:"hi"`
	} `json:"hpdi"`
}

// getModel reads GET /model (the default model).
func getModel(t *testing.T, bayes *proc) (modelView, error) {
	t.Helper()
	return getModelAt(bayes, "/model")
}

// getModelAt reads a model from path on bayes (/model or /models/{name});
// a transport error or a non-200 is an error to retry, not a failure.
func getModelAt(bayes *proc, path string) (modelView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, bayes.url(path), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return modelView{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return modelView{}, fmt.Errorf("GET %s: %s %s", path, resp.Status, body)
	}
	var v modelView
	return v, json.Unmarshal(body, &v)
}

// waitForN polls /model until n reaches want, and fails if it overshoots.
func waitForN(t *testing.T, bayes *proc, want int64) modelView {
	t.Helper()
	return waitAt(t, bayes, "/model", want)
}

// waitModel polls GET /models/{name} until it has n observations, and fails
// if it overshoots.
func waitModel(t *testing.T, bayes *proc, name string, n int64) modelView {
	t.Helper()
	return waitAt(t, bayes, "/models/"+name, n)
}

func waitAt(t *testing.T, bayes *proc, path string, want int64) modelView {
	t.Helper()
	var v modelView
	eventually(t, 60*time.Second, fmt.Sprintf("GET %s: n = %d", path, want), func() (bool, string) {
		var err error
		v, err = getModelAt(bayes, path)
		if err != nil {
			return false, err.Error()
		}
		if v.N > want {
			t.Fatalf("%s counted %d observations, only %d were accepted", path, v.N, want)
		}
		return v.N == want, fmt.Sprintf("n=%d", v.N)
	})
	return v
}
