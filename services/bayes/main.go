// Command bayes consumes observations from a Redis Stream, keeps the
// Bayesian model's knowledge in Redis, serves it over HTTP and draws plots.
package main

import (
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/servicemain"
)

func main() {
	servicemain.Main(service.Name, service.LoadConfig,
		func(c service.Config) string { return c.LogLevel }, service.Run)
}
