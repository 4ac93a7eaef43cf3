// Command api records globe-toss observations over HTTP by publishing them
// as events to a Redis Stream, where the bayes service consumes them.
package main

import (
	"github.com/event-driven-bayes/event-driven-bayes/services/api/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/servicemain"
)

func main() {
	servicemain.Main(service.Name, service.LoadConfig,
		func(c service.Config) string { return c.LogLevel }, service.Run)
}
