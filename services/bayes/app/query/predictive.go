package query

import (
	"context"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// PredictiveView is the read model of GET /models/{name}/predictive.
type PredictiveView struct {
	Name string
	W    int64
	N    int64
	model.PredictiveSummary
}

// Predictive is the posterior predictive distribution of the number of
// waters in the next trials tosses of model name, with an interval of
// counts holding at least prob of it (0 < prob < 1).
func (h *Models) Predictive(ctx context.Context, name string, trials int, prob float64) (PredictiveView, error) {
	if trials < 1 || trials > model.MaxPredictiveTrials {
		return PredictiveView{}, apperr.New(apperr.IncorrectInput, "trials=%d: want a whole number from 1 to %d", trials, model.MaxPredictiveTrials)
	}
	if err := checkProb(prob); err != nil {
		return PredictiveView{}, err
	}
	sm, err := h.stored(ctx, name)
	if err != nil {
		return PredictiveView{}, err
	}
	m, _, err := h.Build(sm)
	if err != nil {
		return PredictiveView{}, err
	}
	s, err := model.Predictive(m.Grid(), m.Posterior(), trials, prob)
	if err != nil {
		return PredictiveView{}, err
	}
	return PredictiveView{Name: sm.Name, W: sm.Counts.W, N: sm.Counts.N, PredictiveSummary: s}, nil
}
