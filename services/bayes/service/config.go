// Package service wires bayes together: it reads the configuration, builds
// the adapters and the application, and runs the consumers (one per shard
// of the stream), the pub/sub bridge, the plotter and the HTTP server until
// the context ends.
package service

import (
	"fmt"
	"os"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/events/prior"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/logging"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
)

// Config is every setting of bayes, read once at start-up so a bad
// deployment fails at once rather than on first use.
type Config struct {
	// Port is the TCP port of the HTTP server (PORT).
	Port int
	// Redis is where Redis is: a Redis Cluster's seed nodes
	// (REDIS_CLUSTER_ADDRS), or one server from REDIS_URL, or REDIS_HOST,
	// REDIS_PORT, REDIS_DB; REDIS_USERNAME and REDIS_PASSWORD apply to
	// both (see platform/redisconf).
	Redis redisconf.Conn
	// Stream is the Redis Stream the observations arrive on (REDIS_STREAM):
	// shard 0's stream; every other key bayes uses is named after it.
	Stream string
	// Shards is how the models are spread over STREAM_SHARDS streams of
	// Stream (1 to events.MaxShards, default 1: today's one stream), laid
	// out for a cluster when Redis is one. The api must use the same
	// number; bayes records it in Redis and refuses to start with another.
	Shards events.Shards
	// Channel is the pub/sub channel whose messages are forwarded into the
	// stream, the original's transport (REDIS_CHANNEL).
	Channel string
	// ConsumerName is this replica's name in the consumer group
	// (CONSUMER_NAME, default the host name): a name that survives restarts
	// lets a replica finish its own pending entries at once.
	ConsumerName string
	// BatchSize is how many entries one read takes and one commit applies
	// (BATCH_SIZE).
	BatchSize int
	// ClaimMinIdle is how long an entry is pending with another consumer
	// before this one takes it over (CLAIM_MIN_IDLE); ClaimInterval is how
	// often it looks (CLAIM_INTERVAL).
	ClaimMinIdle  time.Duration
	ClaimInterval time.Duration
	// TrimInterval is how often acknowledged entries are trimmed from the
	// stream, 0 never (TRIM_INTERVAL).
	TrimInterval time.Duration
	// StaleConsumer is how long a consumer with nothing pending may be idle
	// before it is removed from the group, 0 never (STALE_CONSUMER_AFTER).
	StaleConsumer time.Duration
	// GraphsDir is where the plots are drawn (GRAPHS_DIR); GraphsKeep is how
	// many numbered plots each model keeps (GRAPHS_KEEP); GraphsInterval is
	// the least time between two renders of a model (GRAPHS_MIN_INTERVAL);
	// PlotWorkers is how many plots are drawn at once, whatever the number
	// of models (PLOT_WORKERS, 0: one per core bayes may use but one, at
	// least one: GOMAXPROCS-1).
	GraphsDir      string
	GraphsKeep     int
	GraphsInterval time.Duration
	PlotWorkers    int
	// GridPoints and Prior are the grid and prior of a model that an
	// observation, not a definition, creates (GRID_POINTS, PRIOR).
	GridPoints int
	Prior      model.Prior
	// DefaultSpec is PRIOR and GRID_POINTS as that model's spec.
	DefaultSpec events.ModelSpec
	// MaxModels caps the number of models (MAX_MODELS, 0: no cap): an entry
	// that would create one more is dead-lettered (model_limit). The api
	// refuses such requests first; this catches api replicas racing.
	MaxModels int
	// ModelMetricsLimit is how many models export per-model metrics
	// (MODEL_METRICS_LIMIT), so many models cannot flood Prometheus.
	ModelMetricsLimit int
	// APIPublicURL is where the live page's buttons send observations: the
	// api as the browser reaches it (API_PUBLIC_URL).
	APIPublicURL string
	// LivePoll is how often a live feed looks for a changed model
	// (LIVE_POLL_INTERVAL).
	LivePoll time.Duration
	// LiveMaxStreams caps the live feeds open at once, over every feed route
	// (LIVE_MAX_STREAMS, 1 or more: a feed beyond it is refused with 503 and
	// Retry-After, so pages cannot exhaust a replica's goroutines and
	// connections). There is no "off": a replica that must serve no feed
	// is not what this is for, and 0 as "no cap" would remove the bound.
	LiveMaxStreams int
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string
	// ShutdownTimeout bounds the shutdown after SIGTERM: half for the HTTP
	// server, half for the batch in hand (SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
}

// LoadConfig reads the configuration through lookup (os.LookupEnv in
// production). Every invalid value is reported in one error that names each
// offending variable.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	r := envconf.New(lookup)
	c := Config{
		Port:              r.Int("PORT", 8001, 1, 65535),
		Redis:             redisconf.ReadConn(r),
		Stream:            r.String("REDIS_STREAM", events.DefaultStream),
		Channel:           r.String("REDIS_CHANNEL", events.DefaultChannel),
		ConsumerName:      r.String("CONSUMER_NAME", defaultConsumerName()),
		BatchSize:         r.Int("BATCH_SIZE", 1000, 1, 100_000),
		ClaimMinIdle:      r.Duration("CLAIM_MIN_IDLE", 30*time.Second, 10*time.Millisecond, 24*time.Hour),
		ClaimInterval:     r.Duration("CLAIM_INTERVAL", 5*time.Second, 10*time.Millisecond, time.Hour),
		TrimInterval:      r.Duration("TRIM_INTERVAL", 10*time.Second, 0, 24*time.Hour),
		StaleConsumer:     r.Duration("STALE_CONSUMER_AFTER", time.Hour, 0, 30*24*time.Hour),
		GraphsDir:         r.String("GRAPHS_DIR", "graphs"),
		GraphsKeep:        r.Int("GRAPHS_KEEP", 500, 0, 1_000_000),
		GraphsInterval:    r.Duration("GRAPHS_MIN_INTERVAL", 500*time.Millisecond, 0, time.Minute),
		PlotWorkers:       r.Int("PLOT_WORKERS", 0, 0, 256),
		GridPoints:        r.Int("GRID_POINTS", 120, events.MinGridPoints, events.MaxGridPoints),
		ModelMetricsLimit: r.Int("MODEL_METRICS_LIMIT", 20, 0, 1000),
		MaxModels:         r.Int("MAX_MODELS", 10_000, 0, 10_000_000),
		APIPublicURL:      r.String("API_PUBLIC_URL", "http://localhost:8000"),
		LivePoll:          r.Duration("LIVE_POLL_INTERVAL", 250*time.Millisecond, 10*time.Millisecond, time.Minute),
		LiveMaxStreams:    r.Int("LIVE_MAX_STREAMS", 1000, 1, 1_000_000),
		LogLevel:          r.OneOf("LOG_LEVEL", "info", logging.Levels...),
		ShutdownTimeout:   r.Duration("SHUTDOWN_TIMEOUT", 10*time.Second, time.Second, 10*time.Minute),
	}
	spec := r.String("PRIOR", "step:0.1")
	p, err := model.ParsePrior(spec)
	if err != nil {
		r.Fail("PRIOR", spec, prior.Syntax()+" ("+err.Error()+")")
	}
	c.Prior = p
	n := r.Int("STREAM_SHARDS", 1, 1, events.MaxShards)
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	if c.Shards, err = events.NewShards(c.Stream, n, c.Redis.Cluster != nil); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: REDIS_STREAM=%q with STREAM_SHARDS=%d: %w", c.Stream, n, err)
	}
	ds, err := events.NewModelSpec(c.Prior.String(), c.GridPoints)
	if err != nil {
		return Config{}, fmt.Errorf("invalid configuration: PRIOR=%q with GRID_POINTS=%d: %w", spec, c.GridPoints, err)
	}
	c.DefaultSpec = ds
	return c, nil
}

// defaultConsumerName is the host name: a StatefulSet pod's name, which
// survives restarts, or a container's id under docker compose.
func defaultConsumerName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "bayes"
}
