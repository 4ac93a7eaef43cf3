package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/metrics"
)

// The gauges carry the last value the HTTP port set (service.go hands Live
// to it as its httpapi.LiveMetrics, which the compiler checks there).
func TestLiveGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := metrics.NewLive(reg)
	l.SetStreams(3)
	l.SetWatched(2)
	l.SetStreams(2)
	for name, want := range map[string]float64{"edb_bayes_live_streams": 2, "edb_bayes_live_watched_models": 2} {
		if got := gauge(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// gauge is the value of the gauge name, which has no labels.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 && mf.GetMetric()[0].GetGauge() != nil {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
