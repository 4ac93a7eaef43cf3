// Package servicemain is the main function both services share: read the
// configuration once, log JSON to stdout, run until SIGTERM or SIGINT, and
// exit with a status that says what happened. Each service's main.go is
// one call, so the two cannot drift apart in how they start and stop.
package servicemain

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/logging"
)

// Exit statuses of Main.
const (
	ExitFailed    = 1 // the service ran and stopped with an error
	ExitBadConfig = 2 // the configuration is invalid; nothing was started
)

// Main reads the configuration with load (from the environment), builds
// the logger at the level logLevel picks from it, routes go-redis' own log
// lines into that logger, and calls run with a context that ends on SIGTERM
// or SIGINT. It exits ExitBadConfig when load fails, ExitFailed when run
// does, and returns after a clean stop.
func Main[C any](name string, load func(lookup func(string) (string, bool)) (C, error),
	logLevel func(C) string, run func(context.Context, C, *slog.Logger) error) {
	cfg, err := load(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(ExitBadConfig)
	}
	log := logging.New(os.Stdout, name, logLevel(cfg))
	logging.RouteRedisClientLogs(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error(name+" stopped", "err", err)
		stop()
		os.Exit(ExitFailed)
	}
	log.Info(name + " stopped cleanly")
}
