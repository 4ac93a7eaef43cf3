// Package service wires bayes together: it reads the configuration, builds
// the adapters and the application, and runs the consumer, the pub/sub
// bridge, the plotter and the HTTP server until the context ends.
package service

import (
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/events/prior"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/logging"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
)

// Config is every setting of bayes, read once at start-up.
type Config struct {
	Port           int
	Redis          *redis.Options
	Stream         string
	Channel        string
	ConsumerName   string
	BatchSize      int
	ClaimMinIdle   time.Duration
	ClaimInterval  time.Duration
	TrimInterval   time.Duration
	StaleConsumer  time.Duration
	GraphsDir      string
	GraphsKeep     int
	GraphsInterval time.Duration
	GridPoints     int
	Prior          model.Prior
	// DefaultSpec is PRIOR and GRID_POINTS as the spec of a model that an
	// observation, not a definition, creates.
	DefaultSpec       events.ModelSpec
	ModelMetricsLimit int
	APIPublicURL      string
	LivePoll          time.Duration
	LogLevel          string
	ShutdownTimeout   time.Duration
}

// LoadConfig reads the environment through lookup (nil: os.LookupEnv) and
// reports every invalid variable by name.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	r := envconf.New(lookup)
	c := Config{
		Port:              r.Int("PORT", 8001, 1, 65535),
		Redis:             redisconf.Read(r),
		Stream:            r.String("REDIS_STREAM", "update_model"),
		Channel:           r.String("REDIS_CHANNEL", "update_model"),
		ConsumerName:      r.String("CONSUMER_NAME", defaultConsumerName()),
		BatchSize:         r.Int("BATCH_SIZE", 1000, 1, 100_000),
		ClaimMinIdle:      r.Duration("CLAIM_MIN_IDLE", 30*time.Second, 10*time.Millisecond, 24*time.Hour),
		ClaimInterval:     r.Duration("CLAIM_INTERVAL", 5*time.Second, 10*time.Millisecond, time.Hour),
		TrimInterval:      r.Duration("TRIM_INTERVAL", 10*time.Second, 0, 24*time.Hour),
		StaleConsumer:     r.Duration("STALE_CONSUMER_AFTER", time.Hour, 0, 30*24*time.Hour),
		GraphsDir:         r.String("GRAPHS_DIR", "graphs"),
		GraphsKeep:        r.Int("GRAPHS_KEEP", 500, 0, 1_000_000),
		GraphsInterval:    r.Duration("GRAPHS_MIN_INTERVAL", 500*time.Millisecond, 0, time.Minute),
		GridPoints:        r.Int("GRID_POINTS", 120, events.MinGridPoints, events.MaxGridPoints),
		ModelMetricsLimit: r.Int("MODEL_METRICS_LIMIT", 20, 0, 1000),
		APIPublicURL:      r.String("API_PUBLIC_URL", "http://localhost:8000"),
		LivePoll:          r.Duration("LIVE_POLL_INTERVAL", 250*time.Millisecond, 10*time.Millisecond, time.Minute),
		LogLevel:          r.OneOf("LOG_LEVEL", "info", logging.Levels...),
		ShutdownTimeout:   r.Duration("SHUTDOWN_TIMEOUT", 10*time.Second, time.Second, 10*time.Minute),
	}
	spec := r.String("PRIOR", "step:0.1")
	p, err := model.ParsePrior(spec)
	if err != nil {
		r.Fail("PRIOR", spec, prior.Syntax()+" ("+err.Error()+")")
	}
	c.Prior = p
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	if _, err := model.New(c.GridPoints, c.Prior); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: PRIOR=%q with GRID_POINTS=%d: %w", spec, c.GridPoints, err)
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
