package httpapi

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/decision"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// The A/B test's questions: GET /compare, its live feed, and GET /allocate.

func (h *handlers) compare(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prob, err := probParam(q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	stored, err := h.app.Queries.Models.ReadMany(r.Context(), modelNames(q))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.app.Queries.Models.Compare(stored, prob)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, compareResponse(v))
}

// compareEvents is GET /compare's answer as a live feed (see feed): an
// event "compare" at once and whenever one of the models changes, "reset"
// before it when one was reset, and "deleted" when one is deleted (the
// feed then waits for every model to exist again). The answer is computed
// only when a model changed: the difference of two large grids costs tens
// of milliseconds, and the hub's tick finds most models as they were.
func (h *handlers) compareEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prob, err := probParam(q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	names := modelNames(q)
	models := h.app.Queries.Models
	h.feed(w, r, feedSource{
		event: "compare",
		names: names,
		open: func(ctx context.Context) ([]query.StoredModel, error) {
			return models.ReadMany(ctx, names)
		},
		render: func(states []query.StoredModel) (any, error) {
			v, err := models.Compare(states, prob)
			if err != nil {
				return nil, err
			}
			return compareResponse(v), nil
		},
	})
}

func (h *handlers) allocate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	draws := 1
	if raw := q.Get("n"); raw != "" {
		// Digits only, as for the seed: no sign, no spaces.
		n, err := strconv.ParseUint(raw, 10, 16)
		if err != nil {
			h.fail(w, r, apperr.New(apperr.IncorrectInput, "n=%q: want a whole number from 1 to %d", clip.String(raw, clip.Param), decision.MaxDraws))
			return
		}
		draws = int(n)
	}
	// Without a seed the allocation is random; the seed drawn for it is in
	// the answer, so that it can be replayed.
	seed := rand.Uint64N(decision.MaxSeed + 1)
	if raw := q.Get("seed"); raw != "" {
		s, err := strconv.ParseUint(raw, 10, 64)
		if err != nil || s > decision.MaxSeed {
			h.fail(w, r, apperr.New(apperr.IncorrectInput, "seed=%q: want a whole number from 0 to %d", clip.String(raw, clip.Param), uint64(decision.MaxSeed)))
			return
		}
		seed = s
	}
	v, err := h.app.Queries.Models.Allocate(r.Context(), modelNames(q), draws, seed)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, allocationResponse(v))
}

// modelNames reads ?models=a,b,c; an absent or empty parameter is no name.
func modelNames(q url.Values) []string {
	raw := q.Get("models")
	if raw == "" {
		return nil
	}
	return strings.Split(raw, ",")
}

// probParam reads ?prob=, the mass of the intervals; model.DefaultHPDIProb
// when absent.
func probParam(q url.Values) (float64, error) {
	raw := q.Get("prob")
	if raw == "" {
		return model.DefaultHPDIProb, nil
	}
	p, err := strconv.ParseFloat(raw, 64)
	if err != nil || !(p > 0 && p < 1) {
		return 0, apperr.New(apperr.IncorrectInput, "prob=%q: want a number between 0 and 1 (exclusive), e.g. ?prob=0.95", clip.String(raw, clip.Param))
	}
	return p, nil
}
