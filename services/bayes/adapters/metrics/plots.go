package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// Plots holds the plotter's metrics.
type Plots struct {
	renders  *prometheus.CounterVec
	duration prometheus.Histogram
}

// NewPlots registers the plot metrics with reg.
func NewPlots(reg prometheus.Registerer) *Plots {
	p := &Plots{
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edb_bayes_plot_renders_total",
			Help: "Plot renders (numbered PNG plus latest.png), by result.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edb_bayes_plot_render_duration_seconds",
			Help:    "Time one plot render took.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	reg.MustRegister(p.renders, p.duration)
	p.renders.WithLabelValues("ok")
	p.renders.WithLabelValues("error")
	return p
}

// Render wraps a render function so each call is counted and timed.
func (p *Plots) Render(render func(context.Context, model.Counts) error) func(context.Context, model.Counts) error {
	return func(ctx context.Context, c model.Counts) error {
		start := time.Now()
		err := render(ctx, c)
		p.duration.Observe(time.Since(start).Seconds())
		result := "ok"
		if err != nil {
			result = "error"
		}
		p.renders.WithLabelValues(result).Inc()
		return err
	}
}
