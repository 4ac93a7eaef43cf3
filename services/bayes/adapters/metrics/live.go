package metrics

import "github.com/prometheus/client_golang/prometheus"

// Live holds the live feeds' gauges; give it to the HTTP port
// (httpapi.Options.Live), which sets them as feeds open and close.
type Live struct {
	streams prometheus.Gauge
	watched prometheus.Gauge
}

// NewLive registers the live feed metrics with reg.
func NewLive(reg prometheus.Registerer) *Live {
	l := &Live{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edb_bayes_live_streams",
			Help: "Server-Sent Events feeds open now, over every feed route; LIVE_MAX_STREAMS caps them and the next is refused with 503.",
		}),
		watched: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edb_bayes_live_watched_models",
			Help: "Models the open feeds follow; each is read once per LIVE_POLL_INTERVAL however many feeds follow it.",
		}),
	}
	reg.MustRegister(l.streams, l.watched)
	return l
}

// SetStreams sets the number of open feeds (httpapi.LiveMetrics).
func (l *Live) SetStreams(n int) { l.streams.Set(float64(n)) }

// SetWatched sets the number of watched models (httpapi.LiveMetrics).
func (l *Live) SetWatched(n int) { l.watched.Set(float64(n)) }
