package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/metrics"
)

// The queue gauge reads the plotter's queue at each scrape.
func TestPlotQueue(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := 3
	metrics.NewPlotQueue(reg, func() int { return n })
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "edb_bayes_plot_queue_models" && len(mf.GetMetric()) == 1 {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no edb_bayes_plot_queue_models")
		return 0
	}
	if got := gauge(); got != 3 {
		t.Fatalf("queue %v, want 3", got)
	}
	n = 0
	if got := gauge(); got != 0 {
		t.Fatalf("queue %v, want 0", got)
	}
}
