package redisstream_test

import (
	"context"
	"fmt"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

type fixture struct {
	rdb  *redis.Client
	keys redisstream.Keys
	led  *redisstream.Ledger
	srv  *redistest.Server
}

func setup(t *testing.T) fixture {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client()
	keys := redisstream.KeysFor("obs")
	return fixture{rdb: rdb, keys: keys, led: redisstream.NewLedger(rdb, keys, testSpec), srv: srv}
}

func (f fixture) add(t *testing.T, fields ...string) string {
	t.Helper()
	vals := make([]any, len(fields))
	for i, v := range fields {
		vals[i] = v
	}
	id, err := f.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: f.keys.Stream, Values: vals}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// readNew reads the new entries as c and fails the test unless there are
// exactly n.
func readNew(t *testing.T, c *redisstream.Consumer, n int) []command.Entry {
	t.Helper()
	batch, err := c.ReadNew(context.Background(), n+1, time.Second)
	if err != nil || len(batch) != n {
		t.Fatalf("read %d, %v", len(batch), err)
	}
	return batch
}

// commit commits batch and fails the test if the commit fails.
func (f fixture) commit(t *testing.T, batch []command.Entry) command.Result {
	t.Helper()
	res, err := f.led.Commit(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f fixture) consumer(t *testing.T, name string) *redisstream.Consumer {
	t.Helper()
	c := redisstream.NewConsumer(f.rdb, f.keys, name)
	if err := c.EnsureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCommitAppliesOnceAndDeadLetters(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := f.consumer(t, "a")
	f.add(t, "trial", "w")
	f.add(t, "trial", "l")
	f.add(t, "trial", "w", "ts", "123")
	bad := f.add(t, "trial", "sea")
	f.add(t, "nothing", "here")

	batch := readNew(t, c, 5)
	res := f.commit(t, batch)
	if got := summary(res); got != "applied 3 skipped 0 dead 2 aaadd default=2/3" {
		t.Fatalf("commit = %s", got)
	}
	// The same batch again (a redelivery): nothing changes.
	res = f.commit(t, batch)
	if got := summary(res); got != "applied 0 skipped 5 dead 0 sssss default=2/3" {
		t.Fatalf("second commit = %s", got)
	}
	if st, err := f.led.State(ctx, "default"); err != nil || st != (model.Counts{W: 2, N: 3}) {
		t.Fatalf("State = %+v, %v", st, err)
	}
	dead, err := f.rdb.XRange(ctx, f.keys.DeadLetter, "-", "+").Result()
	if err != nil || len(dead) != 2 {
		t.Fatalf("dead letters: %v, %v", dead, err)
	}
	if dead[0].Values["source_id"] != bad || dead[0].Values["reason"] == "" || dead[0].Values["fields"] != `{"trial":"sea"}` {
		t.Fatalf("dead letter = %v", dead[0].Values)
	}
	// Nothing is left pending.
	if p, _ := f.rdb.XPending(ctx, f.keys.Stream, f.keys.Group).Result(); p.Count != 0 {
		t.Fatalf("%d entries still pending", p.Count)
	}
}

// summary is a commit result in one comparable line: the totals, the
// outcomes and each model's w/n.
func summary(r command.Result) string {
	letters := make([]byte, len(r.Outcomes))
	for i, o := range r.Outcomes {
		letters[i] = byte(o.Status)
	}
	s := fmt.Sprintf("applied %d skipped %d dead %d %s", r.Applied, r.Skipped, r.DeadLettered, letters)
	for _, st := range r.States {
		s += fmt.Sprintf(" %s=%d/%d", st.Name, st.Counts.W, st.Counts.N)
	}
	return s
}

// conflicts has, for each definition dead-lettered because its model
// exists with another spec, the index of the entry and the reason.
func conflicts(r command.Result) map[int]string {
	out := map[int]string{}
	for i, o := range r.Outcomes {
		if o.Code == command.CodeModelConflict {
			out[i] = o.Reason
		}
	}
	return out
}

// Named models: a definition creates its model with its spec, an
// observation creates one with the default spec, counts apply as a whole,
// a conflicting definition is dead-lettered with the reason, and a
// redelivered batch changes nothing.
func TestNamedModelsDefinitionsAndCounts(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := f.consumer(t, "a")
	f.add(t, "kind", "define", "model", "ab", "prior", "beta:2,2", "grid_points", "200")
	f.add(t, "model", "ab", "w", "30", "l", "70")
	f.add(t, "model", "cd", "trial", "w")
	f.add(t, "model", "ab", "trial", "l")
	f.add(t, "kind", "define", "model", "ab", "prior", "beta:2,2", "grid_points", "200") // same spec: no-op
	conflict := f.add(t, "kind", "define", "model", "cd", "prior", "uniform", "grid_points", "50")
	f.add(t, "trial", "w")
	f.add(t, "model", "bad name", "trial", "w")

	batch := readNew(t, c, 8)
	res := f.commit(t, batch)
	if got := summary(res); got != "applied 6 skipped 0 dead 2 aaaaadad ab=30/101 cd=1/1 default=1/1" {
		t.Fatalf("commit = %s", got)
	}
	if conflicts := conflicts(res); len(conflicts) != 1 || !strings.Contains(conflicts[5], `model "cd"`) {
		t.Fatalf("conflicts = %v", conflicts)
	}
	if res = f.commit(t, batch); summary(res) != "applied 0 skipped 8 dead 0 ssssssss ab=30/101 cd=1/1 default=1/1" {
		t.Fatalf("redelivery = %s", summary(res))
	}
	names, err := f.led.ModelNames(ctx)
	if err != nil || strings.Join(names, ",") != "ab,cd,default" {
		t.Fatalf("names = %v, %v", names, err)
	}
	got, err := f.led.Models(ctx, "ab", "cd", "nope")
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Spec != (events.ModelSpec{Prior: "beta:2,2", GridPoints: 200}) || !got[0].Exists {
		t.Fatalf("ab = %+v", got[0])
	}
	if got[1].Spec != testSpec || got[1].Counts != (model.Counts{W: 1, N: 1}) {
		t.Fatalf("cd (created by an observation) = %+v", got[1])
	}
	if got[2].Exists || got[2].Counts != (model.Counts{}) {
		t.Fatalf("nope = %+v", got[2])
	}
	dead, err := f.rdb.XRange(ctx, f.keys.DeadLetter, "-", "+").Result()
	if err != nil || len(dead) != 2 {
		t.Fatalf("dead letters: %v, %v", dead, err)
	}
	if dead[0].Values["source_id"] != conflict || !strings.Contains(dead[0].Values["reason"].(string), "exists with spec") {
		t.Fatalf("conflict dead letter = %v", dead[0].Values)
	}
}

// A model's counts from before specs were stored (the default model of an
// older release) keep counting; the model gets the default spec.
func TestDefaultModelWithoutSpecKeepsItsCounts(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := f.consumer(t, "a")
	f.rdb.HSet(ctx, f.keys.State("default"), "w", "3", "n", "5")
	f.add(t, "trial", "l")
	batch, err := c.ReadNew(ctx, 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.led.Commit(ctx, batch)
	if err != nil || summary(res) != "applied 1 skipped 0 dead 0 a default=3/6" || res.States[0].Spec != testSpec {
		t.Fatalf("commit = %s %+v, %v", summary(res), res.States, err)
	}
}

func TestStateOfANewModelIsZero(t *testing.T) {
	f := setup(t)
	st, err := f.led.State(context.Background(), "default")
	if err != nil || st != (model.Counts{}) {
		t.Fatalf("State = %+v, %v", st, err)
	}
	f.rdb.HSet(context.Background(), f.keys.State("default"), "w", "5", "n", "2")
	if _, err := f.led.State(context.Background(), "default"); err == nil {
		t.Fatal("impossible stored counts accepted")
	}
}

// A consumer that read a batch and died leaves it pending; the same name
// reads it back from its own pending list, and a different consumer claims
// it once it is idle long enough.
func TestPendingRecoveryAndClaim(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	dead := f.consumer(t, "dead")
	for range 7 {
		f.add(t, "trial", "w")
	}
	if b, err := dead.ReadNew(ctx, 3, time.Second); err != nil || len(b) != 3 {
		t.Fatalf("read %d, %v", len(b), err)
	}
	// Restarted under the same name: its own pending entries come back.
	again := redisstream.NewConsumer(f.rdb, f.keys, "dead")
	own, err := again.ReadOwnPending(ctx, "0", 100)
	if err != nil || len(own) != 3 {
		t.Fatalf("own pending: %d, %v", len(own), err)
	}
	// A live consumer claims after min idle; poll until the entries are idle.
	live := f.consumer(t, "live")
	var claimed []command.Entry
	deadline := time.Now().Add(10 * time.Second)
	for len(claimed) < 3 && time.Now().Before(deadline) {
		b, _, err := live.Claim(ctx, "0-0", 20*time.Millisecond, 100)
		if err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, b...)
	}
	if len(claimed) != 3 {
		t.Fatalf("claimed %d, want 3", len(claimed))
	}
	res, err := f.led.Commit(ctx, claimed)
	if err != nil || res.Applied != 3 {
		t.Fatalf("commit %+v, %v", res, err)
	}
	// The dead one's late commit of the same entries counts nothing.
	if res, err := f.led.Commit(ctx, own); err != nil || res.Applied != 0 || res.Skipped != 3 {
		t.Fatalf("late commit %+v, %v", res, err)
	}
}

func TestTrimKeepsPendingAndUndelivered(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := f.consumer(t, "a")
	var ids []string
	for range 10 {
		ids = append(ids, f.add(t, "trial", "w"))
	}
	batch, _ := c.ReadNew(ctx, 6, time.Second) // 6 delivered, 4 never delivered
	// Acknowledge all but the 3rd: it stays pending.
	dec := append(append([]command.Entry{}, batch[:2]...), batch[3:]...)
	f.commit(t, dec)
	if _, err := c.Trim(ctx); err != nil {
		t.Fatal(err)
	}
	left, _ := f.rdb.XRange(ctx, f.keys.Stream, "-", "+").Result()
	if len(left) != 8 || left[0].ID != ids[2] {
		t.Fatalf("after trim %d entries from %v; want 8 from the pending %s", len(left), left[0].ID, ids[2])
	}
	// Once it is acknowledged, everything up to the last delivered may go.
	f.commit(t, batch[2:3])
	if _, err := c.Trim(ctx); err != nil {
		t.Fatal(err)
	}
	left, _ = f.rdb.XRange(ctx, f.keys.Stream, "-", "+").Result()
	if len(left) != 5 || left[0].ID != ids[5] {
		t.Fatalf("after second trim %d entries; want the last delivered and the 4 undelivered", len(left))
	}
	rest, _ := c.ReadNew(ctx, 100, time.Second)
	if len(rest) != 4 {
		t.Fatalf("undelivered entries lost by trim: read %d", len(rest))
	}
}

func TestStaleConsumersGoOnlyWhenEmpty(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	f.add(t, "trial", "w")
	busy := f.consumer(t, "busy")
	if b, _ := busy.ReadNew(ctx, 1, time.Second); len(b) != 1 {
		t.Fatal("no entry for busy")
	}
	if err := f.rdb.XGroupCreateConsumer(ctx, f.keys.Stream, f.keys.Group, "idle").Err(); err != nil {
		t.Fatal(err)
	}
	self := f.consumer(t, "self")
	var removed []string
	deadline := time.Now().Add(10 * time.Second)
	for len(removed) == 0 && time.Now().Before(deadline) {
		var err error
		if removed, err = self.RemoveStaleConsumers(ctx, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(removed) != "[idle]" {
		t.Fatalf("removed %v, want only the empty, idle consumer", removed)
	}
	cs, _ := f.rdb.XInfoConsumers(ctx, f.keys.Stream, f.keys.Group).Result()
	names := map[string]int64{}
	for _, c := range cs {
		names[c.Name] = c.Pending
	}
	if names["busy"] != 1 {
		t.Fatalf("consumer with a pending entry removed: %v", names)
	}
}

// Concurrent commits of overlapping batches, as two replicas racing on a
// claim: every entry is applied exactly once.
func TestConcurrentOverlappingCommits(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := f.consumer(t, "a")
	const total = 2000
	pipe := f.rdb.Pipeline()
	for i := range total {
		trial := "l"
		if i%3 == 0 {
			trial = "w"
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: f.keys.Stream, Values: []any{"trial", trial}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	batch := readNew(t, c, total)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * 100; i < total; i += 250 { // overlapping windows
				end := min(i+250, total)
				if _, err := f.led.Commit(ctx, batch[i:end]); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	f.commit(t, batch) // sweep anything no window covered
	st, _ := f.led.State(ctx, "default")
	if st != (model.Counts{W: (total + 2) / 3, N: total}) {
		t.Fatalf("state %+v after concurrent commits", st)
	}
}

// testSpec is the spec of a model created by an observation in these tests.
var testSpec = events.ModelSpec{Prior: "uniform", GridPoints: 120}
