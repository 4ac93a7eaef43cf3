// Package app holds the use cases of bayes: commands that change the model's
// knowledge and queries that read it. It depends on interfaces only; the
// adapters package provides Redis and files, the service package wires them.
package app

import (
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
)

// Application is what the ports (HTTP, the stream consumer) call.
type Application struct {
	Commands Commands
	Queries  Queries
}

// Commands change state.
type Commands struct {
	// ApplyBatch has a command.ApplyBatchHandler in the decorators (tracing,
	// metrics) the service wraps it in per shard: ApplyBatch[i] commits
	// what was read from shard i (its ledger holds that shard's keys).
	ApplyBatch []command.BatchHandler
}

// Queries read state.
type Queries struct {
	Models    *query.Models
	Readiness *query.ReadinessHandler
}
