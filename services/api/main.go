// Command api records globe-toss observations over HTTP by publishing them
// as events to a Redis Stream, where the bayes service consumes them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/logging"
)

func main() {
	cfg, err := service.LoadConfig(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "api: %v\n", err)
		os.Exit(2)
	}
	logger := logging.New(os.Stdout, service.Name, cfg.LogLevel)
	logging.RouteRedisClientLogs(logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := service.Run(ctx, cfg, logger); err != nil {
		logger.Error("api stopped", "err", err)
		stop()
		os.Exit(1)
	}
}
