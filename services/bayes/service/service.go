package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/metrics"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/plotfile"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/pubsubbridge"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	bayestracing "github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/tracing"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/streamconsumer"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/telemetry"
)

// Name is the service name in logs and traces.
const Name = "bayes"

// readBlock bounds how long one XREADGROUP waits, and so how long shutdown
// waits for the consumer to notice.
const readBlock = time.Second

// Run builds bayes from cfg and runs it until ctx is cancelled, then shuts
// down in order: stop taking HTTP requests, commit the batch in hand, draw
// the final plot, close Redis. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	tracing, reg, flush, err := telemetry.Start(ctx, Name, log)
	if err != nil {
		return err
	}
	defer flush()

	rdb := redis.NewClient(cfg.Redis)
	defer rdb.Close()
	if tracing.Enabled {
		if err := redisotel.InstrumentTracing(rdb, redisotel.WithDialFilter(true),
			redisotel.WithCommandFilter(isBackgroundCommand),
			redisotel.WithCommandsFilter(func(cmds []redis.Cmder) bool { return true })); err != nil {
			return fmt.Errorf("instrumenting redis client: %w", err)
		}
	}

	keys := redisstream.KeysFor(cfg.Stream)
	pipeline := metrics.NewPipeline(reg)
	ledger := redisstream.NewLedger(rdb, keys, cfg.DefaultSpec,
		redisstream.WithMaxModels(cfg.MaxModels), redisstream.WithConsumer(cfg.ConsumerName))
	// Models created before the names' index existed get indexed, so that
	// paging lists them.
	if n, err := ledger.IndexNames(ctx); err != nil {
		log.WarnContext(ctx, "indexing model names", "err", err)
	} else if n > 0 {
		log.InfoContext(ctx, "indexed model names", "added", n)
	}
	consumer := redisstream.NewConsumer(rdb, keys, cfg.ConsumerName, redisstream.OnClaim(pipeline.CountClaim))

	plotMetrics := metrics.NewPlots(reg)
	plotter, err := plotfile.NewModels(cfg.GraphsDir, cfg.GraphsKeep, cfg.DefaultSpec, log,
		func(r plotfile.RenderFunc) plotfile.RenderFunc { return plotMetrics.Render(r) },
		plotfile.WithMinInterval(cfg.GraphsInterval), plotfile.WithWorkers(cfg.PlotWorkers))
	if err != nil {
		return fmt.Errorf("GRAPHS_DIR=%q: %w", cfg.GraphsDir, err)
	}
	metrics.NewPlotQueue(reg, plotter.QueueLen)

	// The command that applies a batch, in its decorators: metrics outside
	// (they time the whole of it), tracing inside when it is on.
	decorate := func(h command.BatchHandler) command.BatchHandler {
		if tracing.Enabled {
			h = bayestracing.Batches(h, cfg.Stream, keys.Group)
		}
		return pipeline.Batches(h)
	}
	application, err := newApplication(cfg, ledger, consumer, plotter, log, decorate)
	if err != nil {
		return err
	}
	reg.MustRegister(metrics.NewCollector(consumer, application.Queries.Models, cfg.ModelMetricsLimit))
	runner, err := streamconsumer.New(consumer, application.Commands.ApplyBatch, streamconsumer.Config{
		BatchSize: cfg.BatchSize, Block: readBlock,
		ClaimEvery: cfg.ClaimInterval, ClaimMinIdle: cfg.ClaimMinIdle,
		TrimEvery: cfg.TrimInterval, StaleAfter: cfg.StaleConsumer,
		CommitGrace: cfg.ShutdownTimeout / 2,
	}, log)
	if err != nil {
		return err
	}
	bridge, err := pubsubbridge.New(rdb, pubsubbridge.Config{
		Channel: cfg.Channel, Stream: cfg.Stream, Lease: keys.Lease, TTL: 5 * time.Second,
	}, log)
	if err != nil {
		return err
	}

	// Draw the states bayes starts from, so graphs/ is never empty after a
	// restart even if no event arrives. Notify only queues: the plotter's
	// pool draws them once it runs (skipping a model whose latest.png shows
	// its state already), ten thousand models or one.
	// A page at a time, so the walk holds one page however many models.
	if err := application.Queries.Models.Walk(ctx, func(sm query.StoredModel) error {
		plotter.Notify(command.ModelState{Name: sm.Name, Counts: sm.Counts, Spec: sm.Spec, Epoch: sm.Epoch})
		return nil
	}); err != nil {
		log.WarnContext(ctx, "start-up draw: listing the stored models failed", "err", err)
	}

	// Open live feeds never end by themselves; Shutdown closes this so they
	// do, instead of waiting for them.
	feedsDone := make(chan struct{})
	srv := &http.Server{
		Addr: net.JoinHostPort("", strconv.Itoa(cfg.Port)),
		Handler: httpapi.NewHandler(application, httpapi.Options{
			Metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
			Requests: metrics.NewHTTP(reg),
			Plots:    plotter, APIURL: cfg.APIPublicURL, LivePoll: cfg.LivePoll, Done: feedsDone,
			LiveMaxStreams: cfg.LiveMaxStreams, Live: metrics.NewLive(reg),
		}, log),
		ReadHeaderTimeout: 5 * time.Second,
		// Requests keep ctx's values but not its cancellation: SIGTERM
		// cancels ctx, and the requests Shutdown lets finish must not fail.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.RegisterOnShutdown(func() { close(feedsDone) })
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("PORT=%d: %w", cfg.Port, err)
	}
	log.InfoContext(ctx, "bayes started", "port", cfg.Port, "redis", redisconf.Describe(cfg.Redis),
		"stream", cfg.Stream, "group", keys.Group, "consumer", cfg.ConsumerName, "channel", cfg.Channel,
		"grid_points", cfg.GridPoints, "prior", cfg.Prior.String(), "graphs_dir", cfg.GraphsDir,
		"plot_workers", plotter.Workers(), "tracing", tracing.Enabled)

	// The plotter outlives the consumer so it draws the final state: it gets
	// its own context, cancelled after the consumer has stopped.
	plotCtx, stopPlotter := context.WithCancel(context.WithoutCancel(ctx))
	plotDone := make(chan error, 1)
	go func() { plotDone <- plotter.Run(plotCtx) }()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return runner.Run(gctx) })
	g.Go(func() error {
		if err := bridge.Run(gctx); !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout/2)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	err = g.Wait()
	stopPlotter()
	if perr := <-plotDone; perr != nil && !errors.Is(perr, context.Canceled) {
		log.Warn("plotter stopped with an error", "err", perr)
	}
	return err
}

func newApplication(cfg Config, ledger *redisstream.Ledger, consumer *redisstream.Consumer, plotter command.StateListener, log *slog.Logger,
	decorate func(command.BatchHandler) command.BatchHandler) (app.Application, error) {
	apply, err := command.NewApplyBatchHandler(ledger, plotter, log)
	if err != nil {
		return app.Application{}, err
	}
	models, err := query.NewModels(cfg.DefaultSpec, ledger)
	if err != nil {
		return app.Application{}, err
	}
	ready, err := query.NewReadinessHandler(consumer)
	if err != nil {
		return app.Application{}, err
	}
	return app.Application{
		Commands: app.Commands{ApplyBatch: decorate(apply)},
		Queries:  app.Queries{Models: models, Readiness: ready},
	}, nil
}

// isBackgroundCommand tells the Redis tracing hook which commands to leave
// out: the loop's polling and housekeeping (a blocking XREADGROUP every
// second, claims, trims, lease renewals) would bury the spans that follow an
// observation. The commit script is traced by the per-observation
// "state.save" spans of the tracing decorator instead.
func isBackgroundCommand(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "xreadgroup", "xautoclaim", "xinfo", "xlen", "xpending", "xtrim", "xgroup",
		"ping", "evalsha", "eval", "set", "subscribe", "unsubscribe", "hmget", "get", "smembers":
		return true
	}
	return false
}
