//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// lifeEvent is one write the api acknowledged, placed by its stream id.
type lifeEvent struct {
	id     streamID
	model  string
	action string // "observe", "reset" or "delete"
	w, l   int64
}

// lifeJournal collects what the api acknowledged, from many goroutines.
type lifeJournal struct {
	mu     sync.Mutex
	events []lifeEvent
	missed map[string]int // resets and deletes answered 404, by action
}

func (j *lifeJournal) add(e lifeEvent) {
	j.mu.Lock()
	j.events = append(j.events, e)
	j.mu.Unlock()
}

// lifeState is what a model must be after the journal's events.
type lifeState struct {
	exists     bool
	w, n       int64
	prior      string
	gridPoints int
	// How many of each the api acknowledged, for the log.
	obs, resets, deletes int
}

// replay applies the journal in stream order to models that start as
// defined (spec), with the semantics of the commit script: an observation
// creates a missing model with the default spec; a reset zeroes an
// existing model and is a no-op on a missing one; a delete removes the
// model and its spec.
func (j *lifeJournal) replay(defined map[string]lifeState) map[string]lifeState {
	j.mu.Lock()
	evs := slices.Clone(j.events)
	j.mu.Unlock()
	slices.SortFunc(evs, func(a, b lifeEvent) int {
		switch {
		case a.id.less(b.id):
			return -1
		case b.id.less(a.id):
			return 1
		}
		return 0
	})
	out := map[string]lifeState{}
	for k, v := range defined {
		out[k] = v
	}
	for _, e := range evs {
		st := out[e.model]
		switch e.action {
		case "observe":
			if !st.exists {
				st = lifeState{exists: true, prior: "uniform", gridPoints: 120, obs: st.obs, resets: st.resets, deletes: st.deletes}
			}
			st.w += e.w
			st.n += e.w + e.l
			st.obs++
		case "reset":
			st.w, st.n = 0, 0
			st.resets++
		case "delete":
			st = lifeState{obs: st.obs, resets: st.resets, deletes: st.deletes + 1}
		}
		out[e.model] = st
	}
	return out
}

// drive sends, from workers goroutines until ops writes were made, a random
// interleaving of batches of observations, resets and deletions to models;
// every acknowledgement goes into the journal. Only 201 (observations), 202
// or 404 (a reset or delete of a model the api finds missing) and 409 (a
// delete of default) are expected; anything else stops that worker and
// fails the test.
func drive(t *testing.T, api *proc, models []string, workers int, ops int64, j *lifeJournal) (done *atomic.Int64, wait func()) {
	t.Helper()
	done = &atomic.Int64{}
	var sent atomic.Int64
	var wg sync.WaitGroup
	var failOnce sync.Once
	fail := func(format string, args ...any) { failOnce.Do(func() { t.Errorf(format, args...) }) }
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= ops {
				m := models[rand.IntN(len(models))]
				var a answer
				e := lifeEvent{model: m}
				switch r := rand.IntN(100); {
				case r < 76:
					e.action = "observe"
					if m == "default" && rand.IntN(2) == 0 { // the original's path
						trial := "w"
						e.w = 1
						if rand.IntN(2) == 0 {
							trial, e.w, e.l = "l", 0, 1
						}
						a = send(http.MethodPost, api.url("/update_model/"+trial), "")
					} else {
						e.w, e.l = rand.Int64N(20), rand.Int64N(20)+1
						a = send(http.MethodPost, api.url("/models/"+m+"/observations"), fmt.Sprintf(`{"w":%d,"l":%d}`, e.w, e.l))
					}
				case r < 88:
					e.action = "reset"
					a = send(http.MethodPost, api.url("/models/"+m+"/reset"), "")
				default:
					e.action = "delete"
					a = send(http.MethodDelete, api.url("/models/"+m), "")
				}
				want := http.StatusCreated
				switch {
				case e.action != "observe" && a.status == http.StatusNotFound && m != "default":
					if _, err := a.problemDetail(); err != nil {
						fail("%s %s: %v", e.action, m, err)
						return
					}
					j.mu.Lock()
					j.missed[e.action]++
					j.mu.Unlock()
					done.Add(1)
					continue
				case e.action == "delete" && m == "default":
					want = http.StatusConflict
				case e.action != "observe":
					want = http.StatusAccepted
				}
				if a.err != nil || a.status != want {
					fail("%s %s: %s, want %d", e.action, m, a, want)
					return
				}
				if want == http.StatusConflict {
					if _, err := a.problemDetail(); err != nil {
						fail("delete default: %v", err)
						return
					}
					done.Add(1)
					continue
				}
				b, err := a.accepted()
				if err == nil && m != "default" && b.Model != m {
					err = fmt.Errorf("answer names model %q", b.Model)
				}
				if err == nil {
					e.id, err = parseStreamID(b.ID)
				}
				if err != nil {
					fail("%s %s: %v", e.action, m, err)
					return
				}
				j.add(e)
				done.Add(1)
			}
		}()
	}
	var once sync.Once
	wait = func() { once.Do(wg.Wait) }
	t.Cleanup(wait)
	return done, wait
}

// TestChaosDeleteResetInterleavedWithSIGKILLs: observations, resets and
// deletions of four models (default among them) in a random interleaving
// from eight clients, while two bayes replicas are SIGKILLed and restarted
// in four rounds (both at once in the last). Once the stream is drained, each model
// counts exactly the acknowledged observations after its last acknowledged
// reset or deletion in stream order, on both replicas; a model whose last
// word was a deletion is gone everywhere (bayes, names set, index, keys);
// a model created afresh after a deletion has the default spec, one only
// ever reset keeps its own; nothing is dead-lettered.
func TestChaosDeleteResetInterleavedWithSIGKILLs(t *testing.T) {
	deleteResetScenario(t, 2, 4)
}

// deleteResetScenario drives 4,000 writes at four models through replicas
// bayes replicas, SIGKILLing them in rounds (one in turn, all of them in
// the last round), and checks each model against the journal.
func deleteResetScenario(t *testing.T, replicas int, rounds int64) {
	const ops = 4000
	ctx := context.Background()
	s := newSystem(t)
	var rs []*proc
	for i := range replicas {
		rs = append(rs, s.bayes(t, fmt.Sprintf("r%d", i+1), "LOG_LEVEL=info"))
	}
	models := []string{"default", "life-a", "life-b", "life-c"}
	defined := map[string]lifeState{"default": {exists: true, prior: "uniform", gridPoints: 120}}
	for i, m := range models[1:] {
		spec := lifeState{exists: true, prior: fmt.Sprintf("beta:%d,2", i+2), gridPoints: 50 + i}
		mustAccept(t, "PUT", s.api.url("/models/"+m), fmt.Sprintf(`{"prior":"%s","grid_points":%d}`, spec.prior, spec.gridPoints), 202, m, "")
		defined[m] = spec
	}
	for _, m := range models[1:] {
		waitModel(t, rs[0], m, 0)
	}

	start := time.Now()
	j := &lifeJournal{missed: map[string]int{}}
	done, wait := drive(t, s.api, models, 8, ops, j)
	groupRead := func() int64 {
		gs, err := s.rdb.XInfoGroups(ctx, "update_model").Result()
		if err != nil || len(gs) != 1 {
			return -1
		}
		return gs[0].EntriesRead
	}
	for round := int64(1); round <= rounds; round++ {
		// Kill at points spread over the run, each after the group read
		// something since the last restart, so the replicas die with work.
		read := groupRead()
		eventually(t, 3*time.Minute, fmt.Sprintf("round %d: progress before the kill", round), func() (bool, string) {
			r := groupRead()
			return done.Load() >= round*ops/(rounds+1) && r > read+100, fmt.Sprintf("%d acknowledged, group read %d", done.Load(), r)
		})
		victims := []*proc{rs[int(round)%len(rs)]}
		if round == rounds {
			victims = rs
		}
		for _, v := range victims {
			v.kill()
		}
		t.Logf("round %d: SIGKILLed %d replica(s) with %d writes answered, after %s", round, len(victims), done.Load(), time.Since(start).Round(time.Millisecond))
		for _, v := range victims {
			v.start() // same CONSUMER_NAME: it finishes its own pending entries first
		}
	}
	wait()
	if t.Failed() {
		t.FailNow()
	}
	driven := time.Since(start)
	waitDrained(t, s.rdb, 2*time.Minute)

	want := j.replay(defined)
	for _, m := range models {
		w := want[m]
		for _, r := range rs {
			code, v, err := modelStatus(r, m)
			switch {
			case err != nil:
				t.Errorf("%s: GET /models/%s: %v", r.name, m, err)
			case m == "default":
				if code != 200 || v.W != w.w || v.N != w.n {
					t.Errorf("%s: default is %d w=%d n=%d; the acknowledged events after its last reset give w=%d n=%d", r.name, code, v.W, v.N, w.w, w.n)
				}
			case !w.exists:
				if code != 404 {
					t.Errorf("%s: %s, deleted with no observation after, answers %d w=%d n=%d", r.name, m, code, v.W, v.N)
				}
			case code != 200 || v.W != w.w || v.N != w.n || v.PriorSpec != w.prior || v.GridPoints != w.gridPoints:
				t.Errorf("%s: %s is %d w=%d n=%d %s/%d; the acknowledged events after its last reset or deletion give w=%d n=%d %s/%d",
					r.name, m, code, v.W, v.N, v.PriorSpec, v.GridPoints, w.w, w.n, w.prior, w.gridPoints)
			}
		}
		if m == "default" {
			continue
		}
		inSet, err := s.rdb.SIsMember(ctx, modelsSetKey, m).Result()
		if err != nil {
			t.Fatal(err)
		}
		zerr := s.rdb.ZScore(ctx, modelsIndexKey, m).Err()
		keys, err := s.rdb.Exists(ctx, "update_model:spec:"+m).Result()
		if err != nil {
			t.Fatal(err)
		}
		if inSet != w.exists || (zerr == nil) != w.exists || (keys == 1) != w.exists || (zerr != nil && zerr != redis.Nil) {
			t.Errorf("%s (exists: %v): in names set %v, in index %v (%v), spec key %v", m, w.exists, inSet, zerr == nil, zerr, keys == 1)
		}
		t.Logf("%s: %d observations, %d resets, %d deletions acknowledged; ends %s", m, w.obs, w.resets, w.deletes, describe(w))
	}
	t.Logf("default: %d observations, %d resets acknowledged; ends %s", want["default"].obs, want["default"].resets, describe(want["default"]))
	dead, err := deadLetters(ctx, s.rdb)
	if err != nil || len(dead) != 0 {
		t.Errorf("dead letters %v (%v): none expected", dead, err)
	}
	j.mu.Lock()
	t.Logf("%d writes (%d acknowledged, %d resets and %d deletions refused 404 as missing) in %s, %d replicas, %d SIGKILL rounds; checked after %s",
		ops, len(j.events), j.missed["reset"], j.missed["delete"], driven.Round(time.Millisecond), replicas, rounds, time.Since(start).Round(time.Millisecond))
	j.mu.Unlock()
}

func describe(s lifeState) string {
	if !s.exists {
		return "deleted"
	}
	return fmt.Sprintf("w=%d n=%d %s", s.w, s.n, strings.TrimSpace(s.prior))
}
