//go:build chaos

// The fault suite (make chaos): each scenario breaks something under load
// and ends with the model's n equal to the number of 201 answers, exactly
// (where Redis is SIGKILLed, plus the entries it stored whose reply died
// with it, which the test identifies one by one). It sits behind the chaos
// build tag so `make test` stays fast.

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// outcome counts what a chaos load saw.
type outcome struct {
	w, n      atomic.Int64 // 201s, by trial
	refused   atomic.Int64 // 503s (only where the scenario allows them)
	maxNanos  atomic.Int64 // slowest request, whatever its answer
	maxRefuse atomic.Int64 // slowest refused request
	mu        sync.Mutex
	ids       []string    // the ids of every 201, when asked for
	sentAt    []time.Time // when each of those requests was sent
	doneAt    []time.Time // and answered
	failFirst sync.Once
}

func (o *outcome) slowest() time.Duration        { return time.Duration(o.maxNanos.Load()) }
func (o *outcome) slowestRefusal() time.Duration { return time.Duration(o.maxRefuse.Load()) }

// raise sets m to d if d is larger.
func raise(m *atomic.Int64, d int64) {
	for cur := m.Load(); d > cur && !m.CompareAndSwap(cur, d); cur = m.Load() {
	}
}

// loadSpec describes a chaos load.
type loadSpec struct {
	workers int
	max     int64           // stop after this many requests were sent
	stop    <-chan struct{} // or when this is closed
	timeout time.Duration   // client timeout of one request
	allow   map[int]bool    // statuses other than 201 that are "not accepted", not a failure
	keepIDs bool            // remember ids and timing of every 201
}

// startLoad sends random observations from spec.workers goroutines, with a
// keep-alive pool sized for them (the harness's shared client keeps only
// two idle connections, which would churn through ports at 100,000
// requests). A transport error or an unexpected status stops that worker
// and fails the test: its outcome is unknown, so no exact count could
// follow.
func startLoad(t *testing.T, api *proc, spec loadSpec) (o *outcome, wait func()) {
	t.Helper()
	if spec.timeout == 0 {
		spec.timeout = 10 * time.Second
	}
	hc := &http.Client{Timeout: spec.timeout, Transport: &http.Transport{
		MaxIdleConns: 2 * spec.workers, MaxIdleConnsPerHost: 2 * spec.workers, IdleConnTimeout: 30 * time.Second,
	}}
	o = &outcome{}
	quit := make(chan struct{}) // closed at clean-up, should a test fail first
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range spec.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for spec.max == 0 || sent.Add(1) <= spec.max {
				select {
				case <-spec.stop: // a nil channel never fires
					return
				case <-quit:
					return
				default:
				}
				trial, method := randomObservation()
				start := time.Now()
				status, id, err := recordWith(hc, api, method, trial)
				end := time.Now()
				raise(&o.maxNanos, int64(end.Sub(start)))
				switch {
				case err == nil && status == http.StatusCreated && id != "":
					o.n.Add(1)
					if trial == "w" {
						o.w.Add(1)
					}
					if spec.keepIDs {
						o.mu.Lock()
						o.ids = append(o.ids, id)
						o.sentAt = append(o.sentAt, start)
						o.doneAt = append(o.doneAt, end)
						o.mu.Unlock()
					}
				case err == nil && spec.allow[status]:
					o.refused.Add(1)
					raise(&o.maxRefuse, int64(end.Sub(start)))
				default:
					o.failFirst.Do(func() {
						t.Errorf("%s %s after %s: status %d id %q err %v", method, trial, end.Sub(start).Round(time.Millisecond), status, id, err)
					})
					return
				}
			}
		}()
	}
	var once sync.Once
	wait = func() {
		once.Do(func() {
			wg.Wait()
			hc.CloseIdleConnections()
		})
	}
	t.Cleanup(func() { close(quit); wait() })
	return o, wait
}

// batchTally is what the api accepted for one named model.
type batchTally struct{ w, n, events atomic.Int64 }

// startBatchLoad posts batches of random counts to the named models, one
// goroutine per model, until stop is called; each 201 is tallied, anything
// else fails the test (a batch is applied whole or not at all).
func startBatchLoad(t *testing.T, api *proc, names ...string) (map[string]*batchTally, func()) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	quit := make(chan struct{})
	tallies := map[string]*batchTally{}
	var wg sync.WaitGroup
	for _, name := range names {
		c := &batchTally{}
		tallies[name] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-quit:
					return
				default:
				}
				w, l := rand.Int64N(50), rand.Int64N(50)+1
				body := fmt.Sprintf(`{"w":%d,"l":%d}`, w, l)
				resp, err := hc.Post(api.url("/models/"+name+"/observations"), "application/json", strings.NewReader(body))
				if err != nil {
					t.Errorf("batch %s to %s: %v", body, name, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("batch %s to %s: %s", body, name, resp.Status)
					return
				}
				c.w.Add(w)
				c.n.Add(w + l)
				c.events.Add(1)
			}
		}()
	}
	var once sync.Once
	stop := func() { once.Do(func() { close(quit); wg.Wait() }) }
	t.Cleanup(stop)
	return tallies, stop
}

// status is the HTTP status of GET path, or 0 when nothing answered.
func status(p *proc, path string) int {
	hc := &http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Get(p.url(path))
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// counter sums the samples of one Prometheus counter from p's /metrics.
func counter(p *proc, name string) (float64, error) {
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// TestChaosBayesSIGKILLedFiveTimes kills bayes with SIGKILL five times while
// 100,000 observations go in, restarting it under the same name each time.
func TestChaosBayesSIGKILLedFiveTimes(t *testing.T) {
	const total = 100_000
	s := newSystem(t)
	bayes := s.bayes(t, "b0", "LOG_LEVEL=info")
	start := time.Now()
	o, wait := startLoad(t, s.api, loadSpec{workers: 8, max: total})
	batches, stopBatches := startBatchLoad(t, s.api, "chaos-a", "chaos-b")

	for round := int64(1); round <= 5; round++ {
		// Kill at points spread over the run, and only once this run of bayes
		// has applied something, so it dies with work in hand.
		before, err := getModel(t, bayes)
		if err != nil {
			t.Fatal(err)
		}
		var at int64
		eventually(t, 5*time.Minute, fmt.Sprintf("round %d: progress before the kill", round), func() (bool, string) {
			v, err := getModel(t, bayes)
			at = v.N
			return err == nil && v.N > before.N+500 && v.N >= round*total/7, fmt.Sprint(v.N, err)
		})
		bayes.kill()
		t.Logf("round %d: SIGKILLed bayes at n≈%d, %d accepted, after %s", round, at, o.n.Load(), time.Since(start).Round(time.Millisecond))
		bayes.start() // same CONSUMER_NAME: it finishes its own pending entries first
	}
	wait()
	stopBatches()
	loaded := time.Since(start)
	if o.n.Load() != total {
		t.Fatalf("accepted %d of %d", o.n.Load(), total)
	}
	s.settled(t, bayes, o.w.Load(), o.n.Load())
	for name, c := range batches {
		if m := waitModel(t, bayes, name, c.n.Load()); m.W != c.w.Load() {
			t.Fatalf("model %s: w=%d, the api accepted batches with w=%d (n=%d)", name, m.W, c.w.Load(), c.n.Load())
		}
		t.Logf("model %s: %d batches of counts, n=%d w=%d, exact", name, c.events.Load(), c.n.Load(), c.w.Load())
	}
	t.Logf("%d observations (w=%d) accepted in %s, model exact after %s; 5 SIGKILLs; slowest request %s",
		o.n.Load(), o.w.Load(), loaded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), o.slowest().Round(time.Millisecond))
}

// newSystemWith is newSystem with extra environment for the api.
func newSystemWith(t *testing.T, apiEnv ...string) *system {
	t.Helper()
	srv := redistest.Start(t, redistest.WithAOF())
	s := &system{redis: srv, rdb: srv.Client(), graphs: t.TempDir()}
	s.api = startProc(t, "api", "api", append([]string{"REDIS_URL=" + srv.URL()}, apiEnv...)...)
	return s
}

// TestChaosRedisSIGKILLedUnderLoad kills redis-server (AOF, fsync always)
// under load: while it is gone every request is refused with 503 within the
// api's publish timeout (plus slack),
// readiness flips on both services, and everything recovers by itself. No
// 201 is ever given for an event Redis did not store.
func TestChaosRedisSIGKILLedUnderLoad(t *testing.T) {
	const publishTimeout = time.Second
	const slack = 2 * time.Second // a request may take at most publishTimeout+slack
	ctx := context.Background()
	s := newSystemWith(t, "PUBLISH_TIMEOUT="+publishTimeout.String())
	// No trimming, so every stored entry can be matched with a 201 at the end.
	bayes := s.bayes(t, "b0", "TRIM_INTERVAL=0s", "LOG_LEVEL=info")
	stop := make(chan struct{})
	start := time.Now()
	const workers = 6
	o, wait := startLoad(t, s.api, loadSpec{workers: workers, stop: stop, timeout: publishTimeout + slack,
		allow: map[int]bool{http.StatusServiceUnavailable: true}, keepIDs: true})

	eventually(t, time.Minute, "load flowing before the kill", func() (bool, string) {
		v, err := getModel(t, bayes)
		return err == nil && v.N > 2000, fmt.Sprint(v.N, err)
	})
	refusedBefore := o.refused.Load()
	s.redis.Kill()
	killed := time.Now()
	acceptedAtKill := o.n.Load()
	t.Logf("SIGKILLed redis-server after %s, %d accepted", killed.Sub(start).Round(time.Millisecond), acceptedAtKill)

	// While Redis is gone: both services report not ready but alive, and
	// requests are refused. Stay down for a few publish timeouts so that
	// requests which waited on the dead server had to time out.
	eventually(t, 10*time.Second, "readiness flips to 503 on api and bayes", func() (bool, string) {
		a, b := status(s.api, "/readyz"), status(bayes, "/readyz")
		return a == 503 && b == 503, fmt.Sprintf("api %d bayes %d", a, b)
	})
	eventually(t, 30*time.Second, "requests refused while Redis is down", func() (bool, string) {
		r := o.refused.Load() - refusedBefore
		return r >= 3*workers && time.Since(killed) > 3*publishTimeout, fmt.Sprintf("%d refused in %s", r, time.Since(killed))
	})
	if a, b := status(s.api, "/healthz"), status(bayes, "/healthz"); a != 200 || b != 200 {
		t.Fatalf("liveness while Redis is down: api %d bayes %d, want 200 (a restart would not help)", a, b)
	}
	refusedDown := o.refused.Load() - refusedBefore
	restarted := time.Now()
	s.redis.Restart() // same port and directory; AOF brings back every acknowledged write
	t.Logf("restarted redis-server after %s down; %d requests refused meanwhile", restarted.Sub(killed).Round(time.Millisecond), refusedDown)

	eventually(t, 30*time.Second, "readiness back to 200 on api and bayes", func() (bool, string) {
		a, b := status(s.api, "/readyz"), status(bayes, "/readyz")
		return a == 200 && b == 200, fmt.Sprintf("api %d bayes %d", a, b)
	})
	acceptedAtRestart := o.n.Load()
	eventually(t, time.Minute, "accepting again after the restart", func() (bool, string) {
		return o.n.Load() > acceptedAtRestart+2000, fmt.Sprint(o.n.Load() - acceptedAtRestart)
	})
	close(stop)
	wait()

	// A request sent after the kill and answered before the restart cannot
	// have been stored: a 201 for it would be a lie.
	o.mu.Lock()
	for i := range o.ids {
		if o.sentAt[i].After(killed) && o.doneAt[i].Before(restarted) {
			t.Errorf("201 (id %s) for a request sent %s after Redis died and answered before it came back",
				o.ids[i], o.sentAt[i].Sub(killed))
		}
	}
	ids := append([]string(nil), o.ids...)
	o.mu.Unlock()
	if limit := publishTimeout + slack; o.slowest() > limit {
		t.Errorf("slowest request took %s; no request may hang longer than %s", o.slowest(), limit)
	}

	// Every 201 is in the stream. The converse cannot hold exactly: Redis
	// writes an XADD to the AOF before it sends the reply, so a SIGKILL in
	// between leaves entries stored whose requests were answered 503 (the
	// api could not know). Each such entry must have been in flight at the
	// kill, so there are at most as many as there were concurrent requests,
	// and the model must count exactly what was stored: every 201 plus those.
	entries, err := s.rdb.XRange(ctx, "update_model", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]string, len(entries))
	for _, e := range entries {
		trial, _ := e.Values["trial"].(string)
		stored[e.ID] = trial
	}
	for _, id := range ids {
		if _, ok := stored[id]; !ok {
			t.Errorf("201 with id %s, but the entry is not in the stream: an acknowledged event was lost", id)
		}
		delete(stored, id)
	}
	var extraW int64
	for id, trial := range stored {
		ms, _ := strconv.ParseInt(id[:strings.IndexByte(id, '-')], 10, 64)
		at := time.UnixMilli(ms)
		if at.Before(killed.Add(-publishTimeout-slack)) || at.After(killed.Add(time.Second)) {
			t.Errorf("entry %s (trial %q) was stored at kill%s (Redis restarted at kill+%v) but its request was "+
				"answered 503: it was not in flight at the kill, so the api wrote it after giving up on it",
				id, trial, signed(at.Sub(killed)), restarted.Sub(killed).Round(time.Millisecond))
		} else {
			t.Logf("entry %s (trial %q) stored at kill%s, its request answered 503: the reply died with Redis",
				id, trial, signed(at.Sub(killed)))
		}
		if trial == "w" {
			extraW++
		}
	}
	if len(stored) > workers {
		t.Errorf("%d entries stored without a 201; at most %d requests were in flight at the kill", len(stored), workers)
	}
	t.Logf("%d accepted (w=%d), %d stored without a 201, %d refused with 503 (slowest 503 %s, slowest request %s)",
		o.n.Load(), o.w.Load(), len(stored), o.refused.Load(), o.slowestRefusal().Round(time.Millisecond), o.slowest().Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}
	s.settled(t, bayes, o.w.Load()+extraW, o.n.Load()+int64(len(stored)))
	t.Logf("model exact at n=%d; whole run %s", o.n.Load()+int64(len(stored)), time.Since(start).Round(time.Millisecond))
}

// signed formats d with its sign, to the millisecond.
func signed(d time.Duration) string {
	if d < 0 {
		return d.Round(time.Millisecond).String()
	}
	return "+" + d.Round(time.Millisecond).String()
}

// TestChaosThreeReplicasOneReplaced runs three bayes replicas at once, kills
// one with SIGKILL mid-load and starts a new one under a new name: the
// survivors claim what the dead one held, and the count stays exact.
func TestChaosThreeReplicasOneReplaced(t *testing.T) {
	const total = 30_000
	s := newSystem(t)
	info := "LOG_LEVEL=info"
	r := []*proc{s.bayes(t, "r1", info), s.bayes(t, "r2", info), s.bayes(t, "r3", info)}
	start := time.Now()
	o, wait := startLoad(t, s.api, loadSpec{workers: 8, max: total})

	applied := func(p *proc) float64 {
		v, err := counter(p, "edb_bayes_events_applied_total")
		if err != nil {
			return -1
		}
		return v
	}
	eventually(t, 2*time.Minute, "all three replicas applying", func() (bool, string) {
		a := []float64{applied(r[0]), applied(r[1]), applied(r[2])}
		return a[0] > 0 && a[1] > 0 && a[2] > 0, fmt.Sprint(a)
	})
	eventually(t, 2*time.Minute, "a third of the run accepted", func() (bool, string) {
		return o.n.Load() > total/3, fmt.Sprint(o.n.Load())
	})
	r[1].kill()
	t.Logf("SIGKILLed r2 after %s, %d accepted", time.Since(start).Round(time.Millisecond), o.n.Load())
	r4 := s.bayes(t, "r4", info)
	eventually(t, 2*time.Minute, "the replacement applying", func() (bool, string) {
		a := applied(r4)
		return a > 0, fmt.Sprint(a)
	})
	wait()
	if o.n.Load() != total {
		t.Fatalf("accepted %d of %d", o.n.Load(), total)
	}
	s.settled(t, r[0], o.w.Load(), o.n.Load())
	for _, p := range []*proc{r[2], r4} { // every live replica serves the same model
		if v, err := getModel(t, p); err != nil || v.N != o.n.Load() || v.W != o.w.Load() {
			t.Fatalf("%s serves w=%d n=%d (%v), want w=%d n=%d", p.name, v.W, v.N, err, o.w.Load(), o.n.Load())
		}
	}
	claimed := 0.0
	for _, p := range []*proc{r[0], r[2], r4} {
		c, _ := counter(p, "edb_bayes_events_claimed_total")
		claimed += c
	}
	t.Logf("%d observations (w=%d) exact after %s with 3 replicas, r2 killed and replaced by r4; %v entries claimed",
		o.n.Load(), o.w.Load(), time.Since(start).Round(time.Millisecond), claimed)
}
