package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// system is Redis plus one api and any number of bayes replicas.
type system struct {
	redis  *redistest.Server
	rdb    *redis.Client
	api    *proc
	graphs string
}

func newSystem(t *testing.T) *system {
	t.Helper()
	srv := redistest.Start(t, redistest.WithAOF())
	s := &system{redis: srv, rdb: srv.Client(), graphs: t.TempDir()}
	s.api = startProc(t, "api", "api", "REDIS_URL="+srv.URL())
	return s
}

// bayes starts a replica named name. Claims are made quick so a killed
// replica's entries move on within the test's patience.
func (s *system) bayes(t *testing.T, name string, env ...string) *proc {
	t.Helper()
	base := []string{"REDIS_URL=" + s.redis.URL(), "GRAPHS_DIR=" + s.graphs, "CONSUMER_NAME=" + name,
		"CLAIM_MIN_IDLE=500ms", "CLAIM_INTERVAL=200ms", "TRIM_INTERVAL=300ms", "PRIOR=uniform", "LOG_LEVEL=debug"}
	return startProc(t, "bayes-"+name, "bayes", append(base, env...)...)
}

var client = &http.Client{Timeout: 10 * time.Second}

// record sends one observation and returns the status and the event id.
func record(api *proc, method, trial string) (int, string, error) {
	return recordWith(client, api, method, trial)
}

// recordWith is record with a client of the caller's choosing; every answer,
// 201 or not, must be a JSON object.
func recordWith(hc *http.Client, api *proc, method, trial string) (int, string, error) {
	req, _ := http.NewRequest(method, api.url("/update_model/"+trial), nil)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	var b struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return resp.StatusCode, "", fmt.Errorf("body %q is not JSON: %w", body, err)
	}
	return resp.StatusCode, b.ID, nil
}

// randomObservation picks a trial (about 70% water) and a method (GET or
// POST, both recorded) for load generators.
func randomObservation() (trial, method string) {
	trial, method = "l", http.MethodGet
	if rand.IntN(10) < 7 {
		trial = "w"
	}
	if rand.IntN(2) == 0 {
		method = http.MethodPost
	}
	return trial, method
}

// tally counts what the api accepted.
type tally struct{ w, n atomic.Int64 }

// load sends random observations from workers until stop is closed or max
// are accepted; every 201 is counted, anything else fails the test.
func load(t *testing.T, api *proc, workers int, max int64, stop <-chan struct{}) *tally {
	t.Helper()
	var tl tally
	var wg sync.WaitGroup
	var sent atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= max {
				select {
				case <-stop:
					return
				default:
				}
				trial, method := randomObservation()
				status, id, err := record(api, method, trial)
				if err != nil || status != http.StatusCreated || id == "" {
					t.Errorf("%s %s: status %d id %q err %v", method, trial, status, id, err)
					return
				}
				tl.n.Add(1)
				if trial == "w" {
					tl.w.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return &tl
}

// settled waits until every entry of the stream is acknowledged, then checks
// that the model holds exactly the accepted counts (nothing lost, nothing
// counted twice, also after the dust settles).
func (s *system) settled(t *testing.T, bayes *proc, w, n int64) modelView {
	t.Helper()
	waitForN(t, bayes, n)
	eventually(t, 30*time.Second, "stream fully acknowledged", func() (bool, string) {
		gs, err := s.rdb.XInfoGroups(context.Background(), "update_model").Result()
		if err != nil || len(gs) != 1 {
			return false, fmt.Sprint(gs, err)
		}
		return gs[0].Pending == 0 && gs[0].Lag == 0, fmt.Sprintf("pending %d lag %d", gs[0].Pending, gs[0].Lag)
	})
	v, err := getModel(t, bayes)
	if err != nil {
		t.Fatal(err)
	}
	if v.N != n || v.W != w {
		t.Fatalf("model has w=%d n=%d; the api accepted w=%d n=%d", v.W, v.N, w, n)
	}
	return v
}

// betaMass is the Beta(a, b) density on grid normalised to a mass, in log
// space so large counts do not underflow: the closed form of the posterior
// of a Beta(a0, b0) prior after w waters in n tosses is
// betaMass(grid, a0+w, b0+n-w). Computed here, independently of the service.
func betaMass(grid []float64, a, b float64) []float64 {
	out := make([]float64, len(grid))
	top := math.Inf(-1)
	for i, p := range grid {
		v := 0.0
		if a != 1 {
			v += (a - 1) * math.Log(p)
		}
		if b != 1 {
			v += (b - 1) * math.Log1p(-p)
		}
		out[i] = v
		top = max(top, v)
	}
	var sum float64
	for i := range out {
		out[i] = math.Exp(out[i] - top)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func TestRandomObservationsAreCountedExactly(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "b0")
	tl := load(t, s.api, 8, 3000, nil)
	v := s.settled(t, bayes, tl.w.Load(), tl.n.Load())

	if len(v.Grid) != 120 || len(v.Prior) != 120 || len(v.Posterior) != 120 {
		t.Fatalf("grid %d, prior %d, posterior %d points; want 120", len(v.Grid), len(v.Prior), len(v.Posterior))
	}
	want := betaMass(v.Grid, float64(v.W+1), float64(v.N-v.W+1)) // uniform prior: Beta(1, 1)
	var sum float64
	for i := range want {
		if d := math.Abs(v.Posterior[i] - want[i]); d > 1e-9 {
			t.Fatalf("posterior[%d] = %g, closed form %g", i, v.Posterior[i], want[i])
		}
		sum += v.Posterior[i]
	}
	if math.Abs(sum-1) > 1e-9 || !(v.HPDI.Lo <= v.Mean && v.Mean <= v.HPDI.Hi) || v.HPDI.Prob != 0.89 {
		t.Fatalf("posterior sum %v, mean %v, hpdi %+v", sum, v.Mean, v.HPDI)
	}
	// The plot of the final state appears (the renderer coalesces bursts).
	final := filepath.Join(s.graphs, fmt.Sprintf("n_%d_w_%d.png", v.N, v.W))
	eventually(t, 10*time.Second, "plot of the final state", func() (bool, string) {
		_, err := os.Stat(final)
		return err == nil, fmt.Sprint(err)
	})
	if _, err := os.Stat(filepath.Join(s.graphs, "latest.png")); err != nil {
		t.Fatal(err)
	}
}

func TestBayesKilledMidStreamLosesNothing(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "b0")
	stop := make(chan struct{})
	done := make(chan *tally)
	go func() { done <- load(t, s.api, 4, math.MaxInt64, stop) }()

	for round := range 3 {
		// Wait until bayes has applied something in this round, then kill it
		// with SIGKILL: no chance to commit the batch in hand.
		before, _ := getModel(t, bayes)
		eventually(t, 30*time.Second, "progress before kill", func() (bool, string) {
			v, err := getModel(t, bayes)
			return err == nil && v.N > before.N+200, fmt.Sprint(v.N, err)
		})
		bayes.kill()
		// Publishing goes on while bayes is down; events wait in the stream.
		eventually(t, 30*time.Second, "events piling up while bayes is down", func() (bool, string) {
			l, _ := s.rdb.XLen(context.Background(), "update_model").Result()
			return l > 0, fmt.Sprint(l)
		})
		t.Logf("round %d: killed bayes at n=%d", round, before.N)
		bayes.start() // same CONSUMER_NAME: it finishes its own pending entries first
	}
	close(stop)
	tl := <-done
	if tl.n.Load() < 600 {
		t.Fatalf("only %d observations accepted; the test did not load the system", tl.n.Load())
	}
	s.settled(t, bayes, tl.w.Load(), tl.n.Load())
}

func TestTwoReplicasAndADeadOne(t *testing.T) {
	s := newSystem(t)
	a, b := s.bayes(t, "a"), s.bayes(t, "b")
	stop := make(chan struct{})
	done := make(chan *tally)
	go func() { done <- load(t, s.api, 6, math.MaxInt64, stop) }()
	eventually(t, 30*time.Second, "both replicas consuming", func() (bool, string) {
		cs, err := s.rdb.XInfoConsumers(context.Background(), "update_model", "bayes").Result()
		return err == nil && len(cs) >= 2, fmt.Sprint(cs, err)
	})
	// Replica b dies for good; a claims whatever b held.
	b.kill()
	eventually(t, 30*time.Second, "more events after b died", func() (bool, string) {
		v, err := getModel(t, a)
		return err == nil && v.N > 1500, fmt.Sprint(v.N, err)
	})
	close(stop)
	tl := <-done
	s.settled(t, a, tl.w.Load(), tl.n.Load())
}

func TestManualPublishCountsOnceWithTwoReplicas(t *testing.T) {
	s := newSystem(t)
	a := s.bayes(t, "a")
	s.bayes(t, "b")
	ctx := context.Background()
	eventually(t, 20*time.Second, "a bridge subscribed to update_model", func() (bool, string) {
		m, err := s.rdb.PubSubNumSub(ctx, "update_model").Result()
		return err == nil && m["update_model"] == 1, fmt.Sprint(m, err)
	})
	for i := range 10 {
		trial := "w"
		if i%5 == 0 {
			trial = "l"
		}
		if got, err := s.rdb.Publish(ctx, "update_model", trial).Result(); err != nil || got != 1 {
			t.Fatalf("PUBLISH reached %d subscribers (%v); exactly one replica forwards", got, err)
		}
	}
	// The durable manual path, as the README shows it.
	if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "update_model", Values: []any{"trial", "w"}}).Err(); err != nil {
		t.Fatal(err)
	}
	s.settled(t, a, 9, 11)
}

func TestMalformedEventsAreDeadLettered(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "a")
	ctx := context.Background()
	bad := [][]any{{"trial", "x"}, {"foo", "bar"}, {"trial", "w", "ts", "soon"}, {"trial", strings.Repeat("w", 100)}}
	for i, fields := range bad {
		if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "update_model", Values: fields}).Err(); err != nil {
			t.Fatal(err)
		}
		// A good one behind each bad one: the bad never blocks the good.
		if status, _, err := record(s.api, http.MethodGet, []string{"w", "l"}[i%2]); err != nil || status != 201 {
			t.Fatalf("record: %d %v", status, err)
		}
	}
	s.settled(t, bayes, 2, 4)
	dead, err := s.rdb.XRange(ctx, "update_model:dead", "-", "+").Result()
	if err != nil || len(dead) != len(bad) {
		t.Fatalf("dead letters %d (%v), want %d", len(dead), err, len(bad))
	}
	for _, d := range dead {
		if r, _ := d.Values["reason"].(string); !strings.Contains(r, "malformed") {
			t.Errorf("dead letter %v has no reason", d.Values)
		}
	}
	// The api refuses an unknown trial with a JSON 404 before anything is stored.
	if status, _, err := record(s.api, http.MethodGet, "x"); err != nil || status != 404 {
		t.Fatalf("GET /update_model/x: %d %v", status, err)
	}
}

func TestRedisOutageAndSIGTERM(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "a")
	for range 5 {
		if status, _, err := record(s.api, http.MethodPost, "w"); err != nil || status != 201 {
			t.Fatalf("record: %d %v", status, err)
		}
	}
	s.redis.Kill()
	if status, _, err := record(s.api, http.MethodGet, "w"); err != nil || status != 503 {
		t.Fatalf("with Redis down: %d %v, want 503 JSON", status, err)
	}
	s.redis.Restart() // AOF: the 5 accepted events and the model survive
	eventually(t, 20*time.Second, "api recovers by itself", func() (bool, string) {
		status, _, err := record(s.api, http.MethodGet, "l")
		return err == nil && status == 201, fmt.Sprint(status, err)
	})
	s.settled(t, bayes, 5, 6)

	for _, p := range []*proc{bayes, s.api} {
		took, err := p.terminate(10 * time.Second)
		if err != nil {
			t.Fatalf("%s after SIGTERM: %v (took %s)\n%s", p.name, err, took, p.logs())
		}
		t.Logf("%s exited 0 in %s after SIGTERM", p.name, took.Round(time.Millisecond))
	}
}

// A consumer that died mid-batch and never came back ("ghost", e.g. a pod
// scaled away) holds pending entries. A live replica claims and applies
// them; only then is the ghost removed from the group.
func TestAbandonedEntriesAreClaimedThenTheConsumerRemoved(t *testing.T) {
	s := newSystem(t)
	ctx := context.Background()
	for range 50 {
		if status, _, err := record(s.api, http.MethodGet, "w"); err != nil || status != 201 {
			t.Fatalf("record: %d %v", status, err)
		}
	}
	if err := s.rdb.XGroupCreateMkStream(ctx, "update_model", "bayes", "0").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "bayes", Consumer: "ghost",
		Streams: []string{"update_model", ">"}, Count: 30}).Result()
	if err != nil || len(got[0].Messages) != 30 {
		t.Fatalf("ghost read %v, %v", got, err)
	}
	live := s.bayes(t, "live", "STALE_CONSUMER_AFTER=1s")
	s.settled(t, live, 50, 50)
	eventually(t, 30*time.Second, "ghost consumer removed", func() (bool, string) {
		cs, err := s.rdb.XInfoConsumers(ctx, "update_model", "bayes").Result()
		if err != nil {
			return false, err.Error()
		}
		for _, c := range cs {
			if c.Name == "ghost" {
				return false, fmt.Sprintf("ghost has %d pending", c.Pending)
			}
		}
		return true, ""
	})
}
