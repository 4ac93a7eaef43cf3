// Package redistest starts a real redis-server for tests, on a free loopback
// port with its own data directory, and stops it when the test ends. Tests
// never touch a shared Redis on 6379.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// InstallHint is printed when redis-server is missing: tests fail loudly
// instead of skipping, so a CI machine without Redis is noticed.
const InstallHint = "redis-server not found on PATH: install it with `apt-get install -y redis-server` (or run .ci/run)"

// Server is one redis-server process owned by a test.
type Server struct {
	t    testing.TB
	Port int
	Dir  string
	aof  bool
	// cluster: a cluster node (cluster-enabled, its nodes.conf in Dir,
	// its bus on BusPort) whose peers give up on it after nodeTimeout.
	cluster     bool
	nodeTimeout time.Duration
	BusPort     int
	cmd         *exec.Cmd
	exited      chan struct{}
}

// Option changes how the server is started.
type Option func(*Server)

// WithAOF turns on the append-only file, fsync every write, so a SIGKILLed
// server restarted with Restart keeps every acknowledged write.
func WithAOF() Option { return func(s *Server) { s.aof = true } }

// Start starts redis-server and waits until it answers PING.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal(InstallHint)
	}
	s := &Server{t: t, Port: FreePort(t), Dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is a redis:// URL for REDIS_URL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a client closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) start() {
	s.t.Helper()
	args := []string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.Dir,
		"--save", "", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
		"--logfile", filepath.Join(s.Dir, "redis.log"),
	}
	if s.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	if s.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(s.BusPort),
			"--cluster-node-timeout", strconv.FormatInt(s.nodeTimeout.Milliseconds(), 10))
	}
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.exited)

	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			s.t.Fatalf("redis-server exited at start-up: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer PING within 10s: %v", s.Addr(), err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronisation: the deadline bounds it
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same port and data directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Stop kills the server if it runs; registered as test cleanup.
func (s *Server) Stop() { s.Kill() }

// FreePort asks the kernel for a free loopback port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server %s (dir %s)", s.Addr(), s.Dir) }
