package query

import (
	"context"
	"errors"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// Pinger checks that a dependency answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ReadinessHandler says whether the service can do its work now.
type ReadinessHandler struct{ redis Pinger }

// NewReadinessHandler rejects a nil pinger.
func NewReadinessHandler(p Pinger) (*ReadinessHandler, error) {
	if p == nil {
		return nil, errors.New("readiness handler: nil pinger")
	}
	return &ReadinessHandler{redis: p}, nil
}

// Handle returns an Unavailable error when Redis does not answer.
func (h *ReadinessHandler) Handle(ctx context.Context) error {
	if err := h.redis.Ping(ctx); err != nil {
		return apperr.Wrap(apperr.Unavailable, err, "redis is unreachable")
	}
	return nil
}
