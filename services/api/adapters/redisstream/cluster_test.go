package redisstream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// newClusterClient builds the client exactly as the service does, from
// REDIS_CLUSTER_ADDRS through redisconf: node clients that send a command
// once, and the production timeouts.
func newClusterClient(t testing.TB, c *redistest.Cluster) redis.UniversalClient {
	t.Helper()
	r := envconf.New(envconf.FromMap(map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs(), ",")}))
	conn := redisconf.ReadConn(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	client := conn.NewClient()
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// clusterModels are model names spread over every shard of 3.
var clusterModels = func() []string {
	names := []string{events.DefaultModel}
	for i := range 23 {
		names = append(names, fmt.Sprintf("m%02d", i))
	}
	return names
}()

// On a Redis Cluster every model's events land on its shard's stream, on
// the master serving that stream, and only there; WAIT 1 passes while every
// replica is up. The spec reader finds each spec on its model's shard and
// counts the models of every shard; the pinger reaches every shard's
// master. Nothing is CROSSSLOT: every publish succeeds.
func TestClusterRoutesEachModelToItsShard(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	client := newClusterClient(t, c)
	admin := c.Client()
	shards, err := events.NewShards("update_model", 3, true)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	router, err := redisstream.NewRouter(client, shards, 5*time.Second,
		redisstream.WithWaitReplicas(1), redisstream.WithMetrics(redisstream.NewPublishMetrics(reg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(router.Close)
	var _ command.Publisher = router
	ctx := context.Background()

	// Concurrent publishes, so batches of several events go out per shard.
	const perModel = 5
	var mu sync.Mutex
	ids := map[string]string{} // entry id → model
	var wg sync.WaitGroup
	errs := make(chan error, len(clusterModels)*perModel)
	for _, m := range clusterModels {
		for range perModel {
			wg.Go(func() {
				id, err := router.Publish(ctx, events.Event{Model: m, Trial: events.TrialWater})
				if err != nil {
					errs <- fmt.Errorf("publish %s: %w", m, err)
					return
				}
				mu.Lock()
				ids[m+"/"+id] = m
				mu.Unlock()
			})
		}
	}
	// The original's event names no model: it goes to shard 0.
	legacy, err := router.Publish(ctx, events.Event{Trial: events.TrialLand})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ids[events.DefaultModel+"/"+legacy] = events.DefaultModel
	mu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err) // CROSSSLOT, MOVED or a failed WAIT would show here
	}

	total := 0
	for i := range shards.Count() {
		stream := shards.Stream(i)
		entries, err := admin.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Errorf("shard %d (%s) got no event", i, stream)
		}
		for _, e := range entries {
			ev, err := events.Decode(e.Values)
			if err != nil {
				t.Fatal(err)
			}
			if got := shards.Of(ev.ModelName()); got != i {
				t.Errorf("model %s's event on %s, want shard %d", ev.ModelName(), stream, got)
			}
			if ids[ev.ModelName()+"/"+e.ID] != ev.ModelName() {
				t.Errorf("entry %s of %s on %s is not one Publish returned", e.ID, ev.Model, stream)
			}
		}
		total += len(entries)
		// On the master of its slot, and replicated to its replica.
		master := c.MasterOf(stream)
		if n, err := master.Client().XLen(ctx, stream).Result(); err != nil || n != int64(len(entries)) {
			t.Errorf("XLEN %s on its master %s = %d, %v; want %d", stream, master.Addr(), n, err, len(entries))
		}
	}
	if want := len(clusterModels)*perModel + 1; total != want {
		t.Errorf("%d entries in all shards, want %d", total, want)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP edb_api_stream_shards Shards (streams) the api publishes to (STREAM_SHARDS).
# TYPE edb_api_stream_shards gauge
edb_api_stream_shards 3
`), "edb_api_stream_shards"); err != nil {
		t.Error(err)
	}

	// Specs and names as bayes keeps them on a cluster: on the model's shard.
	spec := events.ModelSpec{Prior: "beta:2,2", GridPoints: 50}
	for _, m := range clusterModels[:7] {
		if err := admin.Set(ctx, shards.SpecKey(m), spec.Encode(), 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := admin.SAdd(ctx, shards.ModelsKey(shards.Of(m)), m).Err(); err != nil {
			t.Fatal(err)
		}
	}
	specs, err := redisstream.NewSpecReader(client, shards)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range clusterModels[:7] {
		if l, err := specs.Lookup(ctx, m); err != nil || l != (command.Lookup{Spec: spec, Exists: true, Count: 7}) {
			t.Errorf("Lookup(%s) = %+v, %v; want the spec and 7 models", m, l, err)
		}
		if got, ok, err := specs.Spec(ctx, m); err != nil || !ok || got != spec {
			t.Errorf("Spec(%s) = %+v %v %v", m, got, ok, err)
		}
	}
	if l, err := specs.Lookup(ctx, "new"); err != nil || l != (command.Lookup{Count: 7}) {
		t.Errorf("Lookup(new) = %+v, %v", l, err)
	}
	ping, err := redisstream.NewPinger(client, shards)
	if err != nil {
		t.Fatal(err)
	}
	if err := ping.Ping(ctx); err != nil {
		t.Errorf("Ping with every master up: %v", err)
	}
}

// WAIT 1 confirms nothing once the replica of a shard's master is dead:
// every publish to that shard fails with ErrNotReplicated (the event is on
// the master, unconfirmed), and is counted as such; the other shards,
// whose replicas are up, go on.
func TestClusterWaitFailsWithoutTheReplica(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	client := newClusterClient(t, c)
	shards, err := events.NewShards("update_model", 3, true)
	if err != nil {
		t.Fatal(err)
	}
	// A generous timeout while the replicas are up (a loaded test machine
	// may take a while to schedule them), a short one once one is dead.
	patient, err := redisstream.NewRouter(client, shards, 5*time.Second, redisstream.WithWaitReplicas(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(patient.Close)
	reg := prometheus.NewRegistry()
	router, err := redisstream.NewRouter(client, shards, time.Second,
		redisstream.WithWaitReplicas(1), redisstream.WithMetrics(redisstream.NewPublishMetrics(reg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(router.Close)
	ctx := context.Background()
	const model = "m00"
	stream := shards.Stream(shards.Of(model))
	var other string // a model on another shard, whose master is another node
	master := c.MasterOf(stream)
	for _, m := range clusterModels {
		if c.MasterOf(shards.Stream(shards.Of(m))) != master {
			other = m
			break
		}
	}
	if other == "" {
		t.Fatal("every shard on one master")
	}
	for _, m := range []string{model, other} {
		if _, err := patient.Publish(ctx, events.Event{Model: m, Trial: events.TrialWater}); err != nil {
			t.Fatalf("publish %s with every replica up: %v", m, err)
		}
	}

	c.ReplicaOf(master).Kill()
	start := time.Now()
	id, err := router.Publish(ctx, events.Event{Model: model, Trial: events.TrialLand})
	var nr *command.NotReplicatedError
	if !errors.Is(err, redisstream.ErrNotReplicated) || !errors.As(err, &nr) || nr.Want != 1 || nr.Got != 0 || id != "" {
		t.Fatalf("publish with the replica dead: %q, %v; want ErrNotReplicated, 0 of 1", id, err)
	}
	// A bound generous enough for a loaded machine: it catches a WAIT
	// sent without a timeout (which blocks until a replica comes back),
	// not a slow one.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the unconfirmed publish took %s: WAIT did not give up at the publish timeout (1s)", took)
	}
	t.Logf("with the replica dead: %v", err)
	// Stored on the master all the same: it may still be counted.
	entries, err := master.Client().XRange(ctx, stream, "-", "+").Result()
	if err != nil || len(entries) != 2 || entries[1].Values[events.FieldTrial] != events.TrialLand {
		t.Fatalf("%s on its master: %v, %v; want the unconfirmed event stored after the first", stream, entries, err)
	}
	if _, err := patient.Publish(ctx, events.Event{Model: other, Trial: events.TrialWater}); err != nil {
		t.Errorf("publish %s, whose shard's replica is up: %v", other, err)
	}
	// Counted as a failure (it was answered 503) and as not replicated.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP edb_api_publish_failures_total XADDs that failed or timed out; each one was answered 503.
# TYPE edb_api_publish_failures_total counter
edb_api_publish_failures_total 1
# HELP edb_api_publish_not_replicated_total Events stored on the master but answered 503 because WAIT confirmed fewer replicas than REDIS_WAIT_REPLICAS within the timeout (counted in edb_api_publish_failures_total too); each may still be counted.
# TYPE edb_api_publish_not_replicated_total counter
edb_api_publish_not_replicated_total 1
`), "edb_api_publish_failures_total", "edb_api_publish_not_replicated_total"); err != nil {
		t.Error(err)
	}
}

// After a failover the publisher finds the shard's new master by itself:
// the batch sent to the dead one fails (503 for its callers, never a
// second XADD), the slot map is read again, and publishing resumes on the
// promoted replica with nothing acknowledged lost (WAIT 1).
func TestClusterPublisherFollowsAFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	client := newClusterClient(t, c)
	shards, err := events.NewShards("update_model", 3, true)
	if err != nil {
		t.Fatal(err)
	}
	router, err := redisstream.NewRouter(client, shards, 3*time.Second, redisstream.WithWaitReplicas(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(router.Close)
	ping, err := redisstream.NewPinger(client, shards)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const model = "m01"
	stream := shards.Stream(shards.Of(model))
	acked := 0
	publish := func() error {
		_, err := router.Publish(ctx, events.Event{Model: model, Trial: events.TrialWater})
		if err == nil {
			acked++
		}
		return err
	}
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	old := c.MasterOf(stream)
	promoted := c.Failover(old, stream, 30*time.Second)
	if promoted == old {
		t.Fatal("no failover")
	}
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for failed := 0; ; failed++ {
		if lastErr = publish(); lastErr == nil {
			t.Logf("%d publishes failed after the failover before one succeeded", failed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing to %s still fails 20s after the failover: %v", stream, lastErr)
		}
		time.Sleep(50 * time.Millisecond) // poll interval; the deadline bounds the wait
	}
	if err := ping.Ping(ctx); err != nil {
		t.Errorf("Ping after the failover: %v", err)
	}
	n, err := promoted.Client().XLen(ctx, stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Every acknowledged event is there; a failed publish may be too (it
	// may have been stored before its node died), never twice.
	if n < int64(acked) {
		t.Fatalf("%s has %d entries on the promoted master, %d were acknowledged", stream, n, acked)
	}
}
