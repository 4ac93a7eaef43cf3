package redisstream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// One shard on a plain Redis keeps every name bayes always used; other
// layouts carry the shard's hash tag on every key but the stream, and the
// bridge's lease is in shard 0's slot.
func TestShardKeys(t *testing.T) {
	if got, want := redisstream.KeysFor("obs"), redisstream.ShardKeys(events.OneShard("obs"), 0); got != want {
		t.Fatalf("KeysFor = %+v, want shard 0 of one shard %+v", got, want)
	}
	k := redisstream.KeysFor("update_model")
	if got := []string{k.Stream, k.Group, k.DeadLetter, k.Models, k.Index, k.Epochs, k.Lease, k.State("default"), k.Spec("ab")}; !slices.Equal(got, []string{
		"update_model", "bayes", "update_model:dead", "update_model:models", "update_model:models:index", "update_model:epochs",
		"update_model:pubsub-bridge", "update_model:model:default", "update_model:spec:ab",
	}) {
		t.Fatalf("one shard: %q", got)
	}
	cluster, _ := events.NewShards("obs", 3, true)
	for i, want := range [][]string{
		{"obs", "{obs}:dead", "{obs}:models", "{obs}:models:index", "{obs}:epochs", "{obs}:pubsub-bridge", "{obs}:model:m", "{obs}:spec:m"},
		{"obs:2", "{obs:2}:dead", "{obs:2}:models", "{obs:2}:models:index", "{obs:2}:epochs", "{obs}:pubsub-bridge", "{obs:2}:model:m", "{obs:2}:spec:m"},
	} {
		k := redisstream.ShardKeys(cluster, 2*i)
		if got := []string{k.Stream, k.DeadLetter, k.Models, k.Index, k.Epochs, k.Lease, k.State("m"), k.Spec("m")}; !slices.Equal(got, want) {
			t.Errorf("cluster shard %d: %q, want %q", 2*i, got, want)
		}
		if k.Spec("m") != cluster.SpecKey("m") && cluster.Of("m") == 2*i {
			t.Errorf("spec key %q, the api reads %q", k.Spec("m"), cluster.SpecKey("m"))
		}
	}
	plain, _ := events.NewShards("obs", 3, false)
	if k := redisstream.ShardKeys(plain, 0); k != redisstream.KeysFor("obs") {
		t.Errorf("shard 0 of 3 on one server = %+v, want today's names", k)
	}
	if k := redisstream.ShardKeys(plain, 1); k.DeadLetter != "{obs:1}:dead" || k.Lease != "obs:pubsub-bridge" {
		t.Errorf("shard 1 of 3 on one server = %+v", k)
	}
}

// modelsOn returns n model names that live on shard i.
func modelsOn(shards events.Shards, i, n int) []string {
	var out []string
	for j := 0; len(out) < n; j++ {
		if name := fmt.Sprintf("m%03d", j); shards.Of(name) == i {
			out = append(out, name)
		}
	}
	return out
}

// shardFixture is one shard of a sharded deployment: its keys, a
// consumer reading it and its ledger.
type shardFixture struct {
	rdb  redis.UniversalClient
	keys redisstream.Keys
	c    *redisstream.Consumer
	led  *redisstream.Ledger
}

func newShard(t *testing.T, rdb redis.UniversalClient, shards events.Shards, i int, opts ...redisstream.LedgerOption) shardFixture {
	t.Helper()
	keys := redisstream.ShardKeys(shards, i)
	c := redisstream.NewConsumer(rdb, keys, "a", redisstream.InShard(shards, i))
	if err := c.EnsureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return shardFixture{rdb: rdb, keys: keys, c: c, led: redisstream.NewLedger(rdb, keys, testSpec, opts...)}
}

func (s shardFixture) add(t *testing.T, fields ...any) string {
	t.Helper()
	id, err := s.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: s.keys.Stream, Values: fields}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// drain reads and commits everything new on the shard.
func (s shardFixture) drain(t *testing.T) command.Result {
	t.Helper()
	batch, err := s.c.ReadNew(context.Background(), 10_000, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.led.Commit(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The Store of one shard reads what that shard's Ledger reads.
func TestStoreOfOneShardIsTheLedger(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := f.consumer(t, "a")
	names := []string{"default", "A1", "a-1", "a_2", "ab", "abc", "b"}
	for _, n := range names {
		f.add(t, "model", n, "trial", "w")
	}
	f.commit(t, readNew(t, c, len(names)))
	store := redisstream.NewStore(f.rdb, events.OneShard("obs"))
	for _, q := range []struct {
		after, prefix string
		limit         int
	}{{"", "", 2}, {"", "", 100}, {"a-1", "", 3}, {"", "a", 2}, {"ab", "ab", 5}, {"", "z", 5}, {"", "", 0}} {
		p1, m1, e1 := f.led.ModelPage(ctx, q.after, q.prefix, q.limit)
		p2, m2, e2 := store.ModelPage(ctx, q.after, q.prefix, q.limit)
		if !slices.Equal(p1, p2) || m1 != m2 || e1 != nil || e2 != nil {
			t.Errorf("page %+v: ledger %v %v %v, store %v %v %v", q, p1, m1, e1, p2, m2, e2)
		}
	}
	n1, _ := f.led.ModelCount(ctx)
	n2, err := store.ModelCount(ctx)
	if n1 != n2 || n2 != len(names) || err != nil {
		t.Errorf("count: ledger %d, store %d %v", n1, n2, err)
	}
	m1, _ := f.led.Models(ctx, "ab", "nope", "default")
	m2, err := store.Models(ctx, "ab", "nope", "default")
	if !slices.Equal(m1, m2) || err != nil {
		t.Errorf("models: ledger %+v, store %+v %v", m1, m2, err)
	}
}

// The number of shards is recorded by the first start with more than one
// and must not change; data of one shard is never read as sharded.
func TestCheckShards(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client()
	one := events.OneShard("obs")
	three, _ := events.NewShards("obs", 3, false)
	four, _ := events.NewShards("obs", 4, false)
	// One shard: nothing recorded, nothing written.
	if err := redisstream.CheckShards(ctx, rdb, one); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, one.ShardsKey()).Val(); n != 0 {
		t.Fatalf("one shard recorded itself in %s", one.ShardsKey())
	}
	// Shard 0 holding only the default model may become sharded.
	f := shardFixture{rdb: rdb, keys: redisstream.KeysFor("obs")}
	rdb.SAdd(ctx, f.keys.Models, "default")
	if err := redisstream.CheckShards(ctx, rdb, three); err != nil {
		t.Fatal(err)
	}
	if got := rdb.Get(ctx, "obs:shards").Val(); got != "3" {
		t.Fatalf("recorded %q, want 3", got)
	}
	if err := redisstream.CheckShards(ctx, rdb, three); err != nil {
		t.Fatalf("the same number again: %v", err)
	}
	for _, s := range []events.Shards{one, four} {
		err := redisstream.CheckShards(ctx, rdb, s)
		if !errors.Is(err, redisstream.ErrShardsChanged) || !strings.Contains(err.Error(), "obs:shards records 3") ||
			!strings.Contains(err.Error(), "STREAM_SHARDS=3") {
			t.Errorf("%d shards over data of 3: %v", s.Count(), err)
		}
	}
	// Models created with one shard: sharding them would lose them.
	rdb.Del(ctx, "obs:shards")
	rdb.SAdd(ctx, f.keys.Models, "ab", "cd")
	err := redisstream.CheckShards(ctx, rdb, three)
	if !errors.Is(err, redisstream.ErrShardsChanged) || !strings.Contains(err.Error(), "obs:models holds 3 models, not only") {
		t.Fatalf("3 shards over models of one: %v", err)
	}
	if n := rdb.Exists(ctx, "obs:shards").Val(); n != 0 {
		t.Fatal("a refused start recorded its number")
	}
	if err := redisstream.CheckShards(ctx, rdb, one); err != nil {
		t.Fatalf("one shard over its own models: %v", err)
	}
	rdb.Set(ctx, "obs:shards", "x", 0)
	if err := redisstream.CheckShards(ctx, rdb, one); !errors.Is(err, redisstream.ErrShardsChanged) {
		t.Fatalf("garbage recorded: %v", err)
	}
}

// A census counts every shard's models, reuses the count for its max age,
// and keeps the last count while a shard does not answer.
func TestCensus(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	// Commands sent once, dials given up fast: the test kills the server.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	shards, _ := events.NewShards("obs", 3, false)
	census := redisstream.NewCensus(rdb, shards, time.Hour)
	if n, err := redisstream.NewCensus(rdb, events.OneShard("obs"), time.Hour).Others(ctx, 0); n != 0 || err != nil {
		t.Fatalf("one shard: %d %v", n, err)
	}
	rdb.SAdd(ctx, shards.ModelsKey(0), "default", "a")
	rdb.SAdd(ctx, shards.ModelsKey(2), "b", "c", "d")
	for i, want := range []int{3, 5, 2} {
		if n, err := census.Others(ctx, i); n != want || err != nil {
			t.Errorf("others of %d = %d %v, want %d", i, n, err, want)
		}
	}
	rdb.SAdd(ctx, shards.ModelsKey(1), "e")
	if n, _ := census.Others(ctx, 0); n != 3 {
		t.Errorf("within the max age the count is reused: %d, want 3", n)
	}
	fresh := redisstream.NewCensus(rdb, shards, 0)
	if n, _ := fresh.Others(ctx, 0); n != 4 {
		t.Errorf("a fresh count: %d, want 4", n)
	}
	srv.Kill()
	if n, err := fresh.Others(ctx, 0); n != 4 || err != nil {
		t.Errorf("Redis down: %d %v, want the last count", n, err)
	}
	if _, err := redisstream.NewCensus(rdb, shards, 0).Others(ctx, 0); err == nil {
		t.Error("Redis down and no count: no error")
	}
}

// Every shard of a real Redis Cluster: its commits (observations,
// definitions, deletes, resets, dead letters, the order barrier) run as
// single-slot scripts, entries of another shard's model are
// dead-lettered, pages merge the shards' indexes, the cap counts every
// shard, and the number of shards is recorded and enforced.
func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	rdb := cl.Client()
	ctx := context.Background()

	t.Run("commit on every shard", func(t *testing.T) {
		shards, _ := events.NewShards("commit", 3, true)
		store := redisstream.NewStore(rdb, shards)
		for i := range shards.Count() {
			s := newShard(t, rdb, shards, i)
			// Every key a commit of the shard touches is in the stream's slot.
			slot := rdb.ClusterKeySlot(ctx, s.keys.Stream).Val()
			for _, k := range []string{s.keys.DeadLetter, s.keys.Models, s.keys.Index, s.keys.Epochs, s.keys.State("x"), s.keys.Spec("x")} {
				if got := rdb.ClusterKeySlot(ctx, k).Val(); got != slot {
					t.Fatalf("shard %d: %s in slot %d, the stream %s in %d", i, k, got, s.keys.Stream, slot)
				}
			}
			m := modelsOn(shards, i, 3)
			s.add(t, "model", m[0], "trial", "w")
			s.add(t, "kind", "define", "model", m[1], "prior", "uniform", "grid_points", "20")
			s.add(t, "model", m[1], "w", "3", "l", "2")
			s.add(t, "model", m[2], "trial", "l")
			s.add(t, "trial", "nope")
			s.add(t, "kind", "reset", "model", m[0])
			s.add(t, "model", m[0], "trial", "w")
			s.add(t, "kind", "delete", "model", m[2])
			res := s.drain(t)
			want := fmt.Sprintf("applied 7 skipped 0 dead 1 aaaadaaa %s=1/1 %s=3/5 %s=0/0", m[0], m[1], m[2])
			if got := summary(res); got != want {
				t.Fatalf("shard %d: %s, want %s", i, got, want)
			}
			// A second consumer holding an entry makes the order barrier
			// read the stream inside the script.
			b := redisstream.NewConsumer(rdb, s.keys, "b", redisstream.InShard(shards, i))
			s.add(t, "model", m[0], "trial", "l")
			held, err := b.ReadNew(ctx, 10, 100*time.Millisecond)
			if err != nil || len(held) != 1 {
				t.Fatalf("b read %d %v", len(held), err)
			}
			s.add(t, "kind", "reset", "model", m[0])
			if got := statuses(s.drain(t)); got != "w" {
				t.Fatalf("shard %d: a reset behind b's entry = %s, want w(aiting)", i, got)
			}
			got, err := store.Models(ctx, m[0], m[1], m[2])
			if err != nil || got[0].Counts.N != 1 || got[1].Counts.W != 3 || got[1].Spec.GridPoints != 20 || got[2].Exists {
				t.Fatalf("shard %d: store reads %+v %v", i, got, err)
			}
		}
		// Each shard dead-lettered its own malformed entry.
		for i := range shards.Count() {
			n := rdb.XLen(ctx, redisstream.ShardKeys(shards, i).DeadLetter).Val()
			if n != 1 {
				t.Errorf("shard %d: %d dead letters, want 1", i, n)
			}
		}
	})

	t.Run("wrong shard", func(t *testing.T) {
		shards, _ := events.NewShards("wrong", 3, true)
		s2 := newShard(t, rdb, shards, 2)
		on1 := modelsOn(shards, 1, 1)[0]
		on2 := modelsOn(shards, 2, 1)[0]
		stray := s2.add(t, "model", on1, "trial", "w")
		s2.add(t, "trial", "w") // the default model lives on shard 0
		s2.add(t, "model", on2, "trial", "w")
		res := s2.drain(t)
		if got := summary(res); got != fmt.Sprintf("applied 1 skipped 0 dead 2 dda %s=1/1", on2) {
			t.Fatalf("commit = %s", got)
		}
		if got := outcomeCodes(res); got != "wrong_shard,wrong_shard,-," {
			t.Fatalf("codes = %s", got)
		}
		dead, err := rdb.XRange(ctx, s2.keys.DeadLetter, "-", "+").Result()
		if err != nil || len(dead) != 2 {
			t.Fatalf("dead letters %v %v", dead, err)
		}
		d := dead[0].Values
		if d["source_id"] != stray || d["code"] != "wrong_shard" || !strings.Contains(d["reason"].(string), "stream wrong:1") ||
			!strings.Contains(d["fields"].(string), on1) {
			t.Fatalf("dead letter = %v", d)
		}
		if !strings.Contains(dead[1].Values["reason"].(string), `model "default" lives on shard 0 (stream wrong)`) {
			t.Fatalf("dead letter = %v", dead[1].Values)
		}
		if got, _ := redisstream.NewStore(rdb, shards).Models(ctx, on1); got[0].Exists {
			t.Fatalf("the stray entry created %s", on1)
		}
		if n := rdb.Exists(ctx, redisstream.ShardKeys(shards, 2).State(on1)).Val(); n != 0 {
			t.Fatalf("the stray entry left a state on shard 2")
		}
	})

	t.Run("pages merged over the shards", func(t *testing.T) {
		shards, _ := events.NewShards("page", 3, true)
		var all []string
		for i := range shards.Count() {
			s := newShard(t, rdb, shards, i)
			for j, name := range modelsOn(shards, i, 20) {
				s.add(t, "model", name, "w", fmt.Sprint(j), "l", "1")
				all = append(all, name)
			}
			if i == 0 {
				s.add(t, "trial", "w")
			}
			s.drain(t)
		}
		slices.Sort(all)
		store := redisstream.NewStore(rdb, shards)
		for _, limit := range []int{1, 7, 20, 59, 60, 1000} {
			var walked []string
			after := ""
			for {
				page, more, err := store.ModelPage(ctx, after, "", limit)
				if err != nil || len(page) > limit {
					t.Fatalf("page after %q: %v %v", after, page, err)
				}
				walked = append(walked, page...)
				if !more {
					break
				}
				after = page[len(page)-1]
			}
			if !slices.Equal(walked, all) {
				t.Fatalf("limit %d: walked %v, want %v", limit, walked, all)
			}
		}
		var m01 []string
		for _, n := range all {
			if strings.HasPrefix(n, "m01") {
				m01 = append(m01, n)
			}
		}
		if page, more, err := store.ModelPage(ctx, "", "m01", 100); !slices.Equal(page, m01) || more || err != nil {
			t.Fatalf("prefix m01: %v %v %v, want %v", page, more, err, m01)
		}
		if n, err := store.ModelCount(ctx); n != len(all)+1 || err != nil {
			t.Fatalf("count %d %v, want %d", n, err, len(all)+1)
		}
		got, err := store.Models(ctx, all...)
		if err != nil {
			t.Fatal(err)
		}
		for i, sm := range got {
			if sm.Name != all[i] || !sm.Exists || sm.Counts.N != sm.Counts.W+1 {
				t.Fatalf("model %d: %+v", i, sm)
			}
		}
		// The list the port serves: default first, then the merge.
		models, err := query.NewModels(testSpec, store)
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		if err := models.Walk(ctx, func(sm query.StoredModel) error { listed = append(listed, sm.Name); return nil }); err != nil {
			t.Fatal(err)
		}
		if want := append([]string{"default"}, all...); !slices.Equal(listed, want) {
			t.Fatalf("walk = %v", listed)
		}
		first, _, err := models.Page(ctx, query.ListQuery{Limit: 3})
		if err != nil || len(first) != 3 || first[0].Name != "default" || first[1].Name != all[0] || first[2].Name != all[1] {
			t.Fatalf("first page %+v %v", first, err)
		}
	})

	t.Run("cap across shards", func(t *testing.T) {
		shards, _ := events.NewShards("cap", 3, true)
		census := redisstream.NewCensus(rdb, shards, 0) // read at every commit: the test is exact
		var s []shardFixture
		for i := range shards.Count() {
			s = append(s, newShard(t, rdb, shards, i, redisstream.WithMaxModels(5), redisstream.WithCensus(census, i)))
		}
		s[0].add(t, "trial", "w") // the default model counts
		s[0].add(t, "model", modelsOn(shards, 0, 1)[0], "trial", "w")
		s[0].drain(t)
		for _, name := range modelsOn(shards, 1, 2) {
			s[1].add(t, "model", name, "trial", "w")
		}
		s[1].drain(t)
		on2 := modelsOn(shards, 2, 3)
		for _, name := range on2 {
			s[2].add(t, "model", name, "trial", "w")
		}
		res := s[2].drain(t)
		if got := outcomeCodes(res); got != "-,model_limit,model_limit," {
			t.Fatalf("shard 2 at 4 of 5 models: %s (%s)", got, summary(res))
		}
		dead, _ := rdb.XRange(ctx, s[2].keys.DeadLetter, "-", "+").Result()
		if len(dead) != 2 || !strings.Contains(dead[0].Values["reason"].(string), "model limit reached: 5 models exist (MAX_MODELS=5)") {
			t.Fatalf("dead letters %v", dead)
		}
		// A delete on shard 1 makes room on shard 2.
		s[1].add(t, "kind", "delete", "model", modelsOn(shards, 1, 1)[0])
		s[1].drain(t)
		s[2].add(t, "model", on2[1], "trial", "w")
		if got := statuses(s[2].drain(t)); got != "a" {
			t.Fatalf("after a delete elsewhere: %s", got)
		}
	})

	t.Run("number of shards recorded", func(t *testing.T) {
		three, _ := events.NewShards("rec", 3, true)
		two, _ := events.NewShards("rec", 2, true)
		one, _ := events.NewShards("rec", 1, true)
		if err := redisstream.CheckShards(ctx, rdb, three); err != nil {
			t.Fatal(err)
		}
		if got := rdb.Get(ctx, "{rec}:shards").Val(); got != "3" {
			t.Fatalf("recorded %q", got)
		}
		for _, s := range []events.Shards{two, one} {
			if err := redisstream.CheckShards(ctx, rdb, s); !errors.Is(err, redisstream.ErrShardsChanged) {
				t.Errorf("%d shards over 3: %v", s.Count(), err)
			}
		}
		// Models of one shard on the cluster's shard 0 refuse more shards.
		s := newShard(t, rdb, one, 0)
		s.add(t, "model", "ab", "trial", "w")
		s.drain(t)
		rdb.Del(ctx, "{rec}:shards")
		if err := redisstream.CheckShards(ctx, rdb, three); !errors.Is(err, redisstream.ErrShardsChanged) ||
			!strings.Contains(err.Error(), "{rec}:models holds 1 models, not only") {
			t.Fatalf("3 shards over a model of one: %v", err)
		}
	})
}
