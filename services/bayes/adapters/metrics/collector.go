package metrics

import (
	"context"
	"strconv"
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

// ModelReader reads the models (app/query.Models).
type ModelReader interface {
	// First returns the read models of the first limit models (the
	// default one first, then by name) and how many models exist.
	First(ctx context.Context, limit int) ([]query.ModelView, int, error)
}

// Collector reads Redis at scrape time. When Redis does not answer it
// reports edb_bayes_redis_up 0 and leaves the Redis-derived series out
// rather than repeating stale values.
//
// Every model is a label value, and models are created by whoever can post
// an observation, so the per-model series are capped: the first limit
// models of the list order (default first, then by name) are exported, and
// edb_bayes_models and edb_bayes_models_not_exported say how many exist and
// how many the cap left out. Prometheus' series count, and the Redis reads
// of a scrape, stay bounded however many models there are.
//
// The stream's gauges (lag, pending, dead letters) are per shard: with one
// shard they have no label, as before shards existed; with more, a label
// shard ("0", "1", …) tells a lagging or stuck shard from the others, and
// sum() gives the deployment's total.
type Collector struct {
	stats   []GroupStats
	models  ModelReader
	limit   int
	timeout time.Duration

	up, lag, pending, dead, total, notExported *prometheus.Desc
	n, w, mean, sd, hpdiLow, hpdiHigh, mapP    *prometheus.Desc
}

// NewCollector returns a collector of the shards whose streams stats reads
// (one per shard, shard i at i) exporting at most limit models per scrape
// (0: only the totals; a negative limit counts as 0). Register it with the
// service registry.
func NewCollector(stats []GroupStats, models ModelReader, limit int) *Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	var shardLabel []string
	if len(stats) > 1 {
		shardLabel = []string{"shard"}
	}
	ds := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, shardLabel, nil) }
	m := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help+" One series per exported model (see edb_bayes_models_not_exported).", []string{"model"}, nil)
	}
	return &Collector{
		stats: stats, models: models, limit: max(limit, 0), timeout: 2 * time.Second,
		up:          d("edb_bayes_redis_up", "1 when Redis answered this scrape, else 0."),
		lag:         ds("edb_bayes_consumer_group_lag", "Entries in the stream not yet delivered to any bayes replica."),
		pending:     ds("edb_bayes_consumer_group_pending", "Entries delivered to a replica and not yet acknowledged."),
		dead:        ds("edb_bayes_dead_letter_stream_length", "Entries in the dead-letter stream."),
		total:       d("edb_bayes_models", "Models that exist (the default one included)."),
		notExported: d("edb_bayes_models_not_exported", "Models left out of the per-model series by the cap MODEL_METRICS_LIMIT."),
		n:           m("edb_bayes_model_observations", "n: observations applied to the model."),
		w:           m("edb_bayes_model_water", "w: water observations applied to the model."),
		mean:        m("edb_bayes_model_posterior_mean", "Posterior mean of the proportion of water."),
		sd:          m("edb_bayes_model_posterior_sd", "Posterior standard deviation of the proportion of water."),
		mapP:        m("edb_bayes_model_posterior_map", "Grid point of highest posterior mass."),
		hpdiLow:     m("edb_bayes_model_hpdi_low", "Lower bound of the 89% highest posterior density interval."),
		hpdiHigh:    m("edb_bayes_model_hpdi_high", "Upper bound of the 89% highest posterior density interval."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.up, c.lag, c.pending, c.dead, c.total, c.notExported,
		c.n, c.w, c.mean, c.sd, c.mapP, c.hpdiLow, c.hpdiHigh,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Everything is read before
// anything is sent, so a read that fails halfway leaves out every
// Redis-derived series, not just the ones after it.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	shards, views, total, err := c.read(ctx)
	if err != nil {
		gauge(c.up, 0)
		return
	}
	gauge(c.up, 1)
	for i, st := range shards {
		var label []string
		if len(shards) > 1 {
			label = []string{strconv.Itoa(i)}
		}
		gauge(c.lag, float64(st.lag), label...)
		gauge(c.pending, float64(st.pending), label...)
		gauge(c.dead, float64(st.dead), label...)
	}
	gauge(c.total, float64(total))
	gauge(c.notExported, float64(total-len(views)))
	for _, v := range views {
		gauge(c.n, float64(v.N), v.Name)
		gauge(c.w, float64(v.W), v.Name)
		gauge(c.mean, v.Mean, v.Name)
		gauge(c.sd, v.SD, v.Name)
		gauge(c.mapP, v.MAP, v.Name)
		gauge(c.hpdiLow, v.HPDI.Lo, v.Name)
		gauge(c.hpdiHigh, v.HPDI.Hi, v.Name)
	}
}

// streamStats are one shard's stream counters.
type streamStats struct{ lag, pending, dead int64 }

// read gathers one scrape: each shard's group counters, how many models
// exist and the views of the first c.limit of them.
func (c *Collector) read(ctx context.Context) (shards []streamStats, views []query.ModelView, total int, err error) {
	shards = make([]streamStats, len(c.stats))
	for i, s := range c.stats {
		st := &shards[i]
		if st.lag, st.pending, st.dead, err = s.GroupStats(ctx); err != nil {
			return nil, nil, 0, err
		}
	}
	if views, total, err = c.models.First(ctx, c.limit); err != nil {
		return nil, nil, 0, err
	}
	return shards, views, total, nil
}
