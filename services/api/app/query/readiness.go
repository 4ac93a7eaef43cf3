// Package query holds the api's read-only use cases.
package query

import (
	"context"
	"errors"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// Pinger checks that a dependency answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ReadinessHandler answers whether the api can do its work right now, i.e.
// whether the event store answers. Liveness is not asked here: a live process
// whose store is down should be taken out of load balancing, not restarted.
type ReadinessHandler struct {
	pinger  Pinger
	timeout time.Duration
}

// NewReadinessHandler returns a handler that gives p at most timeout to
// answer, so a probe never waits longer than its own deadline.
func NewReadinessHandler(p Pinger, timeout time.Duration) (ReadinessHandler, error) {
	if p == nil {
		return ReadinessHandler{}, errors.New("readiness: nil Pinger")
	}
	if timeout <= 0 {
		return ReadinessHandler{}, errors.New("readiness: timeout must be positive")
	}
	return ReadinessHandler{pinger: p, timeout: timeout}, nil
}

// Handle returns nil when ready, else an Unavailable error.
func (h ReadinessHandler) Handle(ctx context.Context) error {
	if h.pinger == nil {
		return errors.New("readiness: handler not constructed")
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if err := h.pinger.Ping(ctx); err != nil {
		return apperr.Wrap(apperr.Unavailable, err, "the event store is not reachable")
	}
	return nil
}
