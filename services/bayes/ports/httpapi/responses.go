package httpapi

import (
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// The answers of bayes' HTTP API. They are the port's own types, so the
// JSON contract is written down here, in one file, and the app and the
// domain can change their types without changing what clients read.

// ModelResponse is the answer of GET /model and GET /models/{name}, and
// the data of the live feed's "model" events.
type ModelResponse struct {
	Name       string           `json:"name"`
	W          int64            `json:"w"`
	N          int64            `json:"n"`
	PriorSpec  string           `json:"prior_spec"`
	GridPoints int              `json:"grid_points"`
	Grid       []float64        `json:"grid"`
	Prior      []float64        `json:"prior"`
	Posterior  []float64        `json:"posterior"`
	Mean       float64          `json:"mean"`
	SD         float64          `json:"sd"`
	MAP        float64          `json:"map"`
	HPDI       IntervalResponse `json:"hpdi"`
}

// IntervalResponse is a closed interval [Lo, Hi] of p holding Prob of the
// posterior mass.
type IntervalResponse struct {
	Prob float64 `json:"prob"`
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
}

// ModelList is the answer of GET /models.
type ModelList struct {
	Models []ModelSummaryResponse `json:"models"`
}

// ModelSummaryResponse is one row of GET /models.
type ModelSummaryResponse struct {
	Name       string  `json:"name"`
	W          int64   `json:"w"`
	N          int64   `json:"n"`
	Mean       float64 `json:"mean"`
	PriorSpec  string  `json:"prior_spec"`
	GridPoints int     `json:"grid_points"`
}

// PredictiveResponse is the answer of GET /models/{name}/predictive.
type PredictiveResponse struct {
	Name     string                `json:"name"`
	W        int64                 `json:"w"`
	N        int64                 `json:"n"`
	Trials   int                   `json:"trials"`
	PMF      []float64             `json:"pmf"`
	Mean     float64               `json:"mean"`
	Interval CountIntervalResponse `json:"interval"`
}

// CountIntervalResponse is a closed interval [Lo, Hi] of counts holding at
// least Prob of the predictive mass.
type CountIntervalResponse struct {
	Prob float64 `json:"prob"`
	Lo   int     `json:"lo"`
	Hi   int     `json:"hi"`
}

type errorBody struct {
	Error string `json:"error"`
}

func modelResponse(v query.ModelView) ModelResponse {
	return ModelResponse{
		Name: v.Name, W: v.W, N: v.N, PriorSpec: v.PriorSpec, GridPoints: v.GridPoints,
		Grid: v.Grid, Prior: v.Prior, Posterior: v.Posterior,
		Mean: v.Mean, SD: v.SD, MAP: v.MAP, HPDI: intervalResponse(v.HPDI),
	}
}

func intervalResponse(i model.Interval) IntervalResponse {
	return IntervalResponse{Prob: i.Prob, Lo: i.Lo, Hi: i.Hi}
}

func modelList(l []query.ModelSummary) ModelList {
	out := ModelList{Models: make([]ModelSummaryResponse, len(l))}
	for i, s := range l {
		out.Models[i] = ModelSummaryResponse{Name: s.Name, W: s.W, N: s.N, Mean: s.Mean, PriorSpec: s.PriorSpec, GridPoints: s.GridPoints}
	}
	return out
}

func predictiveResponse(v query.PredictiveView) PredictiveResponse {
	return PredictiveResponse{
		Name: v.Name, W: v.W, N: v.N, Trials: v.Trials, PMF: v.PMF, Mean: v.Mean,
		Interval: CountIntervalResponse{Prob: v.Interval.Prob, Lo: v.Interval.Lo, Hi: v.Interval.Hi},
	}
}
