package query

import (
	"context"
	"fmt"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/decision"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// Arm is one model of a comparison, with the state the answer was
// computed from.
type Arm struct {
	Name       string
	W          int64
	N          int64
	PriorSpec  string
	GridPoints int
	Mean       float64
	// ProbBest and ExpectedLoss are filled by Compare.
	ProbBest     float64
	ExpectedLoss float64
	// Count is filled by Allocate: the draws this model won.
	Count int
}

// CompareView is the read model of GET /compare.
type CompareView struct {
	Prob float64
	Arms []Arm
	// Difference and Uplift (of the second model over the first) are set
	// when exactly two models are compared.
	Difference *decision.Difference
	Uplift     *decision.Uplift
}

// AllocationView is the read model of GET /allocate.
type AllocationView struct {
	Seed  uint64
	Draws int
	Next  string
	Arms  []Arm
}

// Compare answers which of the stored models (ReadMany) has the largest
// proportion: for each the chance to be the best and the expected loss of
// choosing it, and for two models the posterior of the difference and the
// uplift. Reading and computing are apart so that a live feed can read
// cheaply and compute only when a model changed.
func (h *Models) Compare(stored []StoredModel, prob float64) (CompareView, error) {
	if err := checkProb(prob); err != nil {
		return CompareView{}, err
	}
	arms, dists, err := h.arms(stored)
	if err != nil {
		return CompareView{}, err
	}
	best, err := decision.CompareBest(dists)
	if err != nil {
		return CompareView{}, err
	}
	for i := range arms {
		arms[i].ProbBest, arms[i].ExpectedLoss = best.ProbBest[i], best.ExpectedLoss[i]
	}
	v := CompareView{Prob: prob, Arms: arms}
	if len(arms) == 2 {
		d, err := decision.CompareDifference(dists[0], dists[1], prob)
		if err != nil {
			return CompareView{}, err
		}
		u, err := decision.CompareUplift(dists[0], dists[1], prob)
		if err != nil {
			return CompareView{}, err
		}
		v.Difference, v.Uplift = &d, &u
	}
	return v, nil
}

// Allocate draws the model to show next by Thompson sampling, draws times,
// from PCG seeded with seed.
func (h *Models) Allocate(ctx context.Context, names []string, draws int, seed uint64) (AllocationView, error) {
	if draws < 1 || draws > decision.MaxDraws {
		return AllocationView{}, apperr.New(apperr.IncorrectInput, "n=%d: want a whole number from 1 to %d", draws, decision.MaxDraws)
	}
	if seed > decision.MaxSeed {
		return AllocationView{}, apperr.New(apperr.IncorrectInput, "seed=%d: want a whole number from 0 to %d", seed, uint64(decision.MaxSeed))
	}
	stored, err := h.ReadMany(ctx, names)
	if err != nil {
		return AllocationView{}, err
	}
	arms, dists, err := h.arms(stored)
	if err != nil {
		return AllocationView{}, err
	}
	a, err := decision.Thompson(dists, draws, seed)
	if err != nil {
		return AllocationView{}, err
	}
	for i := range arms {
		arms[i].Count = a.Counts[i]
	}
	return AllocationView{Seed: seed, Draws: draws, Next: arms[a.First].Name, Arms: arms}, nil
}

// CheckNames is the rule for the models of a comparison: 2 to 10 valid,
// distinct names.
func CheckNames(names []string) error {
	if len(names) < decision.MinModels || len(names) > decision.MaxModels {
		return apperr.New(apperr.IncorrectInput, "%d model names given: want %d to %d distinct names separated by commas, e.g. ?models=a,b",
			len(names), decision.MinModels, decision.MaxModels)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if !events.ValidModelName(n) {
			return apperr.New(apperr.IncorrectInput, "model name %q: want %s", clip.String(n, clip.Field), events.ModelNameRule)
		}
		if seen[n] {
			return apperr.New(apperr.IncorrectInput, "model %q is named twice: want distinct names", n)
		}
		seen[n] = true
	}
	return nil
}

// ReadMany reads the named models of a comparison (CheckNames) in one
// round trip; an unknown model is NotFound.
func (h *Models) ReadMany(ctx context.Context, names []string) ([]StoredModel, error) {
	if err := CheckNames(names); err != nil {
		return nil, err
	}
	stored, err := h.store.Models(ctx, names...)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "model state is unavailable")
	}
	if len(stored) != len(names) {
		return nil, fmt.Errorf("model store returned %d models for %d names", len(stored), len(names))
	}
	for _, sm := range stored {
		if !sm.Exists && sm.Name != events.DefaultModel {
			return nil, apperr.New(apperr.NotFound, "no model named %q: define it with PUT /models/%s on the api, or send it an observation", sm.Name, sm.Name)
		}
	}
	return stored, nil
}

// arms builds the posteriors of stored models. O(Σ grid points).
func (h *Models) arms(stored []StoredModel) ([]Arm, []decision.Dist, error) {
	arms := make([]Arm, len(stored))
	dists := make([]decision.Dist, len(stored))
	for i, sm := range stored {
		m, spec, err := h.Build(sm)
		if err != nil {
			return nil, nil, err
		}
		dists[i] = decision.Dist{Mass: m.Posterior()}
		arms[i] = Arm{
			Name: sm.Name, W: sm.Counts.W, N: sm.Counts.N, PriorSpec: spec.Prior, GridPoints: spec.GridPoints,
			Mean: dists[i].Mean(),
		}
	}
	return arms, dists, nil
}
