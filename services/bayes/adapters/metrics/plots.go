package metrics

import "github.com/prometheus/client_golang/prometheus"

// NewPlotQueue registers the plotter's queue length with reg, read at each
// scrape from length (plotfile.Models.QueueLen): how many models wait for a
// draw worker, each counted once however many states arrived. A queue that
// stays long means the workers (PLOT_WORKERS) cannot keep up with the
// models' changes; the images are then late, never wrong.
func NewPlotQueue(reg prometheus.Registerer, length func() int) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edb_bayes_plot_queue_models",
		Help: "Models waiting for a plot draw worker (or for their folder's removal), each counted once.",
	}, func() float64 { return float64(length()) }))
}
