package redisstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// Lookup reads a spec and the number of models as bayes keeps them, in
// one round trip.
func TestLookupReadsSpecAndCount(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client()
	ctx := context.Background()
	r, err := redisstream.NewSpecReader(newClient(t, srv), events.OneShard(stream))
	if err != nil {
		t.Fatal(err)
	}
	var _ command.Catalog = r

	// Nothing created yet: SCARD of a missing set is 0.
	if l, err := r.Lookup(ctx, "ab"); err != nil || l != (command.Lookup{}) {
		t.Fatalf("empty store: %+v %v", l, err)
	}
	spec := events.ModelSpec{Prior: "beta:2,2", GridPoints: 50}
	if err := admin.Set(ctx, events.SpecKey(stream, "ab"), spec.Encode(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.SAdd(ctx, events.OneShard(stream).ModelsKey(0), "default", "ab", "cd").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if l, err := r.Lookup(ctx, "ab"); err != nil || l != (command.Lookup{Spec: spec, Exists: true, Count: 3}) {
		t.Fatalf("existing model: %+v %v", l, err)
	}
	if l, err := r.Lookup(ctx, "new"); err != nil || l != (command.Lookup{Count: 3}) {
		t.Fatalf("missing model: %+v %v", l, err)
	}
	stats, err := admin.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stats, "cmdstat_get:calls=2,") || !strings.Contains(stats, "cmdstat_scard:calls=2,") {
		t.Fatalf("two lookups ran, commandstats:\n%s", stats)
	}
	if got, ok, err := r.Spec(ctx, "ab"); err != nil || !ok || got != spec {
		t.Fatalf("Spec(ab) = %+v %v %v", got, ok, err)
	}

	// A spec that is not one is an error, not a missing model.
	if err := admin.Set(ctx, events.SpecKey(stream, "bad"), "{", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if l, err := r.Lookup(ctx, "bad"); err == nil || !strings.Contains(err.Error(), "GET "+events.SpecKey(stream, "bad")) {
		t.Fatalf("bad spec: %+v %v", l, err)
	}
	// A names key of another type: an error too.
	if err := admin.Set(ctx, events.OneShard(stream).ModelsKey(0), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if l, err := r.Lookup(ctx, "ab"); err == nil || !strings.Contains(err.Error(), "SCARD") {
		t.Fatalf("models key of the wrong type: %+v %v", l, err)
	}
	srv.Kill()
	if _, err := r.Lookup(ctx, "ab"); err == nil {
		t.Fatal("Lookup succeeded with Redis killed")
	}
}

// Every kind of event has its own label, there from the start.
func TestPublishMetricsLabelEveryKind(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	m := redisstream.NewPublishMetrics(reg)
	pub, err := redisstream.NewPublisher(newClient(t, srv), stream, 2*time.Second, redisstream.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	ctx := context.Background()
	for _, e := range []events.Event{
		{Trial: events.TrialWater},
		{Model: "ab", W: 3, L: 4},
		{Kind: events.KindDefine, Model: "ab", Spec: events.ModelSpec{Prior: "uniform", GridPoints: 30}},
		{Kind: events.KindReset, Model: "ab"},
		{Kind: events.KindReset},
		{Kind: events.KindDelete, Model: "ab"},
	} {
		if _, err := pub.Publish(ctx, e); err != nil {
			t.Fatalf("Publish(%+v): %v", e, err)
		}
	}
	want := `
# HELP edb_api_events_published_total Events stored in the stream (XADD succeeded), by trial: w or l for one toss, batch for counts, define for a model definition, delete or reset for a model's deletion or reset.
# TYPE edb_api_events_published_total counter
edb_api_events_published_total{trial="batch"} 1
edb_api_events_published_total{trial="define"} 1
edb_api_events_published_total{trial="delete"} 1
edb_api_events_published_total{trial="l"} 0
edb_api_events_published_total{trial="reset"} 2
edb_api_events_published_total{trial="w"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "edb_api_events_published_total"); err != nil {
		t.Fatal(err)
	}
}
