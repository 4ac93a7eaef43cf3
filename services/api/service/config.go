package service

import (
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/logging"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
)

// Defaults of the api's own variables.
const (
	DefaultPort            = 8000
	DefaultStream          = "update_model"
	DefaultPublishTimeout  = 2 * time.Second
	DefaultLogLevel        = "info"
	DefaultShutdownTimeout = 10 * time.Second
)

// Config is everything the api reads from its environment, read once at
// start-up so a bad deployment fails immediately rather than on first use.
type Config struct {
	// Port is the TCP port the HTTP server listens on (PORT).
	Port int
	// Redis are the client options from REDIS_URL, or REDIS_HOST, REDIS_PORT,
	// REDIS_DB and REDIS_PASSWORD (see platform/redisconf).
	Redis *redis.Options
	// Stream is the Redis Stream observations are appended to (REDIS_STREAM).
	Stream string
	// PublishTimeout bounds one XADD, so a request never hangs on a dead
	// Redis (PUBLISH_TIMEOUT).
	PublishTimeout time.Duration
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string
	// ShutdownTimeout is how long in-flight requests may take to finish
	// after SIGTERM (SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
}

// LoadConfig reads the configuration through lookup (os.LookupEnv in
// production). Every invalid value is reported in one error that names each
// offending variable.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	r := envconf.New(lookup)
	cfg := Config{
		Port:   r.Int("PORT", DefaultPort, 1, 65535),
		Redis:  redisconf.Read(r),
		Stream: r.String("REDIS_STREAM", DefaultStream),
		// The upper bound stays below the HTTP write timeout so that a slow
		// publish still gets its 503 written.
		PublishTimeout:  r.Duration("PUBLISH_TIMEOUT", DefaultPublishTimeout, 10*time.Millisecond, 10*time.Second),
		LogLevel:        r.OneOf("LOG_LEVEL", DefaultLogLevel, logging.Levels...),
		ShutdownTimeout: r.Duration("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, 100*time.Millisecond, 5*time.Minute),
	}
	if strings.ContainsAny(cfg.Stream, " \t\r\n") {
		r.Fail("REDIS_STREAM", cfg.Stream, "a stream name without white space")
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
