package kindtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cluster is the kind cluster under test and the tools that drive it.
type cluster struct {
	name       string
	namespace  string
	release    string
	kubeconfig string
	kubectlBin string
	helmBin    string
	kindBin    string
	repo       string
}

// requireCluster finds the cluster named by KIND_CLUSTER, or skips (fails
// under EDB_REQUIRE_KIND=1) when there is none.
func requireCluster(t *testing.T) *cluster {
	t.Helper()
	required := os.Getenv("EDB_REQUIRE_KIND") == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if required {
			t.Fatal(msg)
		}
		t.Skip(msg + " (make e2e-kind creates the cluster and runs this)")
	}
	c := &cluster{
		name:       envOr("KIND_CLUSTER", "event-driven-bayes"),
		namespace:  "event-driven-bayes",
		release:    "event-driven-bayes",
		kubectlBin: envOr("KUBECTL", "kubectl"),
		helmBin:    os.Getenv("HELM"),
		kindBin:    os.Getenv("KIND"),
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c.repo = repo
	if c.kindBin == "" || c.helmBin == "" {
		skip("KIND and HELM are not set")
	}
	out, err := exec.Command(c.kindBin, "get", "clusters").CombinedOutput()
	if err != nil || !containsLine(string(out), c.name) {
		skip("no kind cluster %q: %s %v", c.name, strings.TrimSpace(string(out)), err)
	}
	kc, err := exec.Command(c.kindBin, "get", "kubeconfig", "--name", c.name).Output()
	if err != nil {
		t.Fatalf("kind get kubeconfig: %v", err)
	}
	c.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(c.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func containsLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// run runs a command with the cluster's kubeconfig and returns its stdout;
// a failure fails the test with both outputs.
func (c *cluster) run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	return c.runIn(t, c.repo, timeout, name, args...)
}

// runIn is run in another folder than the repository's root.
func (c *cluster) runIn(t *testing.T, dir string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := c.tryIn(dir, timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// try is run without failing the test.
func (c *cluster) try(timeout time.Duration, name string, args ...string) (string, error) {
	return c.tryIn(c.repo, timeout, name, args...)
}

func (c *cluster) tryIn(dir string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return c.run(t, 5*time.Minute, c.kubectlBin, append([]string{"-n", c.namespace}, args...)...)
}

func (c *cluster) helm(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	return c.run(t, timeout, c.helmBin, c.helmArgs(args...)...)
}

// helmArgs points a helm command at the test's namespace and cluster.
func (c *cluster) helmArgs(args ...string) []string {
	return append(args, "--namespace", c.namespace, "--kubeconfig", c.kubeconfig)
}

// waitAllReady waits until every pod of the release is Ready, printing the
// pods when it gives up.
func (c *cluster) waitAllReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// A finished helm test pod is not Ready, and need not be.
		out, err := c.try(time.Minute, c.kubectlBin, "-n", c.namespace, "get", "pods",
			"-l", "app.kubernetes.io/instance="+c.release, "--field-selector=status.phase!=Succeeded", "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp} {range .status.conditions[?(@.type=="Ready")]}{.status}{end}{"\n"}{end}`)
		if err == nil && allReady(out) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods not all Ready after %s:\n%s\n%s", timeout, out, c.state())
		}
		time.Sleep(time.Second)
	}
}

// state is what a failed wait prints: the namespace's pods, its latest
// events, and the last log lines of every container of a pod not Ready
// (the previous run's too, when one restarted), so a failure in CI says
// which pod held it up and why.
func (c *cluster) state() string {
	var b strings.Builder
	pods, _ := c.try(time.Minute, c.kubectlBin, "-n", c.namespace, "get", "pods,pvc", "-o", "wide")
	events, _ := c.try(time.Minute, c.kubectlBin, "-n", c.namespace, "get", "events", "--sort-by=.lastTimestamp")
	fmt.Fprintf(&b, "%s\nevents:\n%s\n", pods, tail(events, 40))
	notReady, _ := c.try(time.Minute, c.kubectlBin, "-n", c.namespace, "get", "pods", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {range .status.conditions[?(@.type=="Ready")]}{.status}{end}{"\n"}{end}`)
	for _, line := range strings.Split(strings.TrimSpace(notReady), "\n") {
		name, ready, _ := strings.Cut(line, " ")
		if name == "" || ready == "True" {
			continue
		}
		for _, prev := range []bool{false, true} {
			logs, err := c.try(time.Minute, c.kubectlBin, "-n", c.namespace, "logs", name,
				"--all-containers", "--tail=30", fmt.Sprintf("--previous=%t", prev))
			if err != nil && prev {
				continue // no earlier run
			}
			fmt.Fprintf(&b, "logs of %s (previous run: %t):\n%s\n", name, prev, logs)
		}
	}
	return b.String()
}

// allReady: at least one pod, none terminating, all Ready.
func allReady(listing string) bool {
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 || f[1] != "True" {
			return false
		}
		n++
	}
	return n > 0
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// forward is a running `kubectl port-forward` on 127.0.0.1.
type forward struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	Port int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// portForward forwards 127.0.0.1:local to the Service's port, as the README
// tells people to, and waits until the forward answers. It ends with the
// test.
func (c *cluster) portForward(t *testing.T, service string, local, remote int) *forward {
	t.Helper()
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", local)); err != nil {
		t.Fatalf("port %d, which the README forwards to, is taken on this machine: %v", local, err)
	} else {
		ln.Close()
	}
	cmd := exec.Command(c.kubectlBin, "-n", c.namespace, "port-forward", "--address", "127.0.0.1",
		"svc/"+service, fmt.Sprintf("%d:%d", local, remote))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	out := &lockedBuffer{}
	cmd.Stderr = out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			out.Write([]byte(sc.Text() + "\n"))
			if strings.HasPrefix(sc.Text(), "Forwarding from") {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	f := &forward{cmd: cmd, out: out, Port: local}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward svc/%s %d:%d did not start:\n%s", service, local, remote, out.String())
	}
	return f
}

// url of a path through the forward.
func (f *forward) url(path string) string { return fmt.Sprintf("http://localhost:%d%s", f.Port, path) }
