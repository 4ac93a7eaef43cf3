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
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
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

	rdb := cfg.Redis.NewClient()
	defer rdb.Close()
	if tracing.Enabled {
		if err := redisotel.InstrumentTracing(rdb, redisotel.WithDialFilter(true),
			redisotel.WithCommandFilter(isBackgroundCommand),
			redisotel.WithCommandsFilter(func(cmds []redis.Cmder) bool { return true })); err != nil {
			return fmt.Errorf("instrumenting redis client: %w", err)
		}
	}

	// The deployment's number of shards must be the one its models were
	// placed with. Checked now when Redis answers; when it does not, the
	// consumers wait for it (waitShards) while the rest starts.
	shards := cfg.Shards
	shardsErr := redisstream.CheckShards(ctx, rdb, shards)
	if errors.Is(shardsErr, redisstream.ErrShardsChanged) {
		return shardsErr
	}

	pipeline := metrics.NewPipeline(reg)
	metrics.NewStreamShards(reg, shards.Count())
	census := redisstream.NewCensus(rdb, shards, redisstream.CensusMaxAge)
	ledgers := make([]*redisstream.Ledger, shards.Count())
	consumers := make([]*redisstream.Consumer, shards.Count())
	for i := range shards.Count() {
		keys := redisstream.ShardKeys(shards, i)
		ledgers[i] = redisstream.NewLedger(rdb, keys, cfg.DefaultSpec, redisstream.WithMaxModels(cfg.MaxModels),
			redisstream.WithConsumer(cfg.ConsumerName), redisstream.WithCensus(census, i))
		// Models created before the names' index existed get indexed, so
		// that paging lists them.
		if n, err := ledgers[i].IndexNames(ctx); err != nil {
			log.WarnContext(ctx, "indexing model names", "stream", keys.Stream, "err", err)
		} else if n > 0 {
			log.InfoContext(ctx, "indexed model names", "stream", keys.Stream, "added", n)
		}
		consumers[i] = redisstream.NewConsumer(rdb, keys, cfg.ConsumerName,
			redisstream.OnClaim(pipeline.CountClaim), redisstream.InShard(shards, i))
	}

	plotMetrics := metrics.NewPlots(reg)
	plotter, err := plotfile.NewModels(cfg.GraphsDir, cfg.GraphsKeep, cfg.DefaultSpec, log,
		func(r plotfile.RenderFunc) plotfile.RenderFunc { return plotMetrics.Render(r) },
		plotfile.WithMinInterval(cfg.GraphsInterval), plotfile.WithWorkers(cfg.PlotWorkers))
	if err != nil {
		return fmt.Errorf("GRAPHS_DIR=%q: %w", cfg.GraphsDir, err)
	}
	metrics.NewPlotQueue(reg, plotter.QueueLen)

	// The command that applies a batch of shard i, in its decorators:
	// metrics outside (they time the whole of it), tracing inside when it
	// is on, its spans naming the shard's stream.
	decorate := func(i int, h command.BatchHandler) command.BatchHandler {
		if tracing.Enabled {
			h = bayestracing.Batches(h, shards.Stream(i), redisstream.GroupName)
		}
		return pipeline.Batches(h)
	}
	application, err := newApplication(cfg, ledgers, consumers, redisstream.NewStore(rdb, shards), plotter, log, decorate)
	if err != nil {
		return err
	}
	stats := make([]metrics.GroupStats, len(consumers))
	for i, c := range consumers {
		stats[i] = c
	}
	reg.MustRegister(metrics.NewCollector(stats, application.Queries.Models, cfg.ModelMetricsLimit))
	runners := make([]*streamconsumer.Runner, len(consumers))
	for i, c := range consumers {
		rlog := log
		if shards.Count() > 1 {
			rlog = log.With("stream", shards.Stream(i))
		}
		runners[i], err = streamconsumer.New(c, application.Commands.ApplyBatch[i], streamconsumer.Config{
			BatchSize: cfg.BatchSize, Block: readBlock,
			ClaimEvery: cfg.ClaimInterval, ClaimMinIdle: cfg.ClaimMinIdle,
			TrimEvery: cfg.TrimInterval, StaleAfter: cfg.StaleConsumer,
			CommitGrace: cfg.ShutdownTimeout / 2,
		}, rlog)
		if err != nil {
			return err
		}
	}
	// The original's PUBLISH path feeds shard 0, where the default model
	// lives.
	bridge, err := pubsubbridge.New(rdb, pubsubbridge.Config{
		Channel: cfg.Channel, Stream: shards.Stream(0), Lease: redisstream.ShardKeys(shards, 0).Lease, TTL: 5 * time.Second,
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
	log.InfoContext(ctx, "bayes started", "port", cfg.Port, "redis", cfg.Redis.String(),
		"stream", cfg.Stream, "shards", shards.Count(), "group", redisstream.GroupName, "consumer", cfg.ConsumerName, "channel", cfg.Channel,
		"grid_points", cfg.GridPoints, "prior", cfg.Prior.String(), "graphs_dir", cfg.GraphsDir,
		"plot_workers", plotter.Workers(), "tracing", tracing.Enabled)

	// The plotter outlives the consumer so it draws the final state: it gets
	// its own context, cancelled after the consumer has stopped.
	plotCtx, stopPlotter := context.WithCancel(context.WithoutCancel(ctx))
	plotDone := make(chan error, 1)
	go func() { plotDone <- plotter.Run(plotCtx) }()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// The consumers start once the number of shards is known to match
		// the data: a mismatch found now stops bayes, rather than
		// dead-lettering every entry as wrong_shard.
		if err := waitShards(gctx, rdb, shards, shardsErr, log); err != nil || gctx.Err() != nil {
			return err
		}
		for _, r := range runners {
			g.Go(func() error { return r.Run(gctx) })
		}
		return nil
	})
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

// newApplication builds the application over the shards: one ApplyBatch
// handler per shard (each commits through its shard's ledger), the model
// queries over the store of every shard, and readiness asking every
// shard's Redis.
func newApplication(cfg Config, ledgers []*redisstream.Ledger, consumers []*redisstream.Consumer, store query.ModelStore,
	plotter command.StateListener, log *slog.Logger,
	decorate func(int, command.BatchHandler) command.BatchHandler) (app.Application, error) {
	applies := make([]command.BatchHandler, len(ledgers))
	for i, l := range ledgers {
		apply, err := command.NewApplyBatchHandler(l, plotter, log)
		if err != nil {
			return app.Application{}, err
		}
		applies[i] = decorate(i, apply)
	}
	models, err := query.NewModels(cfg.DefaultSpec, store)
	if err != nil {
		return app.Application{}, err
	}
	pingers := make([]query.Pinger, len(consumers))
	for i, c := range consumers {
		pingers[i] = c
	}
	ready, err := query.NewReadinessHandler(pingers...)
	if err != nil {
		return app.Application{}, err
	}
	return app.Application{
		Commands: app.Commands{ApplyBatch: applies},
		Queries:  app.Queries{Models: models, Readiness: ready},
	}, nil
}

// waitShards returns once redisstream.CheckShards passes (first, the
// result of the check at start-up), nil too when ctx ends first, and the
// error when the data was laid out for another number of shards. While
// Redis does not answer it tries again with a growing back-off.
func waitShards(ctx context.Context, rdb redis.UniversalClient, shards events.Shards, first error, log *slog.Logger) error {
	err, backoff := first, 100*time.Millisecond
	for err != nil {
		if errors.Is(err, redisstream.ErrShardsChanged) {
			return err
		}
		log.WarnContext(ctx, "checking the number of shards: retrying", "err", err, "backoff", backoff.String())
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
		err = redisstream.CheckShards(ctx, rdb, shards)
	}
	return nil
}

// isBackgroundCommand tells the Redis tracing hook which commands to leave
// out: the loop's polling and housekeeping (a blocking XREADGROUP every
// second, claims, trims, lease renewals) would bury the spans that follow an
// observation. The commit script is traced by the per-observation
// "state.save" spans of the tracing decorator instead.
func isBackgroundCommand(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "xreadgroup", "xautoclaim", "xinfo", "xlen", "xpending", "xtrim", "xgroup",
		"ping", "evalsha", "eval", "set", "subscribe", "unsubscribe", "hmget", "get", "smembers", "scard":
		return true
	}
	return false
}
