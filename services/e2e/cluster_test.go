package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// TestClusterShardsModels runs the api and two bayes replicas on a Redis
// Cluster of three masters and three replicas, with the models sharded
// over three streams (REDIS_WAIT_REPLICAS=1, so every batch is confirmed by
// a replica): 60 models spread over the three shards take concurrent
// batches through the api and count them exactly on both replicas;
// GET /models pages over every shard and lists each model once, in byte
// order after default; the original's XADD and PUBLISH count on the
// default model, on shard 0; an entry written by hand onto another shard's
// stream than its model's is dead-lettered as wrong_shard; a model on a
// shard other than 0 can be defined, reset and deleted; no service logs a
// CROSSSLOT error.
func TestClusterShardsModels(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	s := newClusterSystem(t, clusterConfig{shards: 3, waitReplicas: 1, replicas: 2})
	up := time.Since(start)
	models := modelNames("cm", 60)
	perShard := s.byShard(models)
	for i, names := range perShard {
		if len(names) == 0 {
			t.Fatalf("no model of %v lives on shard %d: the placement does not spread", models, i)
		}
	}
	t.Logf("models per shard: %d, %d, %d", len(perShard[0]), len(perShard[1]), len(perShard[2]))

	// A defined model on the last shard: its spec lives there, and the api
	// and bayes must both find it.
	defined := ""
	for _, name := range modelNames("spec", 100) {
		if s.shards.Of(name) == 2 {
			defined = name
			break
		}
	}
	mustAccept(t, "PUT", s.api.url("/models/"+defined), `{"prior":"beta:2,2","grid_points":50}`, 202, defined, "")
	for _, b := range s.bayes {
		waitModel(t, b, defined, 0)
	}
	models = append(models, defined)

	// Concurrent batches over every shard, and the original's requests for
	// the default model.
	loadStart := time.Now()
	l, wait := s.startClusterLoad(t, models, clusterLoadSpec{workers: 8, max: 1500, legacyEvery: 10})
	wait()
	loaded := time.Since(loadStart)
	if t.Failed() {
		t.FailNow()
	}
	want := l.counts()
	shardHits := make([]int, s.shards.Count())
	for _, a := range l.snapshot() {
		shardHits[s.shards.Of(a.model)]++
	}
	for i, n := range shardHits {
		if n == 0 {
			t.Fatalf("no observation went to shard %d", i)
		}
	}
	s.waitCounts(t, want, time.Minute)
	t.Logf("%d requests answered 201 in %s (per shard %v), every model exact on both replicas after %s",
		l.accepted(), loaded.Round(time.Millisecond), shardHits, time.Since(loadStart).Round(time.Millisecond))
	if v, err := getModelAt(s.bayes[1], "/models/"+defined); err != nil || v.PriorSpec != "beta:2,2" || v.GridPoints != 50 {
		t.Fatalf("%s (shard 2) is %s/%d (%v), want its definition beta:2,2/50", defined, v.PriorSpec, v.GridPoints, err)
	}

	// Paging merges the shards: every model once, in byte order after
	// default, with its counts.
	wantNames := []string{events.DefaultModel}
	for _, m := range slices.Sorted(slices.Values(models)) {
		if m != events.DefaultModel {
			wantNames = append(wantNames, m)
		}
	}
	for _, limit := range []int{7, 100} {
		for _, b := range s.bayes {
			names, err := walkModels(b, limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names, wantNames) {
				t.Fatalf("%s: GET /models?limit=%d walks %v, want %v", b.name, limit, names, wantNames)
			}
		}
	}
	page, err := listModels(s.bayes[0], 100, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page.Models {
		if c := want[m.Name]; m.W != c.w || m.N != c.n {
			t.Errorf("GET /models lists %s with w=%d n=%d, want w=%d n=%d", m.Name, m.W, m.N, c.w, c.n)
		}
	}

	// The original's paths feed shard 0's stream, update_model, which is the
	// name they always wrote to.
	if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "update_model", Values: []any{"trial", "w"}}).Err(); err != nil {
		t.Fatalf("XADD update_model * trial w: %v", err)
	}
	bridge := s.pubsubBridge(t)
	pub := bridge.Client()
	for _, trial := range []string{"w", "l", "w", "w"} {
		if got, err := pub.Publish(ctx, "update_model", trial).Result(); err != nil || got != 1 {
			t.Fatalf("PUBLISH update_model %s on %s reached %d subscribers (%v); exactly one replica forwards", trial, bridge.Addr(), got, err)
		}
	}
	def := want[events.DefaultModel]
	def.w, def.n = def.w+4, def.n+5
	want[events.DefaultModel] = def
	s.waitCounts(t, map[string]modelCounts{events.DefaultModel: def}, 30*time.Second)

	// An entry written by hand onto a stream its model does not live on is
	// dead-lettered, on that stream's shard, and counts for nothing.
	victim := perShard[1][0]
	ids := map[int]string{}
	for _, wrong := range []int{0, 2} {
		id, err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.shards.Stream(wrong), Values: []any{"model", victim, "w", "3", "l", "2"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids[wrong] = id
	}
	for wrong, id := range ids {
		eventually(t, 30*time.Second, fmt.Sprintf("entry %s of %s on %s dead-lettered", id, victim, s.shards.Stream(wrong)), func() (bool, string) {
			dead, err := s.clusterDeadLetters(ctx, wrong)
			if err != nil {
				return false, err.Error()
			}
			d, ok := dead[id]
			if ok && (d.code != "wrong_shard" || !strings.Contains(d.reason, s.shards.Stream(1))) {
				t.Fatalf("entry %s dead-lettered with code %q reason %q; want wrong_shard, naming %s", id, d.code, d.reason, s.shards.Stream(1))
			}
			return ok, fmt.Sprint(dead)
		})
	}
	s.waitDrained(t, 30*time.Second)
	s.waitCounts(t, map[string]modelCounts{victim: want[victim]}, 10*time.Second)

	// Reset and delete of models on shards 1 and 2.
	reset, deleted := perShard[1][1], perShard[2][0]
	for _, c := range []struct{ method, path, model, action string }{
		{http.MethodPost, "/models/" + reset + "/reset", reset, "reset"},
		{http.MethodDelete, "/models/" + deleted, deleted, "delete"},
	} {
		a := send(c.method, s.api.url(c.path), "")
		b, err := a.accepted()
		if err != nil || a.status != http.StatusAccepted || b.Model != c.model || b.Action != c.action || b.Stream != s.streamOf(c.model) {
			t.Fatalf("%s %s: %s (%v), want 202 %s of %s on %s", c.method, c.path, a, err, c.action, c.model, s.streamOf(c.model))
		}
	}
	want[reset] = modelCounts{}
	delete(want, deleted)
	for _, b := range s.bayes {
		waitAbsent(t, b, deleted)
	}
	s.waitCounts(t, map[string]modelCounts{reset: {}}, 30*time.Second)
	if a := send(http.MethodPost, s.api.url("/models/"+reset+"/observations"), `{"w":2,"l":1}`); a.err != nil || a.status != http.StatusCreated {
		t.Fatalf("observation after the reset: %s", a)
	}
	want[reset] = modelCounts{w: 2, n: 3}
	s.waitCounts(t, map[string]modelCounts{reset: want[reset]}, 30*time.Second)
	for _, key := range []string{s.key(2, "model:"+deleted), s.shards.SpecKey(deleted)} {
		if n, err := s.rdb.Exists(ctx, key).Result(); err != nil || n != 0 {
			t.Errorf("%s after the deletion: exists=%d %v", key, n, err)
		}
	}
	if in, err := s.rdb.SIsMember(ctx, s.shards.ModelsKey(2), deleted).Result(); err != nil || in {
		t.Errorf("%s still in %s (%v)", deleted, s.shards.ModelsKey(2), err)
	}
	if err := s.rdb.ZScore(ctx, s.key(2, "models:index"), deleted).Err(); err != redis.Nil {
		t.Errorf("%s still in %s (%v)", deleted, s.key(2, "models:index"), err)
	}
	names, err := walkModels(s.bayes[0], 10)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, deleted) || len(names) != len(wantNames)-1 {
		t.Fatalf("GET /models after deleting %s walks %d names: %v", deleted, len(names), names)
	}

	// Every count still exact, and the two hand-written entries the only
	// dead letters.
	s.waitCounts(t, want, 30*time.Second)
	for i := range s.shards.Count() {
		dead, err := s.clusterDeadLetters(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		for src, d := range dead {
			if ids[i] != src {
				t.Errorf("shard %d dead-lettered %s (%s: %s); only the hand-written entries on the wrong shard were expected", i, src, d.code, d.reason)
			}
		}
	}
	t.Logf("cluster up with api and 2 replicas in %s; whole test %s", up.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// pubsubBridge waits until exactly one bayes replica is subscribed to the
// update_model channel, on any node of the cluster, and returns that node:
// PUBLISH there answers how many of its own clients got the message (a
// cluster forwards a message to every node, but counts only the local
// subscribers).
func (s *clusterSystem) pubsubBridge(t *testing.T) *redistest.Server {
	t.Helper()
	var at *redistest.Server
	eventually(t, 20*time.Second, "one replica subscribed to update_model", func() (bool, string) {
		total, where := int64(0), []string{}
		at = nil
		for _, n := range s.cluster.Running() {
			cl := redis.NewClient(&redis.Options{Addr: n.Addr()})
			m, err := cl.PubSubNumSub(context.Background(), "update_model").Result()
			_ = cl.Close()
			if err != nil {
				return false, err.Error()
			}
			if m["update_model"] > 0 {
				total += m["update_model"]
				where = append(where, n.Addr())
				at = n
			}
		}
		return total == 1, fmt.Sprintf("%d subscribers on %v", total, where)
	})
	return at
}
