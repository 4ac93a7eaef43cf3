// Package service is the composition root of the api: it builds the Redis
// adapters, plugs them into the app layer, puts the HTTP port in front and
// owns the server's life from listen to graceful shutdown. Nothing else
// constructs adapters, so tests can build the real thing from a Config.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"go.opentelemetry.io/otel"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/profiling"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/telemetry"
)

// Name is the service name in logs and in Fiber's metadata.
const Name = "api"

// readinessTimeout is how long Redis has to answer the readiness PING. It
// matches the default Kubernetes probe timeout, so the probe sees our 503
// rather than its own timeout.
const readinessTimeout = time.Second

// NewApplication builds the app layer on a Redis client made from cfg. The
// cleanup func closes the client. Redis being down is not an error here: the
// api starts, reports not-ready and recovers when Redis comes back.
func NewApplication(ctx context.Context, cfg Config, logger *slog.Logger) (app.Application, func(), error) {
	return newApplicationWith(ctx, cfg, logger, telemetry.NewRegistry(), false)
}

func newApplicationWith(ctx context.Context, cfg Config, logger *slog.Logger, reg prometheus.Registerer, tracing bool) (app.Application, func(), error) {
	if cfg.Redis.Single == nil && cfg.Redis.Cluster == nil {
		return app.Application{}, nil, errors.New("building application: no Redis options in config")
	}
	if cfg.Shards.Count() < 1 {
		return app.Application{}, nil, errors.New("building application: no stream shards in config")
	}
	client := cfg.Redis.NewClient()
	if tracing {
		// The XADD gets a client span under the producer span; its
		// statement is short and holds no secret. On a cluster client the
		// hook goes on every node's client, which the publisher writes through.
		if err := redisotel.InstrumentTracing(client, redisotel.WithDialFilter(true)); err != nil {
			_ = client.Close()
			return app.Application{}, nil, fmt.Errorf("instrumenting redis client: %w", err)
		}
	}
	pubOpts := []redisstream.Option{
		redisstream.WithMetrics(redisstream.NewPublishMetrics(reg)),
		redisstream.WithWaitReplicas(cfg.WaitReplicas),
	}
	if tracing {
		pubOpts = append(pubOpts, redisstream.WithTracer(otel.GetTracerProvider()))
	}
	pub, err := redisstream.NewRouter(client, cfg.Shards, cfg.PublishTimeout, pubOpts...)
	if err != nil {
		_ = client.Close()
		return app.Application{}, nil, fmt.Errorf("building publisher: %w", err)
	}
	// The publishers' writers go first: they may still be sending the last
	// batches, which need the client.
	cleanup := func() {
		pub.Close()
		if err := client.Close(); err != nil {
			logger.Warn("closing redis client", slog.Any("err", err))
		}
	}
	specs, err := redisstream.NewSpecReader(client, cfg.Shards)
	if err != nil {
		cleanup()
		return app.Application{}, nil, err
	}
	pinger, err := redisstream.NewPinger(client, cfg.Shards)
	if err != nil {
		cleanup()
		return app.Application{}, nil, fmt.Errorf("building pinger: %w", err)
	}
	application, err := newApplication(pinger, pub, specs, cfg)
	if err != nil {
		cleanup()
		return app.Application{}, nil, err
	}

	// An early PING of every shard's master only to tell the operator; it
	// is not a start condition.
	pctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	if err := pinger.Ping(pctx); err != nil {
		logger.Warn("redis not reachable at start-up; serving 503 until it is",
			slog.String("redis", cfg.Redis.String()), slog.Any("err", err))
	}
	return application, cleanup, nil
}

func newApplication(pinger query.Pinger, pub command.Publisher, specs command.Catalog, cfg Config) (app.Application, error) {
	// One view of the models for every handler: what one learns exists,
	// the others need not read again, and a deletion is forgotten by all.
	models, err := command.NewModels(specs, cfg.MaxModels)
	if err != nil {
		return app.Application{}, fmt.Errorf("building models: %w", err)
	}
	record, err := command.NewRecordObservationHandler(pub, time.Now, command.WithModels(models))
	if err != nil {
		return app.Application{}, fmt.Errorf("building handler: %w", err)
	}
	define, err := command.NewDefineModelHandler(pub, specs, time.Now, command.WithModels(models))
	if err != nil {
		return app.Application{}, fmt.Errorf("building handler: %w", err)
	}
	del, err := command.NewDeleteModelHandler(pub, models, time.Now)
	if err != nil {
		return app.Application{}, fmt.Errorf("building handler: %w", err)
	}
	reset, err := command.NewResetModelHandler(pub, models, time.Now)
	if err != nil {
		return app.Application{}, fmt.Errorf("building handler: %w", err)
	}
	ready, err := query.NewReadinessHandler(pinger, readinessTimeout)
	if err != nil {
		return app.Application{}, fmt.Errorf("building handler: %w", err)
	}
	return app.Application{
		Commands: app.Commands{RecordObservation: record, DefineModel: define, DeleteModel: del, ResetModel: reset},
		Queries:  app.Queries{Readiness: ready},
	}, nil
}

// streamOf names the stream of a model's shard in the answers; nil with
// one shard, whose stream is cfg.Stream for every model.
func streamOf(shards events.Shards) func(model string) string {
	if shards.Count() <= 1 {
		return nil
	}
	return func(model string) string { return shards.Stream(shards.Of(model)) }
}

// apiTokens says in the start-up log whether tokens are on and which, by
// name: an operator sees that the file was read, never a token.
func apiTokens(cfg Config) slog.Attr {
	if cfg.Tokens == nil {
		return slog.String("api_tokens", "off")
	}
	return slog.Group("api_tokens",
		slog.Any("names", cfg.Tokens.Names()),
		slog.Bool("legacy_open", cfg.LegacyOpen))
}

// Run serves the api on cfg.Port until ctx is cancelled (SIGTERM in main),
// then drains for cfg.ShutdownDrain (still serving, not ready, closing each
// connection after its answer), stops accepting, lets in-flight requests finish within
// cfg.ShutdownTimeout and closes Redis. It returns nil after a clean
// shutdown and an error if the server could not start or failed.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	tracing, reg, flush, err := telemetry.Start(ctx, Name, logger)
	if err != nil {
		return err
	}
	defer flush()
	application, cleanup, err := newApplicationWith(ctx, cfg, logger, reg, tracing.Enabled)
	if err != nil {
		return err
	}
	defer cleanup()
	// The profiles stay served while the api drains and shuts down.
	pctx, stopProfiling := context.WithCancel(context.WithoutCancel(ctx))
	waitProfiling, err := profiling.Serve(pctx, cfg.PprofAddr, logger)
	if err != nil {
		stopProfiling()
		return err
	}
	defer waitProfiling()
	defer stopProfiling()

	var auth *httpapi.Auth
	if cfg.Tokens != nil {
		if auth, err = httpapi.NewAuth(cfg.Tokens, cfg.LegacyOpen, reg); err != nil {
			return err
		}
	}
	var draining atomic.Bool
	server := httpapi.New(application, httpapi.Options{
		AppName: Name, Stream: cfg.Stream, StreamOf: streamOf(cfg.Shards),
		Draining:       &draining,
		Metrics:        httpapi.NewHTTPMetrics(reg),
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Tracing:        tracing.Enabled,
		CORSOrigins:    cfg.CORSOrigins,
		Auth:           auth,
		Limits: httpapi.Limits{
			MaxBodyBytes:  cfg.MaxRequestBytes,
			RatePerSecond: cfg.RateLimit, Burst: cfg.RateLimitBurst,
		},
	}, logger)

	// Listen here rather than in Fiber so a busy port is reported before we
	// claim to be listening.
	addr := net.JoinHostPort("", strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s (PORT): %w", addr, err)
	}
	logger.Info("listening",
		slog.String("addr", ln.Addr().String()),
		slog.String("redis", cfg.Redis.String()),
		slog.String("stream", cfg.Stream),
		slog.Int("stream_shards", cfg.Shards.Count()),
		slog.Int("wait_replicas", cfg.WaitReplicas),
		slog.Int("max_models", cfg.MaxModels),
		slog.Bool("tracing", tracing.Enabled),
		apiTokens(cfg))

	served := make(chan error, 1)
	go func() { served <- server.Listener(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}

	if cfg.ShutdownDrain > 0 {
		logger.Info("draining", slog.Duration("for", cfg.ShutdownDrain))
		draining.Store(true)
		drain := time.NewTimer(cfg.ShutdownDrain)
		select {
		case err := <-served:
			drain.Stop()
			return fmt.Errorf("serving http: %w", err)
		case <-drain.C:
		}
	}
	logger.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	shutdownErr := server.ShutdownWithTimeout(cfg.ShutdownTimeout)
	// Wait for the serving goroutine, which is ours. After a clean shutdown
	// no request is left, so closing Redis (deferred) cuts nothing; after a
	// timed-out one the stragglers get a fast 503 instead of holding us up.
	if err := <-served; err != nil && shutdownErr == nil {
		shutdownErr = err
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutting down http server: %w", shutdownErr)
	}
	logger.Info("stopped")
	return nil
}
