// Package app is the use-case layer of the api: what the service can do,
// independent of HTTP and of Redis. Ports call it; adapters are plugged into
// it by the service package.
package app

import (
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/query"
)

// Application is every use case of the api, split into commands (which change
// the world) and queries (which only look).
type Application struct {
	Commands Commands
	Queries  Queries
}

// Commands change state.
type Commands struct {
	RecordObservation command.RecordObservationHandler
	DefineModel       command.DefineModelHandler
	DeleteModel       command.DeleteModelHandler
	ResetModel        command.ResetModelHandler
}

// Queries only read.
type Queries struct {
	Readiness query.ReadinessHandler
}
