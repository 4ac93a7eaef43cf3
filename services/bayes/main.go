// Command bayes consumes observations from a Redis Stream, keeps the
// Bayesian model's knowledge in Redis, serves it over HTTP and draws plots.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/logging"
)

func main() {
	cfg, err := service.LoadConfig(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bayes: %v\n", err)
		os.Exit(2)
	}
	log := logging.New(os.Stdout, service.Name, cfg.LogLevel)
	logging.RouteRedisClientLogs(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := service.Run(ctx, cfg, log); err != nil {
		log.Error("bayes stopped", "err", err)
		os.Exit(1)
	}
	log.Info("bayes stopped cleanly")
}
