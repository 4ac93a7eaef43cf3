package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// clusterSystem is the api and bayes replicas on a real Redis Cluster of
// three masters with one replica each (issue 15), the models sharded over
// the streams of events.Shards.
type clusterSystem struct {
	cluster *redistest.Cluster
	rdb     *redis.ClusterClient
	shards  events.Shards
	env     []string // REDIS_CLUSTER_ADDRS and STREAM_SHARDS, for every service
	graphs  string
	api     *proc
	bayes   []*proc
}

// clusterConfig says how newClusterSystem starts the services.
type clusterConfig struct {
	shards       int  // STREAM_SHARDS of both services
	waitReplicas int  // REDIS_WAIT_REPLICAS of the api
	replicas     int  // bayes replicas, named r1, r2, …
	keepStreams  bool // TRIM_INTERVAL=0: the streams keep every entry, so a proof can read them whole
	apiEnv       []string
	bayesEnv     []string
}

// newClusterSystem starts a 3-master, 3-replica cluster, cfg.replicas bayes
// replicas (first: the first one records STREAM_SHARDS) and one api. Every
// service's log is checked for CROSSSLOT when the test ends.
func newClusterSystem(t *testing.T, cfg clusterConfig) *clusterSystem {
	t.Helper()
	c := redistest.StartCluster(t, 3, 1)
	shards, err := events.NewShards(events.DefaultStream, cfg.shards, true)
	if err != nil {
		t.Fatal(err)
	}
	s := &clusterSystem{cluster: c, rdb: c.Client(), shards: shards, graphs: t.TempDir(),
		env: []string{"REDIS_CLUSTER_ADDRS=" + strings.Join(c.Addrs(), ","), "STREAM_SHARDS=" + strconv.Itoa(cfg.shards)}}
	trim := "TRIM_INTERVAL=300ms"
	if cfg.keepStreams {
		trim = "TRIM_INTERVAL=0s"
	}
	for i := range cfg.replicas {
		s.startBayes(t, fmt.Sprintf("r%d", i+1), append([]string{trim}, cfg.bayesEnv...)...)
	}
	s.api = s.start(t, "api", "api", append([]string{"REDIS_WAIT_REPLICAS=" + strconv.Itoa(cfg.waitReplicas)}, cfg.apiEnv...)...)
	for i := range shards.Count() {
		t.Logf("shard %d: stream %s on master %s", i, shards.Stream(i), c.MasterOf(shards.Stream(i)).Addr())
	}
	return s
}

// start runs a service binary on the cluster and has its log checked for
// cross-slot errors at the end of the test (the check is registered after
// the process's own clean-ups, so it runs before them: the log still exists).
func (s *clusterSystem) start(t *testing.T, name, bin string, env ...string) *proc {
	t.Helper()
	p := startProc(t, name, bin, append(slices.Clone(s.env), env...)...)
	t.Cleanup(func() { noCrossSlot(t, p) })
	return p
}

// startBayes starts a bayes replica named name (its CONSUMER_NAME), with
// claims quick enough for a killed replica's entries to move on within the
// test's patience.
func (s *clusterSystem) startBayes(t *testing.T, name string, env ...string) *proc {
	t.Helper()
	base := []string{"GRAPHS_DIR=" + s.graphs, "CONSUMER_NAME=" + name, "CLAIM_MIN_IDLE=500ms", "CLAIM_INTERVAL=200ms",
		"TRIM_INTERVAL=300ms", "PRIOR=uniform", "LOG_LEVEL=info"}
	p := s.start(t, "bayes-"+name, "bayes", append(base, env...)...)
	s.bayes = append(s.bayes, p)
	return p
}

// noCrossSlot fails the test for every CROSSSLOT error p logged, over all
// its runs: every multi-key command and script must touch one shard's keys.
func noCrossSlot(t *testing.T, p *proc) {
	t.Helper()
	f, err := os.Open(p.log)
	if err != nil {
		t.Errorf("reading %s's log: %v", p.name, err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	found := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), "CROSSSLOT") {
			found++
			if found <= 3 {
				t.Errorf("%s logged a cross-slot error: %.400s", p.name, sc.Text())
			}
		}
	}
	if found > 3 {
		t.Errorf("%s logged %d cross-slot errors in all", p.name, found)
	}
	if err := sc.Err(); err != nil {
		t.Errorf("reading %s's log: %v", p.name, err)
	}
}

// modelNames returns n model names prefix00, prefix01, ….
func modelNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// byShard groups names by the shard each lives on.
func (s *clusterSystem) byShard(names []string) [][]string {
	out := make([][]string, s.shards.Count())
	for _, n := range names {
		i := s.shards.Of(n)
		out[i] = append(out[i], n)
	}
	return out
}

// streamOf is the stream of model's shard, which the api's answers name.
func (s *clusterSystem) streamOf(model string) string { return s.shards.Stream(s.shards.Of(model)) }

// key is the name of one of shard i's keys (suffix "dead", "models",
// "model:NAME", …).
func (s *clusterSystem) key(i int, suffix string) string { return s.shards.Prefix(i) + ":" + suffix }

// clusterAck is one observation the api answered 201.
type clusterAck struct {
	stream, id, model string
	w, n              int64
	sent              time.Time // when its request was sent
}

// clusterLoad is what startClusterLoad saw.
type clusterLoad struct {
	mu      sync.Mutex
	acks    []clusterAck
	ok      atomic.Int64 // 201s
	refused atomic.Int64 // 503s, where allowed
}

func (l *clusterLoad) accepted() int64 { return l.ok.Load() }

// snapshot copies the acknowledgements so far.
func (l *clusterLoad) snapshot() []clusterAck {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks)
}

// counts sums the acknowledged observations by model.
func (l *clusterLoad) counts() map[string]modelCounts {
	out := map[string]modelCounts{}
	for _, a := range l.snapshot() {
		c := out[a.model]
		c.w += a.w
		c.n += a.n
		out[a.model] = c
	}
	return out
}

// clusterLoadSpec describes a load over many models.
type clusterLoadSpec struct {
	workers  int
	max      int64           // stop after this many requests were sent (0: only stop ends it)
	stop     <-chan struct{} // or when this is closed
	allow503 bool            // a 503 problem is "not accepted", not a failure
	// Every legacyEvery-th request (on average) is the original's
	// /update_model/{w|l}, for the default model on shard 0; 0: none.
	legacyEvery int
}

// startClusterLoad sends batches of observations to random models of names
// from spec.workers goroutines, and now and then the original's one-trial
// request for the default model. Every 201 must name the stream of its
// model's shard; it is kept with its id. A 503 is counted when allowed.
// Anything else (another status, a transport error, an answer that
// mentions CROSSSLOT) fails the test and stops that worker: its outcome is
// unknown, so no exact count could follow.
func (s *clusterSystem) startClusterLoad(t *testing.T, names []string, spec clusterLoadSpec) (*clusterLoad, func()) {
	t.Helper()
	// A request may wait for PUBLISH_TIMEOUT (2 s by default) and WAIT
	// within it; far more than that is a hang.
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 2 * spec.workers, MaxIdleConnsPerHost: 2 * spec.workers, IdleConnTimeout: 30 * time.Second}}
	l := &clusterLoad{}
	quit := make(chan struct{})
	var sent atomic.Int64
	var failOnce sync.Once
	fail := func(format string, args ...any) { failOnce.Do(func() { t.Errorf(format, args...) }) }
	var wg sync.WaitGroup
	for range spec.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for spec.max == 0 || sent.Add(1) <= spec.max {
				select {
				case <-spec.stop:
					return
				case <-quit:
					return
				default:
				}
				a := clusterAck{model: events.DefaultModel}
				var method, url, body string
				if spec.legacyEvery > 0 && rand.IntN(spec.legacyEvery) == 0 {
					trial := "l"
					if rand.IntN(10) < 7 {
						trial, a.w = "w", 1
					}
					a.n = 1
					method, url = http.MethodPost, s.api.url("/update_model/"+trial)
				} else {
					a.model = names[rand.IntN(len(names))]
					a.w, a.n = rand.Int64N(5), rand.Int64N(5)+1
					a.n += a.w
					method, url, body = http.MethodPost, s.api.url("/models/"+a.model+"/observations"),
						fmt.Sprintf(`{"w":%d,"l":%d}`, a.w, a.n-a.w)
				}
				sent := time.Now()
				status, raw, err := exchange(hc, method, url, body)
				switch {
				case err != nil:
					fail("%s %s: %v", method, url, err)
					return
				case strings.Contains(string(raw), "CROSSSLOT"):
					fail("%s %s: %d %s", method, url, status, raw)
					return
				case status == http.StatusCreated:
					var b acceptedBody
					if err := json.Unmarshal(raw, &b); err != nil || b.ID == "" {
						fail("%s %s: 201 %s (%v)", method, url, raw, err)
						return
					}
					if b.Stream != s.streamOf(a.model) || (b.Model != "" && b.Model != a.model) {
						fail("%s %s: 201 names model %q stream %q; %s lives on %s", method, url, b.Model, b.Stream, a.model, s.streamOf(a.model))
						return
					}
					a.stream, a.id, a.sent = b.Stream, b.ID, sent
					l.mu.Lock()
					l.acks = append(l.acks, a)
					l.mu.Unlock()
					l.ok.Add(1)
				case status == http.StatusServiceUnavailable && spec.allow503:
					l.refused.Add(1)
				default:
					fail("%s %s %s: %d %s", method, url, body, status, raw)
					return
				}
			}
		}()
	}
	var once sync.Once
	wait := func() {
		once.Do(func() {
			wg.Wait()
			hc.CloseIdleConnections()
		})
	}
	t.Cleanup(func() { close(quit); wait() })
	return l, wait
}

// exchange sends one request (a JSON body unless body is "") and reads the
// whole answer.
func exchange(hc *http.Client, method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// waitDrained polls until, on every shard, bayes' consumer group holds no
// pending entry and has been delivered the stream's last entry: every
// entry is applied or dead-lettered. (The group's lag is not used: after a
// failover Redis may not know it.)
func (s *clusterSystem) waitDrained(t *testing.T, limit time.Duration) {
	t.Helper()
	ctx := context.Background()
	eventually(t, limit, "every shard drained (no pending entry, last entry delivered)", func() (bool, string) {
		var b strings.Builder
		done := true
		for i := range s.shards.Count() {
			stream := s.shards.Stream(i)
			gs, err := s.rdb.XInfoGroups(ctx, stream).Result()
			if err != nil || len(gs) != 1 {
				return false, fmt.Sprintf("%s: groups %v %v", stream, gs, err)
			}
			last, err := s.rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", stream, err)
			}
			delivered := len(last) == 0 || events.CompareStreamIDs(gs[0].LastDeliveredID, last[0].ID) >= 0
			fmt.Fprintf(&b, "%s: pending %d, delivered %s; ", stream, gs[0].Pending, gs[0].LastDeliveredID)
			done = done && gs[0].Pending == 0 && delivered
		}
		return done, b.String()
	})
}

// entries reads shard i's whole stream, in pages.
func (s *clusterSystem) entries(ctx context.Context, i int) ([]redis.XMessage, error) {
	stream := s.shards.Stream(i)
	var out []redis.XMessage
	from := "-"
	for {
		page, err := s.rdb.XRangeN(ctx, stream, from, "+", 10_000).Result()
		if err != nil {
			return nil, fmt.Errorf("XRANGE %s: %w", stream, err)
		}
		out = append(out, page...)
		if len(page) < 10_000 {
			return out, nil
		}
		from = "(" + page[len(page)-1].ID
	}
}

// storedCounts reads every shard's stream and sums what a model must count
// by the commit's rules: an observation adds, a reset zeroes, a delete
// removes; an entry on a shard its model does not live on, or malformed,
// counts for nothing (it is dead-lettered). It also returns the ids on
// each stream.
func (s *clusterSystem) storedCounts(t *testing.T) (map[string]modelCounts, map[string]map[string]bool) {
	t.Helper()
	var counts map[string]modelCounts
	var ids map[string]map[string]bool
	// The reads retry: just after a failover the cluster client may still
	// learn the new slot map.
	eventually(t, 30*time.Second, "every stream read", func() (bool, string) {
		counts, ids = map[string]modelCounts{}, map[string]map[string]bool{}
		for i := range s.shards.Count() {
			es, err := s.entries(context.Background(), i)
			if err != nil {
				return false, err.Error()
			}
			seen := map[string]bool{}
			for _, e := range es {
				seen[e.ID] = true
				ev, err := events.Decode(e.Values)
				if err != nil || s.shards.Of(ev.Model) != i {
					continue
				}
				c := counts[ev.Model]
				switch ev.Kind {
				case events.KindObserve:
					if ev.Trial != "" {
						c.n++
						if ev.Trial == events.TrialWater {
							c.w++
						}
					} else {
						c.w += ev.W
						c.n += ev.W + ev.L
					}
				case events.KindReset, events.KindDelete:
					c = modelCounts{}
				}
				counts[ev.Model] = c
			}
			ids[s.shards.Stream(i)] = seen
		}
		return true, ""
	})
	return counts, ids
}

// waitCounts polls every replica until each model of want counts exactly
// want (a model counting nothing may be absent: 404), and fails at once if
// one counts more: an event counted twice.
func (s *clusterSystem) waitCounts(t *testing.T, want map[string]modelCounts, limit time.Duration) {
	t.Helper()
	left := map[string]bool{}
	for _, p := range s.bayes {
		for m := range want {
			left[p.name+"\x00"+m] = true
		}
	}
	eventually(t, limit, fmt.Sprintf("%d models exact on %d replicas", len(want), len(s.bayes)), func() (bool, string) {
		var last string
		for _, p := range s.bayes {
			for m, c := range want {
				k := p.name + "\x00" + m
				if !left[k] {
					continue
				}
				code, v, err := modelStatus(p, m)
				switch {
				case err != nil:
					last = fmt.Sprintf("%s %s: %v", p.name, m, err)
					continue
				case code == http.StatusNotFound && c.n == 0:
				case v.N > c.n || v.W > c.w:
					t.Fatalf("%s: model %s counts w=%d n=%d, more than the w=%d n=%d stored for it: an event counted twice",
						p.name, m, v.W, v.N, c.w, c.n)
				case code != http.StatusOK || v.N != c.n || v.W != c.w:
					last = fmt.Sprintf("%s %s: %d w=%d n=%d, want w=%d n=%d", p.name, m, code, v.W, v.N, c.w, c.n)
					continue
				}
				delete(left, k)
			}
		}
		return len(left) == 0, fmt.Sprintf("%d left, e.g. %s", len(left), last)
	})
}

// clusterDeadLetters reads shard i's dead letters by the id of the entry
// each replaced.
func (s *clusterSystem) clusterDeadLetters(ctx context.Context, i int) (map[string]deadLetter, error) {
	key := s.key(i, "dead")
	es, err := s.rdb.XRange(ctx, key, "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	out := make(map[string]deadLetter, len(es))
	for _, e := range es {
		src, _ := e.Values["source_id"].(string)
		code, _ := e.Values["code"].(string)
		reason, _ := e.Values["reason"].(string)
		out[src] = deadLetter{code: code, reason: reason}
	}
	return out, nil
}

// deadLetter is one entry of a dead-letter stream.
type deadLetter struct{ code, reason string }

// noDeadLetters fails the test if any shard dead-lettered an entry.
func (s *clusterSystem) noDeadLetters(t *testing.T) {
	t.Helper()
	for i := range s.shards.Count() {
		dead, err := s.clusterDeadLetters(context.Background(), i)
		if err != nil || len(dead) != 0 {
			t.Errorf("shard %d dead-lettered %v (%v): none expected", i, dead, err)
		}
	}
}
