package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/metrics"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

type fakeStats struct {
	lag, pending, dead int64
	err                error
}

func (f fakeStats) GroupStats(context.Context) (int64, int64, int64, error) {
	return f.lag, f.pending, f.dead, f.err
}

// fakeModels serves models from memory and records which ones were read.
type fakeModels struct {
	names   []string // in List order
	listErr error
	getErr  error // returned by every Get

	mu   sync.Mutex
	gets []string
}

// view is a distinct, recognisable read model for the i-th model.
func view(i int, name string) query.ModelView {
	f := float64(i)
	return query.ModelView{
		Name: name, W: int64(10 + i), N: int64(100 + i),
		Mean: 0.1 + f/100, SD: 0.2 + f/100, MAP: 0.3 + f/100,
		HPDI: model.Interval{Prob: 0.89, Lo: 0.4 + f/100, Hi: 0.5 + f/100},
	}
}

func (f *fakeModels) First(_ context.Context, limit int) ([]query.ModelView, int, error) {
	if f.listErr != nil {
		return nil, 0, f.listErr
	}
	var views []query.ModelView
	for i, n := range f.names[:max(min(limit, len(f.names)), 0)] {
		f.mu.Lock()
		f.gets = append(f.gets, n)
		f.mu.Unlock()
		if f.getErr != nil {
			return nil, 0, f.getErr
		}
		views = append(views, view(i, n))
	}
	return views, len(f.names), nil
}

func (f *fakeModels) read() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.gets)
}

var modelMetrics = []string{
	"edb_bayes_model_observations", "edb_bayes_model_water", "edb_bayes_model_posterior_mean",
	"edb_bayes_model_posterior_sd", "edb_bayes_model_posterior_map", "edb_bayes_model_hpdi_low",
	"edb_bayes_model_hpdi_high",
}

var allMetrics = append([]string{
	"edb_bayes_redis_up", "edb_bayes_consumer_group_lag", "edb_bayes_consumer_group_pending",
	"edb_bayes_dead_letter_stream_length", "edb_bayes_models", "edb_bayes_models_not_exported",
}, modelMetrics...)

// registry registers c with a pedantic registry, which also fails a scrape
// whose series do not match what the collector describes.
func registry(t *testing.T, c prometheus.Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return reg
}

// exposition is the expected text of one full scrape with Redis up: the
// stream counters, the totals and the per-model gauges of exported.
func exposition(total int, exported []string) string {
	var b strings.Builder
	g := func(name, help, sample string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s", name, help, name, sample)
	}
	per := func(name, help string, value func(query.ModelView) float64) {
		if len(exported) == 0 {
			return
		}
		var s strings.Builder
		for i, n := range exported {
			fmt.Fprintf(&s, "%s{model=%q} %v\n", name, n, value(view(i, n)))
		}
		g(name, help+" One series per exported model (see edb_bayes_models_not_exported).", s.String())
	}
	g("edb_bayes_redis_up", "1 when Redis answered this scrape, else 0.", "edb_bayes_redis_up 1\n")
	g("edb_bayes_consumer_group_lag", "Entries in the stream not yet delivered to any bayes replica.", "edb_bayes_consumer_group_lag 3\n")
	g("edb_bayes_consumer_group_pending", "Entries delivered to a replica and not yet acknowledged.", "edb_bayes_consumer_group_pending 2\n")
	g("edb_bayes_dead_letter_stream_length", "Entries in the dead-letter stream.", "edb_bayes_dead_letter_stream_length 1\n")
	g("edb_bayes_models", "Models that exist (the default one included).", fmt.Sprintf("edb_bayes_models %d\n", total))
	g("edb_bayes_models_not_exported", "Models left out of the per-model series by the cap MODEL_METRICS_LIMIT.",
		fmt.Sprintf("edb_bayes_models_not_exported %d\n", total-len(exported)))
	per("edb_bayes_model_observations", "n: observations applied to the model.", func(v query.ModelView) float64 { return float64(v.N) })
	per("edb_bayes_model_water", "w: water observations applied to the model.", func(v query.ModelView) float64 { return float64(v.W) })
	per("edb_bayes_model_posterior_mean", "Posterior mean of the proportion of water.", func(v query.ModelView) float64 { return v.Mean })
	per("edb_bayes_model_posterior_sd", "Posterior standard deviation of the proportion of water.", func(v query.ModelView) float64 { return v.SD })
	per("edb_bayes_model_posterior_map", "Grid point of highest posterior mass.", func(v query.ModelView) float64 { return v.MAP })
	per("edb_bayes_model_hpdi_low", "Lower bound of the 89% highest posterior density interval.", func(v query.ModelView) float64 { return v.HPDI.Lo })
	per("edb_bayes_model_hpdi_high", "Upper bound of the 89% highest posterior density interval.", func(v query.ModelView) float64 { return v.HPDI.Hi })
	return b.String()
}

// TestCollectorCapsModels: the first limit models of the List order
// (default first, then by name) get series, labelled by name; the rest are
// only counted, and only the exported ones are read in full.
func TestCollectorCapsModels(t *testing.T) {
	names := []string{"default", "alpha", "beta", "gamma"}
	for _, tc := range []struct {
		limit    int
		exported []string
	}{
		{limit: 0, exported: nil},
		{limit: -1, exported: nil},
		{limit: 1, exported: names[:1]},
		{limit: 3, exported: names[:3]},
		{limit: 4, exported: names},
		{limit: 1000, exported: names},
	} {
		t.Run(fmt.Sprintf("limit %d", tc.limit), func(t *testing.T) {
			models := &fakeModels{names: names}
			reg := registry(t, metrics.NewCollector([]metrics.GroupStats{fakeStats{lag: 3, pending: 2, dead: 1}}, models, tc.limit))
			if err := testutil.GatherAndCompare(reg, strings.NewReader(exposition(len(names), tc.exported)), allMetrics...); err != nil {
				t.Error(err)
			}
			if got := models.read(); !slices.Equal(got, tc.exported) {
				t.Errorf("read in full %q, want %q", got, tc.exported)
			}
			// Series per scrape: 6 fixed ones, 7 per exported model.
			if n, err := testutil.GatherAndCount(reg); err != nil || n != 6+7*len(tc.exported) {
				t.Errorf("%d series (%v), want %d", n, err, 6+7*len(tc.exported))
			}
		})
	}
}

// TestCollectorOnlyDefault: a fresh system has the default model only,
// exported with its label and nothing left out.
func TestCollectorOnlyDefault(t *testing.T) {
	reg := registry(t, metrics.NewCollector([]metrics.GroupStats{fakeStats{lag: 3, pending: 2, dead: 1}}, &fakeModels{names: []string{"default"}}, 20))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exposition(1, []string{"default"})), allMetrics...); err != nil {
		t.Error(err)
	}
}

// TestCollectorRedisDown: whichever read fails, the scrape says
// edb_bayes_redis_up 0 and carries no Redis-derived series, not even the
// ones read before the failure.
func TestCollectorRedisDown(t *testing.T) {
	down := errors.New("dial tcp: connection refused")
	names := []string{"default", "alpha", "beta"}
	for _, tc := range []struct {
		name   string
		stats  fakeStats
		models *fakeModels
	}{
		{"group stats fail", fakeStats{err: down}, &fakeModels{names: names}},
		{"list fails", fakeStats{}, &fakeModels{names: names, listErr: down}},
		{"get fails", fakeStats{}, &fakeModels{names: names, getErr: down}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registry(t, metrics.NewCollector([]metrics.GroupStats{fakeStats{}, tc.stats}, tc.models, 20))
			want := "# HELP edb_bayes_redis_up 1 when Redis answered this scrape, else 0.\n# TYPE edb_bayes_redis_up gauge\nedb_bayes_redis_up 0\n"
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), allMetrics...); err != nil {
				t.Error(err)
			}
			if n, err := testutil.GatherAndCount(reg); err != nil || n != 1 {
				t.Errorf("%d series (%v), want only edb_bayes_redis_up", n, err)
			}
		})
	}
}

// TestCollectorShards: with more than one shard the stream's gauges are
// one series per shard, labelled shard; the model series do not change.
func TestCollectorShards(t *testing.T) {
	stats := []metrics.GroupStats{fakeStats{lag: 3, pending: 2, dead: 1}, fakeStats{lag: 5}, fakeStats{pending: 7, dead: 4}}
	reg := registry(t, metrics.NewCollector(stats, &fakeModels{names: []string{"default"}}, 0))
	want := `# HELP edb_bayes_consumer_group_lag Entries in the stream not yet delivered to any bayes replica.
# TYPE edb_bayes_consumer_group_lag gauge
edb_bayes_consumer_group_lag{shard="0"} 3
edb_bayes_consumer_group_lag{shard="1"} 5
edb_bayes_consumer_group_lag{shard="2"} 0
# HELP edb_bayes_consumer_group_pending Entries delivered to a replica and not yet acknowledged.
# TYPE edb_bayes_consumer_group_pending gauge
edb_bayes_consumer_group_pending{shard="0"} 2
edb_bayes_consumer_group_pending{shard="1"} 0
edb_bayes_consumer_group_pending{shard="2"} 7
# HELP edb_bayes_dead_letter_stream_length Entries in the dead-letter stream.
# TYPE edb_bayes_dead_letter_stream_length gauge
edb_bayes_dead_letter_stream_length{shard="0"} 1
edb_bayes_dead_letter_stream_length{shard="1"} 0
edb_bayes_dead_letter_stream_length{shard="2"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "edb_bayes_consumer_group_lag",
		"edb_bayes_consumer_group_pending", "edb_bayes_dead_letter_stream_length"); err != nil {
		t.Error(err)
	}
	// up, 3×3 stream series, models and not exported.
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 12 {
		t.Errorf("%d series (%v), want 12", n, err)
	}
}

// TestCollectorLint: names, help and units follow Prometheus' conventions.
func TestCollectorLint(t *testing.T) {
	c := metrics.NewCollector([]metrics.GroupStats{fakeStats{}}, &fakeModels{names: []string{"default", "alpha"}}, 20)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
