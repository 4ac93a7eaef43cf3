package model_test

import (
	"slices"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// WithCounts gives the model New and SetCounts give, and leaves the model
// it came from as it was.
func TestWithCounts(t *testing.T) {
	base := mustModel(t, 51, model.UniformPrior())
	m, err := base.WithCounts(model.Counts{W: 6, N: 9})
	if err != nil {
		t.Fatal(err)
	}
	alone := mustModel(t, 51, model.UniformPrior())
	if err := alone.SetCounts(model.Counts{W: 6, N: 9}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Posterior(), alone.Posterior()) || !slices.Equal(m.Grid(), alone.Grid()) || m.Counts() != alone.Counts() {
		t.Fatal("WithCounts differs from New + SetCounts")
	}
	m.Observe(model.Water)
	if base.Counts() != (model.Counts{}) || !slices.Equal(base.Posterior(), base.PriorMass()) {
		t.Fatalf("the base model changed: %+v", base.Counts())
	}
	if _, err := base.WithCounts(model.Counts{W: 3, N: 2}); err == nil {
		t.Fatal("impossible counts accepted")
	}
}
