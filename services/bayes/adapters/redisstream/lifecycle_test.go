package redisstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// refModel is what a model should be after a sequence of events, computed
// the obvious way, one event at a time.
type refModel struct {
	exists bool
	w, n   int64
}

// Deletes and resets interleaved with observations and definitions, in
// random batches, some delivered twice: every model ends with exactly the
// counts of the events after its last delete or reset, a deleted model is
// gone from the set, the index and the store, and each model's epochs only
// grow.
func TestDeleteAndResetApplyOnceInStreamOrder(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			f := setup(t)
			c := f.consumer(t, "a")
			rng := rand.New(rand.NewPCG(seed, 12))
			names := []string{"default", "ab", "cd", "ef"}
			ref := map[string]*refModel{}
			for _, n := range names {
				ref[n] = &refModel{exists: n == "default"}
			}
			lastEpoch := map[string]int64{}
			var history [][]command.Entry
			for range 40 {
				for range 1 + rng.IntN(12) {
					name := names[rng.IntN(len(names))]
					r := ref[name]
					switch k := rng.IntN(10); {
					case k == 0 && name != "default":
						f.add(t, "kind", "delete", "model", name)
						*r = refModel{}
					case k == 1:
						f.add(t, "kind", "reset", "model", name)
						if r.exists {
							r.w, r.n = 0, 0
						}
					case k == 2:
						f.add(t, "kind", "define", "model", name, "prior", testSpec.Prior, "grid_points", fmt.Sprint(testSpec.GridPoints))
						r.exists = true
					case k < 6:
						trial := []string{"w", "l"}[rng.IntN(2)]
						f.add(t, "model", name, "trial", trial)
						r.exists = true
						r.n++
						if trial == "w" {
							r.w++
						}
					default:
						w, l := rng.Int64N(5), 1+rng.Int64N(5)
						f.add(t, "model", name, "w", fmt.Sprint(w), "l", fmt.Sprint(l))
						r.exists = true
						r.w, r.n = r.w+w, r.n+w+l
					}
				}
				batch, err := c.ReadNew(ctx, 100, 0)
				if err != nil {
					t.Fatal(err)
				}
				history = append(history, batch)
				res := f.commit(t, batch)
				if res.DeadLettered != 0 || res.Skipped != 0 {
					t.Fatalf("batch: %s", summary(res))
				}
				for _, st := range res.States {
					if st.Epoch < lastEpoch[st.Name] {
						t.Fatalf("%s went from epoch %d to %d", st.Name, lastEpoch[st.Name], st.Epoch)
					}
					lastEpoch[st.Name] = st.Epoch
					if r := ref[st.Name]; st.Deleted != !r.exists && st.Name != "default" {
						// A state says deleted only if the batch left it so.
						t.Fatalf("%s: state %+v, reference %+v", st.Name, st, *r)
					}
				}
				// A redelivery of an earlier batch changes nothing.
				if old := history[rng.IntN(len(history))]; rng.IntN(3) == 0 {
					if res := f.commit(t, old); res.Applied != 0 || res.Skipped != len(old) {
						t.Fatalf("redelivery: %s", summary(res))
					}
				}
			}
			got, err := f.led.Models(ctx, names...)
			if err != nil {
				t.Fatal(err)
			}
			listed, err := f.led.ModelNames(ctx)
			if err != nil {
				t.Fatal(err)
			}
			page, _, err := f.led.ModelPage(ctx, "", "", 10)
			if err != nil {
				t.Fatal(err)
			}
			for i, name := range names {
				r, g := ref[name], got[i]
				if g.Counts != (model.Counts{W: r.w, N: r.n}) || (g.Exists != r.exists && name != "default") {
					t.Errorf("%s = %+v, want %+v", name, g, *r)
				}
				if name != "default" && (slices.Contains(listed, name) != r.exists || slices.Contains(page, name) != r.exists) {
					t.Errorf("%s listed %v, indexed %v, want %v", name, listed, page, r.exists)
				}
			}
		})
	}
}

// A delete of the default model never reaches the ledger (the decoder
// dead-letters it), a reset of a model that does not exist creates nothing,
// and an observation after a delete creates the model afresh, at a later
// epoch than anything it had.
func TestDeleteResetEdges(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := f.consumer(t, "a")
	f.add(t, "kind", "delete")                  // the default model: dead letter
	f.add(t, "kind", "reset", "model", "ghost") // nothing to reset
	f.add(t, "kind", "delete", "model", "ghost")
	f.add(t, "model", "ab", "w", "3", "l", "1")
	f.add(t, "kind", "reset", "model", "ab")
	f.add(t, "model", "ab", "trial", "w")
	res := f.commit(t, readNew(t, c, 6))
	if got := summary(res); got != "applied 5 skipped 0 dead 1 daaaaa ab=1/1" {
		t.Fatalf("commit = %s", got)
	}
	if res.States[0].Epoch != 1 {
		t.Fatalf("ab after one reset: %+v", res.States[0])
	}
	if got, _ := f.led.Models(ctx, "ghost"); got[0].Exists {
		t.Fatalf("ghost = %+v", got[0])
	}
	f.add(t, "kind", "delete", "model", "ab")
	res = f.commit(t, readNew(t, c, 1))
	if len(res.States) != 1 || !res.States[0].Deleted || res.States[0].Name != "ab" {
		t.Fatalf("delete states = %+v", res.States)
	}
	for _, k := range []string{f.keys.State("ab"), f.keys.Spec("ab")} {
		if n, _ := f.rdb.Exists(ctx, k).Result(); n != 0 {
			t.Fatalf("%s still exists", k)
		}
	}
	f.add(t, "model", "ab", "trial", "l")
	res = f.commit(t, readNew(t, c, 1))
	if got := summary(res); got != "applied 1 skipped 0 dead 0 a ab=0/1" || res.States[0].Epoch != 3 || res.States[0].Spec != testSpec {
		t.Fatalf("after the delete = %s %+v", got, res.States)
	}
}

func outcomeCodes(r command.Result) string {
	var b strings.Builder
	for _, o := range r.Outcomes {
		if o.Code == "" {
			b.WriteString("-,")
		} else {
			b.WriteString(o.Code + ",")
		}
	}
	return b.String()
}

// At the model limit a new model is dead-lettered with the reason
// model_limit, whether an observation or a definition would create it;
// existing models and the default one keep counting (the default model
// counts towards the limit but is never refused), and deletes make room.
func TestModelLimit(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client()
	keys := redisstream.KeysFor("obs")
	f := fixture{rdb: rdb, keys: keys, led: redisstream.NewLedger(rdb, keys, testSpec, redisstream.WithMaxModels(2)), srv: srv}
	c := f.consumer(t, "a")
	f.add(t, "model", "a1", "trial", "w")
	f.add(t, "model", "a2", "trial", "w")
	over := f.add(t, "model", "a3", "w", "2", "l", "1")
	f.add(t, "kind", "define", "model", "a4", "prior", "uniform", "grid_points", "20")
	f.add(t, "model", "a1", "trial", "l")
	f.add(t, "trial", "w") // default: never refused
	res := f.commit(t, readNew(t, c, 6))
	if got := summary(res); got != "applied 4 skipped 0 dead 2 aaddaa a1=1/2 a2=1/1 default=1/1" {
		t.Fatalf("commit = %s", got)
	}
	if got := outcomeCodes(res); got != "-,-,model_limit,model_limit,-,-," {
		t.Fatalf("codes = %s", got)
	}
	dead, err := rdb.XRange(ctx, keys.DeadLetter, "-", "+").Result()
	if err != nil || len(dead) != 2 {
		t.Fatalf("dead letters %v, %v", dead, err)
	}
	d := dead[0].Values
	var fields map[string]string
	_ = json.Unmarshal([]byte(d["fields"].(string)), &fields)
	if d["source_id"] != over || d["code"] != "model_limit" || !strings.Contains(d["reason"].(string), `MAX_MODELS=2); model "a3" was not created`) ||
		!maps.Equal(fields, map[string]string{"model": "a3", "w": "2", "l": "1"}) {
		t.Fatalf("dead letter = %v", d)
	}
	if got, _ := f.led.Models(ctx, "a3", "a4"); got[0].Exists || got[1].Exists {
		t.Fatalf("refused models exist: %+v", got)
	}
	// The default model counts (3 models now, over the cap it was never
	// refused by): one delete leaves 2, still no room; two make room.
	f.add(t, "kind", "delete", "model", "a2")
	f.add(t, "model", "a3", "trial", "w")
	f.add(t, "kind", "delete", "model", "a1")
	f.add(t, "model", "a4", "trial", "w")
	if got := summary(f.commit(t, readNew(t, c, 4))); got != "applied 3 skipped 0 dead 1 adaa a2=0/0 a1=0/0 a4=1/1" {
		t.Fatalf("after deletes = %s", got)
	}
}

// Pages of the names' index: byte order, after a cursor, by prefix, the
// default model left out (the query lists it first), and an index built at
// start-up for names created before it existed.
func TestModelPage(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := f.consumer(t, "a")
	want := []string{"A1", "a-1", "a_2", "ab", "abc", "b"}
	for _, n := range append([]string{"default"}, want...) {
		f.add(t, "model", n, "trial", "w")
	}
	f.commit(t, readNew(t, c, len(want)+1))
	var walked []string
	after := ""
	for {
		page, more, err := f.led.ModelPage(ctx, after, "", 2)
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, page...)
		if !more {
			break
		}
		after = page[len(page)-1]
	}
	if strings.Join(walked, ",") != strings.Join(want, ",") {
		t.Fatalf("walk = %v", walked)
	}
	for _, tc := range []struct {
		after, prefix string
		limit         int
		want          string
		more          bool
	}{
		{"", "a", 10, "a-1,a_2,ab,abc", false},
		{"", "ab", 1, "ab", true},
		{"ab", "ab", 5, "abc", false},
		{"A", "a", 5, "a-1,a_2,ab,abc", false},
		{"abc", "a", 5, "", false},
		{"", "de", 5, "", false},
		{"", "z", 5, "", false},
		{"", "", 0, "", false},
	} {
		page, more, err := f.led.ModelPage(ctx, tc.after, tc.prefix, tc.limit)
		if err != nil || strings.Join(page, ",") != tc.want || more != tc.more {
			t.Errorf("ModelPage(%q, %q, %d) = %v, %v, %v; want %s, %v", tc.after, tc.prefix, tc.limit, page, more, err, tc.want, tc.more)
		}
	}
	if n, err := f.led.ModelCount(ctx); err != nil || n != len(want)+1 {
		t.Fatalf("ModelCount = %d, %v", n, err)
	}
	// Names from before the index: indexed once, then nothing to do.
	f.rdb.Del(ctx, f.keys.Index)
	f.rdb.SAdd(ctx, f.keys.Models, "old")
	if n, err := f.led.IndexNames(ctx); err != nil || n != len(want)+2 {
		t.Fatalf("IndexNames = %d, %v", n, err)
	}
	if n, err := f.led.IndexNames(ctx); err != nil || n != 0 {
		t.Fatalf("IndexNames again = %d, %v", n, err)
	}
	if page, _, _ := f.led.ModelPage(ctx, "b", "", 5); strings.Join(page, ",") != "old" {
		t.Fatalf("after b = %v", page)
	}
}

func statuses(r command.Result) string {
	var b strings.Builder
	for _, o := range r.Outcomes {
		b.WriteByte(byte(o.Status))
	}
	return b.String()
}

// replicas is a fresh fixture with two consumers of its group, a and b,
// each with a ledger committing as it; f.led is a's.
func replicas(t *testing.T) (f fixture, ledA, ledB *redisstream.Ledger, a, b *redisstream.Consumer) {
	t.Helper()
	f = setup(t)
	ledA = redisstream.NewLedger(f.rdb, f.keys, testSpec, redisstream.WithConsumer("a"))
	ledB = redisstream.NewLedger(f.rdb, f.keys, testSpec, redisstream.WithConsumer("b"))
	f.led = ledA
	return f, ledA, ledB, f.consumer(t, "a"), f.consumer(t, "b")
}

// Two replicas holding a model's entries on either side of a reset commit
// in the wrong order: the reset waits for the older observation, the newer
// one waits for the reset, and the model ends as stream order says.
func TestOrderBarrierAcrossConsumers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		kind string
		want model.Counts
	}{
		{"reset", "reset", model.Counts{W: 1, N: 2}},
		{"delete", "delete", model.Counts{W: 1, N: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ledA, ledB, a, b := replicas(t)
			f.add(t, "model", "m", "w", "5", "l", "5") // before the change: wiped by it
			f.add(t, "model", "x", "trial", "w")       // another model: never held back
			batchA := readNew(t, a, 2)
			f.add(t, "kind", tc.kind, "model", "m")
			f.add(t, "model", "m", "trial", "w")
			f.add(t, "model", "m", "trial", "l")
			batchB := readNew(t, b, 3)
			// B first: the change and what follows it wait for A's older entry.
			res, err := ledB.Commit(ctx, batchB)
			if err != nil || statuses(res) != "www" || res.Applied != 0 {
				t.Fatalf("B first = %s %+v, %v", statuses(res), res, err)
			}
			if res, err := ledA.Commit(ctx, batchA); err != nil || statuses(res) != "aa" {
				t.Fatalf("A = %s, %v", statuses(res), err)
			}
			held := res.Waiting(batchB)
			if len(held) != 3 {
				t.Fatalf("held back %d", len(held))
			}
			if res, err = ledB.Commit(ctx, held); err != nil || statuses(res) != "aaa" {
				t.Fatalf("B again = %s, %v", statuses(res), err)
			}
			got, _ := ledA.Models(ctx, "m", "x")
			if got[0].Counts != tc.want || got[1].Counts != (model.Counts{W: 1, N: 1}) {
				t.Fatalf("m = %+v, x = %+v; want m %+v", got[0], got[1], tc.want)
			}
		})
	}
	// A definition does not commute with the observations around it either:
	// the first entry of a model to be committed creates it, with the
	// definition's spec or the default one. Seen on kind: the observation
	// right after a PUT reached the other bayes replica, was committed
	// first and created the model with the default spec, and the definition
	// went to the dead letters as a conflict.
	for _, tc := range []struct {
		name       string
		defineLast bool   // the definition is the newer entry
		want       string // the model's spec in the end
		dead       int64
	}{
		{"definition then observation", false, "beta:2,2", 0},
		{"observation then definition", true, testSpec.Prior, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ledA, ledB, a, b := replicas(t)
			define := []string{"kind", "define", "model", "m", "prior", "beta:2,2", "grid_points", "200"}
			observe := []string{"model", "m", "trial", "w"}
			first, second := define, observe
			if tc.defineLast {
				first, second = observe, define
			}
			f.add(t, first...)
			batchA := readNew(t, a, 1)
			f.add(t, second...)
			batchB := readNew(t, b, 1)
			// B, holding the newer entry, commits first: it waits.
			res, err := ledB.Commit(ctx, batchB)
			if err != nil || statuses(res) != "w" {
				t.Fatalf("B first = %s, %v", statuses(res), err)
			}
			if res, err := ledA.Commit(ctx, batchA); err != nil || statuses(res) != "a" {
				t.Fatalf("A = %s, %v", statuses(res), err)
			}
			if _, err = ledB.Commit(ctx, res.Waiting(batchB)); err != nil {
				t.Fatalf("B again: %v", err)
			}
			got, _ := ledA.Models(ctx, "m")
			if got[0].Spec.Prior != tc.want || got[0].Counts != (model.Counts{W: 1, N: 1}) {
				t.Fatalf("m = %+v; want spec %s, w=1 n=1", got[0], tc.want)
			}
			if n, err := f.rdb.XLen(ctx, f.keys.DeadLetter).Result(); err != nil || n != tc.dead {
				t.Fatalf("dead letters %d, %v; want %d", n, err, tc.dead)
			}
		})
	}
	// The other way round: the newer observation reaches a commit while the
	// change before it is still in another replica's hands.
	t.Run("newer first", func(t *testing.T) {
		f, ledA, ledB, a, b := replicas(t)
		f.add(t, "model", "m", "w", "5", "l", "5")
		f.commit(t, readNew(t, a, 1))
		f.add(t, "kind", "reset", "model", "m")
		batchA := readNew(t, a, 1)
		f.add(t, "model", "m", "trial", "w")
		f.add(t, "model", "y", "trial", "l")
		batchB := readNew(t, b, 2)
		res, err := ledB.Commit(ctx, batchB)
		if err != nil || statuses(res) != "wa" {
			t.Fatalf("B first = %s, %v", statuses(res), err)
		}
		if res, err := ledA.Commit(ctx, batchA); err != nil || statuses(res) != "a" {
			t.Fatalf("A = %s, %v", statuses(res), err)
		}
		if res, err = ledB.Commit(ctx, res.Waiting(batchB)); err != nil || statuses(res) != "a" {
			t.Fatalf("B again = %s, %v", statuses(res), err)
		}
		if got, _ := ledA.Models(ctx, "m"); got[0].Counts != (model.Counts{W: 1, N: 1}) {
			t.Fatalf("m = %+v", got[0])
		}
	})
}
