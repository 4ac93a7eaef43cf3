// Package metrics is bayes' Prometheus instrumentation: decorators that
// count and time what flows through the consume loop and the plotter, and a
// collector that reads the consumer group's lag and the model's belief from
// Redis at scrape time, so every replica reports the same, current truth.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Pipeline holds the consume-loop metrics.
type Pipeline struct {
	consumed  prometheus.Counter
	applied   *prometheus.CounterVec
	skipped   prometheus.Counter
	dead      *prometheus.CounterVec
	claimed   prometheus.Counter
	lifecycle *prometheus.CounterVec
	batchSize prometheus.Histogram
	latency   prometheus.Histogram
	commitDur prometheus.Histogram
	now       func() time.Time

	// Children resolved once: the label lookup would otherwise hash the
	// label values for every event on the hot path.
	appliedW, appliedL prometheus.Counter
	deleted, reset     prometheus.Counter
	deadBy             map[string]prometheus.Counter
}

// deadLetterCodes are the reason codes an entry can be dead-lettered with,
// exported at 0 from the start. wrong_shard (command.CodeWrongShard) is
// not among them: only a sharded deployment can see it, and its series
// appears when it first happens, so one shard keeps the series it had.
var deadLetterCodes = append(append([]string(nil), events.Codes...), command.CodeNoFields, command.CodeModelConflict, command.CodeModelLimit)

// NewPipeline registers the pipeline metrics with reg.
func NewPipeline(reg prometheus.Registerer) *Pipeline {
	p := &Pipeline{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edb_bayes_events_consumed_total",
			Help: "Stream entries handed to a commit (read, recovered or claimed), applied or not.",
		}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edb_bayes_events_applied_total",
			Help: "Observations applied to the model, by trial.",
		}, []string{"trial"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edb_bayes_events_skipped_total",
			Help: "Entries delivered again after they had been applied (after a crash or a claim race); not counted twice.",
		}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edb_bayes_events_dead_lettered_total",
			Help: "Entries moved to the dead-letter stream (malformed, a definition of a model that exists with another spec, a model beyond MAX_MODELS, a model on another shard), by reason.",
		}, []string{"reason"}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edb_bayes_events_claimed_total",
			Help: "Entries claimed from consumers that held them too long (XAUTOCLAIM).",
		}),
		lifecycle: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edb_bayes_changes_applied_total",
			Help: "Deletes and resets applied (a delete or reset of a model that did not exist included), by action.",
		}, []string{"action"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edb_bayes_consume_batch_size",
			Help:    "Entries per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1 .. 16384
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edb_bayes_event_latency_seconds",
			Help:    "Time from the api accepting an observation (its ts field) to its application to the model.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edb_bayes_commit_duration_seconds",
			Help:    "Time one batch commit (the ack-and-apply script) took.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		now: time.Now,
	}
	reg.MustRegister(p.consumed, p.applied, p.skipped, p.dead, p.claimed, p.lifecycle, p.batchSize, p.latency, p.commitDur)
	p.deleted = p.lifecycle.WithLabelValues("delete")
	p.reset = p.lifecycle.WithLabelValues("reset")
	p.appliedW = p.applied.WithLabelValues(model.Water.String())
	p.appliedL = p.applied.WithLabelValues(model.Land.String())
	p.deadBy = make(map[string]prometheus.Counter, len(deadLetterCodes))
	for _, c := range deadLetterCodes {
		p.deadBy[c] = p.dead.WithLabelValues(c)
	}
	return p
}

// Batches wraps next, the command that applies a batch, so that every
// batch is counted and timed by what became of each entry.
func (p *Pipeline) Batches(next command.BatchHandler) command.BatchHandler {
	return batches{next: next, p: p}
}

type batches struct {
	next command.BatchHandler
	p    *Pipeline
}

func (b batches) Handle(ctx context.Context, batch []command.Entry) (command.Result, error) {
	start := b.p.now()
	res, err := b.next.Handle(ctx, batch)
	if err != nil || len(batch) == 0 {
		return res, err
	}
	now := b.p.now()
	b.p.commitDur.Observe(now.Sub(start).Seconds())
	b.p.consumed.Add(float64(len(batch)))
	b.p.batchSize.Observe(float64(len(batch)))
	b.p.skipped.Add(float64(res.Skipped))
	for i, o := range res.Outcomes {
		switch o.Status {
		case command.Applied:
			e := batch[i]
			switch e.Kind {
			case command.Delete:
				b.p.deleted.Inc()
				continue
			case command.Reset:
				b.p.reset.Inc()
				continue
			}
			b.p.appliedW.Add(float64(e.Observation.W))
			b.p.appliedL.Add(float64(e.Observation.L))
			if ts := e.PublishedAt; !ts.IsZero() {
				b.p.latency.Observe(now.Sub(ts).Seconds())
			}
		case command.DeadLettered:
			if c, ok := b.p.deadBy[o.Code]; ok {
				c.Inc()
			} else {
				b.p.dead.WithLabelValues(o.Code).Inc()
			}
		}
	}
	return res, nil
}

// CountClaim counts n entries claimed from consumers that held them too
// long; give it to the consumer (redisstream.OnClaim).
func (p *Pipeline) CountClaim(n int) { p.claimed.Add(float64(n)) }

// NewStreamShards registers edb_bayes_stream_shards, the number of shards
// (STREAM_SHARDS) this replica reads.
func NewStreamShards(reg prometheus.Registerer, n int) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "edb_bayes_stream_shards",
		Help: "Shards of the stream (STREAM_SHARDS) this replica reads, each a stream with its own consumer group.",
	})
	g.Set(float64(n))
	reg.MustRegister(g)
}

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
