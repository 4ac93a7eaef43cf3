package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// logBuffer keeps what a running bayes logged, for the test to search.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bayes is a service.Run in this process.
type bayes struct {
	t    *testing.T
	url  string
	logs *logBuffer
	stop context.CancelFunc
	done chan error
}

// runBayes starts service.Run with the configuration env (plus a free
// port, a graphs directory and quick plots) and stops it when the test
// ends.
func runBayes(t *testing.T, env map[string]string) *bayes {
	t.Helper()
	port := redistest.FreePort(t)
	full := map[string]string{"PORT": strconv.Itoa(port), "GRAPHS_DIR": t.TempDir(), "CONSUMER_NAME": "t",
		"PRIOR": "uniform", "GRID_POINTS": "20", "PLOT_WORKERS": "1", "GRAPHS_KEEP": "0", "SHUTDOWN_TIMEOUT": "4s",
		"CLAIM_INTERVAL": "200ms", "LOG_LEVEL": "info"}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := service.LoadConfig(envconf.FromMap(full))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &bayes{t: t, url: "http://127.0.0.1:" + strconv.Itoa(port), logs: &logBuffer{}, stop: cancel, done: make(chan error, 1)}
	go func() { b.done <- service.Run(ctx, cfg, slog.New(slog.NewJSONHandler(b.logs, nil))) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.done:
		case <-time.After(15 * time.Second):
			t.Error("bayes did not stop within 15s")
		}
	})
	return b
}

// shutdown stops bayes and fails the test unless Run returns nil in time.
func (b *bayes) shutdown() {
	b.t.Helper()
	b.stop()
	select {
	case err := <-b.done:
		if err != nil {
			b.t.Fatalf("Run returned %v", err)
		}
		b.done <- nil // for the clean-up
	case <-time.After(15 * time.Second):
		b.t.Fatal("bayes did not stop within 15s")
	}
}

// get GETs path and returns the status and body; 0 when bayes does not
// answer.
func (b *bayes) get(path string) (int, []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// eventually polls cond until it holds, failing the test with its last
// word at the deadline.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond) // poll interval; the deadline bounds the wait
	}
}

// waitReady waits for /readyz to answer 200.
func (b *bayes) waitReady() {
	b.t.Helper()
	eventually(b.t, 30*time.Second, "bayes ready", func() (bool, string) {
		select {
		case err := <-b.done:
			b.t.Fatalf("bayes stopped: %v\n%s", err, b.logs)
		default:
		}
		st, body := b.get("/readyz")
		return st == http.StatusOK, fmt.Sprintf("%d %s", st, body)
	})
}

type row struct {
	Name string `json:"name"`
	W    int64  `json:"w"`
	N    int64  `json:"n"`
}

// list reads every row of GET /models, page by page.
func (b *bayes) list(limit int) ([]row, error) {
	var out []row
	after := ""
	for {
		st, body := b.get(fmt.Sprintf("/models?limit=%d&after=%s", limit, after))
		if st != http.StatusOK {
			return nil, fmt.Errorf("GET /models: %d %s", st, body)
		}
		var page struct {
			Models []row   `json:"models"`
			Next   *string `json:"next"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Models...)
		if page.Next == nil {
			return out, nil
		}
		after = *page.Next
	}
}

// metric is the value of one series in a /metrics text, -1 when absent.
func metric(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// bayes on a Redis Cluster of three masters with three shards: every
// observation XADDed to its model's shard, before bayes starts and while
// it runs, is counted exactly once; an entry on the wrong shard is
// dead-lettered there and creates nothing; the list pages over every
// shard; readiness, metrics and the pub/sub bridge work across the
// cluster; and no command ever spans two slots.
func TestRunOnAClusterOfThreeShards(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	rdb := cl.Client()
	ctx := context.Background()
	shards, _ := events.NewShards(events.DefaultStream, 3, true)

	type want struct{ w, n int64 }
	expect := map[string]*want{"default": {}}
	perShard := make([]int64, shards.Count())
	xadd := func(stream string, fields ...any) {
		t.Helper()
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: fields}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	observe := func(name string, k int) {
		t.Helper()
		if expect[name] == nil {
			expect[name] = &want{}
		}
		i := shards.Of(name)
		for j := range k {
			trial := "l"
			if j%3 != 1 {
				trial, expect[name].w = "w", expect[name].w+1
			}
			if name == "default" {
				xadd(shards.Stream(i), "trial", trial)
			} else {
				xadd(shards.Stream(i), "model", name, "trial", trial)
			}
			expect[name].n++
			perShard[i]++
		}
	}
	names := make([]string, 60)
	for j := range names {
		names[j] = fmt.Sprintf("m%03d", j)
	}
	// Half before bayes starts: each shard's group starts at the beginning.
	for j, name := range names[:30] {
		observe(name, j%5+1)
	}
	observe("default", 4)

	b := runBayes(t, map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(cl.Addrs(), ","), "STREAM_SHARDS": "3"})
	b.waitReady()
	for j, name := range names {
		observe(name, j%4+1)
	}
	observe("default", 3)
	// One entry on a shard its model does not live on.
	home := shards.Of("stray")
	wrong := (home + 1) % shards.Count()
	xadd(shards.Stream(wrong), "model", "stray", "trial", "w")
	for i, n := range perShard {
		if n == 0 {
			t.Fatalf("shard %d got no observations: the test spreads nothing", i)
		}
	}

	eventually(t, 60*time.Second, "every model counted exactly", func() (bool, string) {
		rows, err := b.list(7)
		if err != nil {
			return false, err.Error()
		}
		if len(rows) != len(expect) {
			return false, fmt.Sprintf("%d rows, want %d", len(rows), len(expect))
		}
		for _, r := range rows {
			if w := expect[r.Name]; w == nil || r.W != w.w || r.N != w.n {
				return false, fmt.Sprintf("%s: w=%d n=%d, want %+v", r.Name, r.W, r.N, w)
			}
		}
		return true, ""
	})
	rows, _ := b.list(1000)
	listed := make([]string, len(rows))
	for i, r := range rows {
		listed[i] = r.Name
	}
	if want := append([]string{"default"}, names...); !slices.Equal(listed, want) {
		t.Fatalf("list order %v, want %v", listed, want)
	}
	// Nothing is pending or left behind: the counts are final.
	for i := range shards.Count() {
		keys := redisstream.ShardKeys(shards, i)
		p, err := rdb.XPending(ctx, keys.Stream, keys.Group).Result()
		if err != nil || p.Count != 0 {
			t.Errorf("shard %d: pending %+v %v", i, p, err)
		}
		dead := rdb.XLen(ctx, keys.DeadLetter).Val()
		if (i == wrong) != (dead == 1) || dead > 1 {
			t.Errorf("shard %d: %d dead letters; the stray entry went to shard %d", i, dead, wrong)
		}
	}
	if st, _ := b.get("/models/stray"); st != http.StatusNotFound {
		t.Errorf("GET /models/stray = %d, want 404: an entry on the wrong shard created it", st)
	}
	if got := rdb.Get(ctx, "{update_model}:shards").Val(); got != "3" {
		t.Errorf("{update_model}:shards = %q, want 3", got)
	}

	_, body := b.get("/metrics")
	text := string(body)
	var applied float64
	for _, n := range perShard {
		applied += float64(n)
	}
	for series, v := range map[string]float64{
		"edb_bayes_stream_shards": 3, `edb_bayes_events_dead_lettered_total{reason="wrong_shard"}`: 1,
		`edb_bayes_consumer_group_pending{shard="2"}`: 0, `edb_bayes_consumer_group_lag{shard="1"}`: 0,
		"edb_bayes_models": float64(len(expect)), "edb_bayes_redis_up": 1,
	} {
		if got := metric(text, series); got != v {
			t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
	if got := metric(text, `edb_bayes_events_applied_total{trial="w"}`) + metric(text, `edb_bayes_events_applied_total{trial="l"}`); got != applied {
		t.Errorf("applied %v, want %v", got, applied)
	}

	// The original's PUBLISH reaches shard 0 through the bridge. Pub/sub
	// is at most once and the bridge subscribes when it holds its lease,
	// so the test publishes until one arrives.
	before := expect["default"].n
	eventually(t, 30*time.Second, "a PUBLISH counted in the default model", func() (bool, string) {
		if err := rdb.Publish(ctx, events.DefaultChannel, "w").Err(); err != nil {
			return false, err.Error()
		}
		st, body := b.get("/model")
		var m row
		_ = json.Unmarshal(body, &m)
		return st == http.StatusOK && m.N > before, fmt.Sprintf("%d n=%d", st, m.N)
	})

	b.shutdown()
	if logs := b.logs.String(); strings.Contains(logs, "CROSSSLOT") || !strings.Contains(logs, `"shards":3`) {
		t.Fatalf("logs hold CROSSSLOT, or the start-up line no shards:\n%s", logs)
	}
}

// One shard on a plain Redis: the keys bayes writes are the ones it
// always wrote, no number of shards is recorded, and the stream's
// metrics have no shard label.
func TestRunOneShardKeepsTodaysNames(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	for _, trial := range []string{"w", "l", "w"} {
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: "update_model", Values: []any{"trial", trial}})
	}
	b := runBayes(t, map[string]string{"REDIS_URL": srv.URL()})
	b.waitReady()
	eventually(t, 30*time.Second, "the default model counted", func() (bool, string) {
		_, body := b.get("/model")
		var m row
		_ = json.Unmarshal(body, &m)
		return m.W == 2 && m.N == 3, string(body)
	})
	_, body := b.get("/metrics")
	for series, v := range map[string]float64{"edb_bayes_stream_shards": 1, "edb_bayes_consumer_group_lag": 0, "edb_bayes_consumer_group_pending": 0} {
		if got := metric(string(body), series); got != v {
			t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
	b.shutdown()
	keys := rdb.Keys(ctx, "*").Val()
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == "update_model:pubsub-bridge" })
	slices.Sort(keys)
	if want := []string{"update_model", "update_model:model:default", "update_model:models", "update_model:models:index", "update_model:spec:default"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
}

// bayes refuses to start over data laid out for another number of
// shards, naming the number recorded.
func TestRunRefusesAnotherNumberOfShards(t *testing.T) {
	srv := redistest.Start(t)
	srv.Client().Set(context.Background(), "update_model:shards", "2", 0)
	for _, n := range []string{"3", "1"} {
		b := runBayes(t, map[string]string{"REDIS_URL": srv.URL(), "STREAM_SHARDS": n})
		select {
		case err := <-b.done:
			if !errors.Is(err, redisstream.ErrShardsChanged) || !strings.Contains(err.Error(), "update_model:shards records 2") {
				t.Fatalf("STREAM_SHARDS=%s: Run = %v", n, err)
			}
			b.done <- err // for the clean-up
		case <-time.After(15 * time.Second):
			t.Fatalf("STREAM_SHARDS=%s over a record of 2: still running", n)
		}
	}
}
