package redisstream

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// PublishMetrics count and time XADDs.
type PublishMetrics struct {
	published     *prometheus.CounterVec
	failures      prometheus.Counter
	notReplicated prometheus.Counter
	duration      prometheus.Histogram
	shards        prometheus.Gauge
	// each label's counter, looked up once rather than per request
	water, land, batch, define, del, reset prometheus.Counter
}

// NewPublishMetrics registers the publish metrics with reg.
func NewPublishMetrics(reg prometheus.Registerer) *PublishMetrics {
	m := &PublishMetrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edb_api_events_published_total",
			Help: "Events stored in the stream (XADD succeeded), by trial: w or l for one toss, batch for counts, define for a model definition, delete or reset for a model's deletion or reset.",
		}, []string{"trial"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edb_api_publish_failures_total",
			Help: "XADDs that failed or timed out; each one was answered 503.",
		}),
		notReplicated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edb_api_publish_not_replicated_total",
			Help: "Events stored on the master but answered 503 because WAIT confirmed fewer replicas than REDIS_WAIT_REPLICAS within the timeout (counted in edb_api_publish_failures_total too); each may still be counted.",
		}),
		shards: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edb_api_stream_shards",
			Help: "Shards (streams) the api publishes to (STREAM_SHARDS).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edb_api_publish_duration_seconds",
			Help:    "Time one XADD took, successful or not.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	reg.MustRegister(m.published, m.failures, m.notReplicated, m.duration, m.shards)
	m.shards.Set(1) // a Publisher alone writes one stream; a Router says how many
	// The series exist from the start, at 0.
	m.water, m.land = m.published.WithLabelValues(events.TrialWater), m.published.WithLabelValues(events.TrialLand)
	m.batch, m.define = m.published.WithLabelValues(labelBatch), m.published.WithLabelValues(labelDefine)
	m.del, m.reset = m.published.WithLabelValues(labelDelete), m.published.WithLabelValues(labelReset)
	return m
}

// WithMetrics makes the publisher count and time its XADDs.
func WithMetrics(m *PublishMetrics) Option { return func(p *Publisher) { p.metrics = m } }

// observe records one XADD of o that started at start and ended with err.
// An event the contract refused never gets here: it was not an XADD. A nil
// m measures nothing, so a publisher without metrics pays one comparison.
func (m *PublishMetrics) observe(start time.Time, o *events.Event, err error) {
	if m == nil {
		return
	}
	m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		m.failures.Inc()
		if errors.Is(err, ErrNotReplicated) {
			m.notReplicated.Inc()
		}
		return
	}
	switch publishedLabel(o) {
	case events.TrialWater:
		m.water.Inc()
	case events.TrialLand:
		m.land.Inc()
	case labelBatch:
		m.batch.Inc()
	case labelDefine:
		m.define.Inc()
	case labelDelete:
		m.del.Inc()
	default:
		m.reset.Inc()
	}
}

// Label values of edb_api_events_published_total besides the trials: the
// event kinds other than an observation are their own label.
const (
	labelBatch  = "batch"
	labelDefine = events.KindDefine
	labelDelete = events.KindDelete
	labelReset  = events.KindReset
)

// publishedLabel is o's kind as a metric label and span attribute: its
// trial, batch, define, delete or reset.
func publishedLabel(o *events.Event) string {
	switch {
	case o.Kind == events.KindDefine || o.Kind == events.KindDelete || o.Kind == events.KindReset:
		return o.Kind
	case o.Trial != "":
		return o.Trial
	default:
		return labelBatch
	}
}
