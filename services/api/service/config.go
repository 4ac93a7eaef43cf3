package service

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/access"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/logging"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/profiling"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
)

// Defaults of the api's own variables.
const (
	DefaultPort            = 8000
	DefaultStream          = events.DefaultStream
	DefaultPublishTimeout  = 2 * time.Second
	DefaultLogLevel        = "info"
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultMaxRequestBytes: the largest body an endpoint takes is a small
	// JSON object; 4 KiB covers it many times over.
	DefaultMaxRequestBytes = 4 << 10
	// DefaultRateLimit is off, so benchmarks and a default setup behind one
	// proxy address are never throttled; deployments facing clients set it.
	DefaultRateLimit = 0
	// DefaultMaxModels is bayes' default too: both must agree (bayes
	// enforces the cap when it creates a model, the api refuses at once).
	DefaultMaxModels = 10_000
	// MaxWaitReplicas bounds REDIS_WAIT_REPLICAS.
	MaxWaitReplicas = 16
)

// Config is everything the api reads from its environment, read once at
// start-up so a bad deployment fails immediately rather than on first use.
type Config struct {
	// Port is the TCP port the HTTP server listens on (PORT).
	Port int
	// Redis is where Redis is: a Redis Cluster (REDIS_CLUSTER_ADDRS), or one
	// server from REDIS_URL, or REDIS_HOST, REDIS_PORT, REDIS_DB; with
	// REDIS_USERNAME and REDIS_PASSWORD either way (see platform/redisconf).
	Redis redisconf.Conn
	// Stream is the Redis Stream observations are appended to (REDIS_STREAM),
	// shard 0's stream when there are several.
	Stream string
	// Shards places each model's events on one of STREAM_SHARDS streams
	// (default 1: Stream alone, every key named as before shards existed);
	// bayes must be given the same number.
	Shards events.Shards
	// WaitReplicas is how many replicas must confirm each batch of events
	// (WAIT on the master that took it) before the api answers 201
	// (REDIS_WAIT_REPLICAS, 0 to 16, default 0: answer once the master has
	// stored it). Fewer within PUBLISH_TIMEOUT is a 503 that says the event
	// may still be counted.
	WaitReplicas int
	// PublishTimeout bounds one XADD, so a request never hangs on a dead
	// Redis (PUBLISH_TIMEOUT).
	PublishTimeout time.Duration
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string
	// ShutdownTimeout is how long in-flight requests may take to finish
	// after SIGTERM (SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// ShutdownDrain is how long the api goes on serving after SIGTERM, with
	// /readyz failing and every answer closing its connection, before it
	// stops accepting (SHUTDOWN_DRAIN, default 0: stop at once). Behind a
	// load balancer it moves keep-alive clients to other replicas without
	// a failed request.
	ShutdownDrain time.Duration
	// MaxRequestBytes is the largest request body accepted; larger gets 413
	// (MAX_REQUEST_BYTES).
	MaxRequestBytes int
	// RateLimit is the sustained requests per second allowed per client IP,
	// 0 for no limit (RATE_LIMIT); RateLimitBurst is how many a client may
	// send at once (RATE_LIMIT_BURST, default RateLimit). Over it: 429.
	RateLimit      int
	RateLimitBurst int
	// CORSOrigins are the browser origins allowed to call the api from
	// another site, e.g. bayes' live page (CORS_ALLOW_ORIGINS, comma
	// separated; empty, the default, sends no CORS headers; * allows any).
	CORSOrigins []string
	// MaxModels caps the number of models (MAX_MODELS, default 10,000, 0:
	// no cap): an observation or definition that would create a model when
	// as many exist is refused with 409. Set it to bayes' value.
	MaxModels int
	// PprofAddr, when set, serves Go's runtime profiles (/debug/pprof/) on
	// this loopback host:port, apart from the public port (PPROF_ADDR,
	// default empty: off).
	PprofAddr string
	// Tokens are the API tokens of the file API_TOKENS_FILE, read once at
	// start-up (domain/access has the format): with them every writing
	// endpoint needs Authorization: Bearer <token> with its scope. nil, the
	// default (variable unset), is tokens off: every endpoint is open.
	Tokens *access.Tokens
	// LegacyOpen keeps /update_model/{w|l} open to anyone while tokens are
	// on, for the original's clients (LEGACY_OPEN: 0 or 1, false or true;
	// default 0).
	LegacyOpen bool
}

// LoadConfig reads the configuration through lookup (os.LookupEnv in
// production). Every invalid value is reported in one error that names each
// offending variable.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	r := envconf.New(lookup)
	cfg := Config{
		Port:   r.Int("PORT", DefaultPort, 1, 65535),
		Redis:  redisconf.ReadConn(r),
		Stream: r.String("REDIS_STREAM", DefaultStream),
		// Up to 16: a deployment waiting for more replicas than that per
		// batch has mistyped the number.
		WaitReplicas: r.Int("REDIS_WAIT_REPLICAS", 0, 0, MaxWaitReplicas),
		// The upper bound stays below the HTTP write timeout so that a slow
		// publish still gets its 503 written.
		PublishTimeout:  r.Duration("PUBLISH_TIMEOUT", DefaultPublishTimeout, 10*time.Millisecond, 10*time.Second),
		LogLevel:        r.OneOf("LOG_LEVEL", DefaultLogLevel, logging.Levels...),
		ShutdownTimeout: r.Duration("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, 100*time.Millisecond, 5*time.Minute),
		ShutdownDrain:   r.Duration("SHUTDOWN_DRAIN", 0, 0, time.Minute),
		MaxRequestBytes: r.Int("MAX_REQUEST_BYTES", DefaultMaxRequestBytes, 1, 64<<20),
		RateLimit:       r.Int("RATE_LIMIT", DefaultRateLimit, 0, 10_000_000),
		MaxModels:       r.Int("MAX_MODELS", DefaultMaxModels, 0, 10_000_000),
	}
	// One second's worth by default: a client may spend its whole second at
	// once, but not more.
	cfg.RateLimitBurst = r.Int("RATE_LIMIT_BURST", cfg.RateLimit, 1, 10_000_000)
	for _, o := range strings.Split(r.String("CORS_ALLOW_ORIGINS", ""), ",") {
		o = strings.TrimSpace(o)
		switch {
		case o == "":
		case o == "*" || validOrigin(o):
			cfg.CORSOrigins = append(cfg.CORSOrigins, o)
		default:
			r.Fail("CORS_ALLOW_ORIGINS", o, "origins like http://localhost:8001 (scheme://host[:port], no path), comma separated, or *")
		}
	}
	cfg.PprofAddr = r.String("PPROF_ADDR", "")
	if err := profiling.CheckAddr(cfg.PprofAddr); err != nil {
		r.Fail("PPROF_ADDR", cfg.PprofAddr, err.Error())
	}
	if path := r.String("API_TOKENS_FILE", ""); path != "" {
		tokens, err := readTokens(path)
		if err != nil {
			r.Fail("API_TOKENS_FILE", path, "a readable file of lines NAME SCOPES TOKEN ("+err.Error()+")")
		}
		cfg.Tokens = tokens
	}
	legacy := r.OneOf("LEGACY_OPEN", "0", "0", "1", "false", "true")
	cfg.LegacyOpen = legacy == "1" || legacy == "true"
	if strings.ContainsAny(cfg.Stream, " \t\r\n") {
		r.Fail("REDIS_STREAM", cfg.Stream, "a stream name without white space")
	}
	shards := r.Int("STREAM_SHARDS", 1, 1, events.MaxShards)
	var err error
	if cfg.Shards, err = events.NewShards(cfg.Stream, shards, cfg.Redis.Cluster != nil); err != nil {
		r.Fail("STREAM_SHARDS", strconv.Itoa(shards), err.Error())
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// readTokens reads the tokens file at path. Its errors name the line at
// fault, never a token (access.Parse).
func readTokens(path string) (*access.Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError: "open <path>: <why>"
	}
	defer f.Close()
	return access.Parse(f)
}

// validOrigin reports whether s is a browser origin: scheme://host[:port].
func validOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}
