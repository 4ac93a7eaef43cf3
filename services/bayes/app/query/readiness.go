package query

import (
	"context"
	"errors"
	"slices"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// Pinger checks that a dependency answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ReadinessHandler says whether the service can do its work now.
type ReadinessHandler struct{ redis []Pinger }

// NewReadinessHandler rejects no pinger or a nil one. Each pinger is a
// Redis bayes needs: one per shard, since a replica reads every shard.
func NewReadinessHandler(p ...Pinger) (*ReadinessHandler, error) {
	if len(p) == 0 || slices.Contains(p, nil) {
		return nil, errors.New("readiness handler: no pinger, or a nil one")
	}
	return &ReadinessHandler{redis: p}, nil
}

// Handle returns an Unavailable error when a Redis does not answer.
func (h *ReadinessHandler) Handle(ctx context.Context) error {
	for _, p := range h.redis {
		if err := p.Ping(ctx); err != nil {
			return apperr.Wrap(apperr.Unavailable, err, "redis is unreachable")
		}
	}
	return nil
}
