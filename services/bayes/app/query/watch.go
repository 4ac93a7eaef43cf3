package query

import (
	"context"
	"fmt"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// The reads of a live feed: it opens with Lookup (one model) or ReadMany (a
// comparison), which refuse a bad name or an unknown model, then follows
// the models through Peek, which tells a deleted model from a stored one
// instead of failing, and renders with ViewAt or Compare.

// Lookup reads one model as Get does (a bad name is IncorrectInput, a model
// that does not exist NotFound), without deriving its view.
func (h *Models) Lookup(ctx context.Context, name string) (StoredModel, error) {
	return h.stored(ctx, name)
}

// Peek reads the named models as stored, in the order given, whether they
// exist or not, in one round trip: what a watcher compares from one tick to
// the next. The names are not checked; the feeds that ask for them opened
// with Lookup or ReadMany, which do.
func (h *Models) Peek(ctx context.Context, names ...string) ([]StoredModel, error) {
	got, err := h.store.Models(ctx, names...)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
	}
	if len(got) != len(names) {
		return nil, fmt.Errorf("model store returned %d models for %d names", len(got), len(names))
	}
	return got, nil
}

// ViewAt derives the read model of a stored model with intervals holding
// prob of the posterior mass, as Get does after its read.
func (h *Models) ViewAt(sm StoredModel, prob float64) (ModelView, error) {
	if err := checkProb(prob); err != nil {
		return ModelView{}, err
	}
	return h.view(sm, prob)
}
