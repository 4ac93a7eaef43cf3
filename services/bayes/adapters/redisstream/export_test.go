package redisstream

import (
	"context"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// State reads one model's counts; a model that saw nothing yet is (0, 0).
// Only the tests need one model's counts alone.
func (l *Ledger) State(ctx context.Context, name string) (model.Counts, error) {
	got, err := l.Models(ctx, name)
	if err != nil {
		return model.Counts{}, err
	}
	return got[0].Counts, nil
}
