//go:build chaos

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// launch starts a service binary like startProc but does not wait for it to
// be ready: here readiness is what is being watched.
func launch(t *testing.T, name, bin string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, bin: bin, env: env, port: redistest.FreePort(t),
		log: filepath.Join(t.TempDir(), name+".log")}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(filepath.Join(binDir, bin))
	p.cmd.Env = append(os.Environ(), append([]string{"PORT=" + strconv.Itoa(p.port)}, env...)...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { p.err = cmd.Wait(); close(done) }(p.cmd, p.exited)
	t.Cleanup(p.kill)
	return p
}

// startRedisOn runs redis-server (AOF, fsync always, like redistest) on a
// port chosen before it exists, and waits until it answers PING.
func startRedisOn(t *testing.T, port int) *redis.Client {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
		"--logfile", filepath.Join(dir, "redis.log"), "--appendonly", "yes", "--appendfsync", "always")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); <-exited })
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	eventually(t, 10*time.Second, "redis-server answers PING", func() (bool, string) {
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server exited at start-up: %s", b)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := rdb.Ping(ctx).Err()
		return err == nil, fmt.Sprint(err)
	})
	return rdb
}

// TestChaosRedisUnreachableAtStartup starts bayes and the api while nothing
// listens on Redis' port: both stay up (alive, not ready) and retry with
// back-off instead of crash-looping; when Redis appears they become ready by
// themselves and bayes consumes what was added meanwhile.
func TestChaosRedisUnreachableAtStartup(t *testing.T) {
	redisPort := redistest.FreePort(t)
	redisURL := "redis://127.0.0.1:" + strconv.Itoa(redisPort) + "/0"
	graphs := t.TempDir()
	bayes := launch(t, "bayes-a", "bayes", "REDIS_URL="+redisURL, "GRAPHS_DIR="+graphs, "CONSUMER_NAME=a",
		"CLAIM_MIN_IDLE=500ms", "CLAIM_INTERVAL=200ms", "TRIM_INTERVAL=300ms", "PRIOR=uniform", "LOG_LEVEL=info")
	api := launch(t, "api", "api", "REDIS_URL="+redisURL, "PUBLISH_TIMEOUT=500ms")

	// For a while, watch both: alive, live, not ready; the api refuses with
	// 503 rather than hanging. The window is long enough for a crash loop or
	// a tight retry loop to show.
	const watch = 6 * time.Second
	eventually(t, 20*time.Second, "both services listening", func() (bool, string) {
		h1, h2 := status(bayes, "/healthz"), status(api, "/healthz")
		return h1 != 0 && h2 != 0, fmt.Sprintf("bayes %d api %d", h1, h2)
	})
	begin := time.Now()
	polls := 0
	eventually(t, watch+10*time.Second, "both services alive and not ready while Redis is absent", func() (bool, string) {
		for _, p := range []*proc{bayes, api} {
			select {
			case <-p.exited:
				t.Fatalf("%s exited while Redis was unreachable: %v\n%s", p.name, p.err, p.logs())
			default:
			}
		}
		h1, r1 := status(bayes, "/healthz"), status(bayes, "/readyz")
		h2, r2 := status(api, "/healthz"), status(api, "/readyz")
		state := fmt.Sprintf("bayes healthz %d readyz %d, api healthz %d readyz %d", h1, r1, h2, r2)
		if h1 != 200 || r1 != 503 || h2 != 200 || r2 != 503 {
			t.Fatalf("while Redis is unreachable: %s; want liveness 200 and readiness 503", state)
		}
		// Requests stop well before Redis appears, so none of them can be
		// in the api's hands then (one answered 503 must never be stored;
		// the Redis SIGKILL scenario checks that).
		if time.Since(begin) < watch-3*time.Second {
			start := time.Now()
			st, _, err := record(api, http.MethodPost, "w")
			if err != nil || st != http.StatusServiceUnavailable || time.Since(start) > 3*time.Second {
				t.Fatalf("POST /update_model/w without Redis: %d %v after %s; want a prompt 503", st, err, time.Since(start))
			}
			polls++
		}
		return time.Since(begin) > watch, state
	})

	// bayes retried with a growing back-off rather than spinning.
	b, _ := os.ReadFile(bayes.log)
	var backoffs []time.Duration
	for _, line := range strings.Split(string(b), "\n") {
		var l struct {
			Msg     string `json:"msg"`
			Backoff string `json:"backoff"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || !strings.Contains(l.Msg, "retrying") {
			continue
		}
		if d, err := time.ParseDuration(l.Backoff); err == nil {
			backoffs = append(backoffs, d)
		}
	}
	if len(backoffs) < 2 || len(backoffs) > 30 || backoffs[len(backoffs)-1] <= backoffs[0] {
		t.Fatalf("bayes' consumer retries in %s: %v; want a few, with a growing back-off\n%s", time.Since(begin).Round(time.Millisecond), backoffs, bayes.logs())
	}
	t.Logf("%s without Redis: both alive, readiness 503, %d prompt 503s from the api; bayes retried %d times, back-off %v",
		time.Since(begin).Round(time.Millisecond), polls, len(backoffs), backoffs)

	// Redis appears; events are added straight away, before bayes noticed.
	rdb := startRedisOn(t, redisPort)
	appeared := time.Now()
	ctx := context.Background()
	var w, n int64
	for i := range 100 {
		trial := []string{"w", "l", "w"}[i%3]
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "update_model", Values: []any{"trial", trial}}).Err(); err != nil {
			t.Fatal(err)
		}
		n++
		if trial == "w" {
			w++
		}
	}
	api.waitReady()
	bayes.waitReady()
	t.Logf("ready %s after Redis appeared", time.Since(appeared).Round(time.Millisecond))
	for range 50 {
		if st, _, err := record(api, http.MethodGet, "l"); err != nil || st != http.StatusCreated {
			t.Fatalf("after Redis appeared: %d %v", st, err)
		}
		n++
	}
	s := &system{rdb: rdb}
	s.settled(t, bayes, w, n)
	select {
	case <-bayes.exited:
		t.Fatalf("bayes exited: %v", bayes.err)
	default:
	}
	t.Logf("model exact at w=%d n=%d, %s after Redis appeared", w, n, time.Since(appeared).Round(time.Millisecond))
}
