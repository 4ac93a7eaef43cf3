package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
)

// GroupStats is what the collector needs of the stream (redisstream).
type GroupStats interface {
	// GroupStats returns the consumer group's lag (entries not yet
	// delivered), its pending count (delivered, not acknowledged) and the
	// length of the dead-letter stream.
	GroupStats(ctx context.Context) (lag, pending, deadLetters int64, err error)
}

// ModelReader reads the current model (app/query.CurrentModelHandler).
type ModelReader interface {
	Handle(ctx context.Context) (query.ModelView, error)
}

// Collector reads Redis at scrape time. When Redis does not answer it
// reports edb_bayes_redis_up 0 and leaves the Redis-derived series out
// rather than repeating stale values.
type Collector struct {
	stats   GroupStats
	model   ModelReader
	timeout time.Duration

	up, lag, pending, dead                  *prometheus.Desc
	n, w, mean, sd, hpdiLow, hpdiHigh, mapP *prometheus.Desc
}

// NewCollector returns a collector; register it with the service registry.
func NewCollector(stats GroupStats, model ModelReader) *Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &Collector{
		stats: stats, model: model, timeout: 2 * time.Second,
		up:       d("edb_bayes_redis_up", "1 when Redis answered this scrape, else 0."),
		lag:      d("edb_bayes_consumer_group_lag", "Entries in the stream not yet delivered to any bayes replica."),
		pending:  d("edb_bayes_consumer_group_pending", "Entries delivered to a replica and not yet acknowledged."),
		dead:     d("edb_bayes_dead_letter_stream_length", "Entries in the dead-letter stream."),
		n:        d("edb_bayes_model_observations", "n: observations applied to the model."),
		w:        d("edb_bayes_model_water", "w: water observations applied to the model."),
		mean:     d("edb_bayes_model_posterior_mean", "Posterior mean of the proportion of water."),
		sd:       d("edb_bayes_model_posterior_sd", "Posterior standard deviation of the proportion of water."),
		mapP:     d("edb_bayes_model_posterior_map", "Grid point of highest posterior mass."),
		hpdiLow:  d("edb_bayes_model_hpdi_low", "Lower bound of the 89% highest posterior density interval."),
		hpdiHigh: d("edb_bayes_model_hpdi_high", "Upper bound of the 89% highest posterior density interval."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.lag, c.pending, c.dead, c.n, c.w, c.mean, c.sd, c.mapP, c.hpdiLow, c.hpdiHigh} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	lag, pending, dead, err := c.stats.GroupStats(ctx)
	v, merr := c.model.Handle(ctx)
	if err != nil || merr != nil {
		gauge(c.up, 0)
		return
	}
	gauge(c.up, 1)
	gauge(c.lag, float64(lag))
	gauge(c.pending, float64(pending))
	gauge(c.dead, float64(dead))
	gauge(c.n, float64(v.N))
	gauge(c.w, float64(v.W))
	gauge(c.mean, v.Mean)
	gauge(c.sd, v.SD)
	gauge(c.mapP, v.MAP)
	gauge(c.hpdiLow, v.HPDI.Lo)
	gauge(c.hpdiHigh, v.HPDI.Hi)
}
