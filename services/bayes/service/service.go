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
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/streamconsumer"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/telemetry"
)

// readBlock bounds how long one XREADGROUP waits, and so how long shutdown
// waits for the consumer to notice.
const readBlock = time.Second

// Run builds bayes from cfg and runs it until ctx is cancelled, then shuts
// down in order: stop taking HTTP requests, commit the batch in hand, draw
// the final plot, close Redis. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	tracing, err := telemetry.Setup(ctx, "bayes")
	if err != nil {
		return err
	}
	defer tracing.Flush(ctx, log)
	reg := telemetry.NewRegistry()

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
	ledger := redisstream.NewLedger(rdb, keys)
	consumer := redisstream.NewConsumer(rdb, keys, cfg.ConsumerName)

	renderer, err := plotfile.New(cfg.GraphsDir, cfg.GraphsKeep, log)
	if err != nil {
		return fmt.Errorf("GRAPHS_DIR=%q: %w", cfg.GraphsDir, err)
	}
	snapshot, err := plotfile.SnapshotFunc(cfg.GridPoints, cfg.Prior)
	if err != nil {
		return err
	}
	plotter, err := plotfile.NewCoalescer(metrics.NewPlots(reg).Render(func(ctx context.Context, c model.Counts) error {
		s, err := snapshot(c)
		if err != nil {
			return err
		}
		return renderer.Render(ctx, s)
	}), log, plotfile.WithMinInterval(cfg.GraphsInterval))
	if err != nil {
		return err
	}

	var applyOpts []command.Option
	if tracing.Enabled {
		applyOpts = append(applyOpts, command.WithTracing(cfg.Stream))
	}
	application, err := newApplication(cfg, ledger, consumer, plotter, log, applyOpts...)
	if err != nil {
		return err
	}
	pipeline := metrics.NewPipeline(reg)
	reg.MustRegister(metrics.NewCollector(consumer, application.Queries.CurrentModel))
	runner, err := streamconsumer.New(pipeline.Source(consumer), pipeline.Applier(application.Commands.ApplyBatch), streamconsumer.Config{
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

	// Draw the state bayes starts from, so graphs/ is never empty after a
	// restart even if no event arrives.
	if st, err := ledger.State(ctx); err == nil {
		plotter.Notify(st)
	}

	srv := &http.Server{
		Addr:              net.JoinHostPort("", strconv.Itoa(cfg.Port)),
		Handler:           httpapi.NewHandler(application, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), log),
		ReadHeaderTimeout: 5 * time.Second,
		// Requests keep ctx's values but not its cancellation: SIGTERM
		// cancels ctx, and the requests Shutdown lets finish must not fail.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("PORT=%d: %w", cfg.Port, err)
	}
	log.InfoContext(ctx, "bayes started", "port", cfg.Port, "redis", redisconf.Describe(cfg.Redis),
		"stream", cfg.Stream, "group", keys.Group, "consumer", cfg.ConsumerName, "channel", cfg.Channel,
		"grid_points", cfg.GridPoints, "prior", cfg.Prior.String(), "graphs_dir", cfg.GraphsDir, "tracing", tracing.Enabled)

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

func newApplication(cfg Config, ledger *redisstream.Ledger, consumer *redisstream.Consumer, plotter command.StateListener, log *slog.Logger, opts ...command.Option) (app.Application, error) {
	apply, err := command.NewApplyBatchHandler(ledger, plotter, log, opts...)
	if err != nil {
		return app.Application{}, err
	}
	current, err := query.NewCurrentModelHandler("default", cfg.GridPoints, cfg.Prior, ledger)
	if err != nil {
		return app.Application{}, err
	}
	ready, err := query.NewReadinessHandler(consumer)
	if err != nil {
		return app.Application{}, err
	}
	return app.Application{
		Commands: app.Commands{ApplyBatch: apply},
		Queries:  app.Queries{CurrentModel: current, Readiness: ready},
	}, nil
}

// isBackgroundCommand tells the Redis tracing hook which commands to leave
// out: the loop's polling and housekeeping (a blocking XREADGROUP every
// second, claims, trims, lease renewals) would bury the spans that follow an
// observation. The commit script is traced by the handler's own
// per-observation "state.save" spans instead.
func isBackgroundCommand(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "xreadgroup", "xautoclaim", "xinfo", "xlen", "xpending", "xtrim", "xgroup",
		"ping", "evalsha", "eval", "set", "subscribe", "unsubscribe", "hmget":
		return true
	}
	return false
}
