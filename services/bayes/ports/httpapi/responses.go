package httpapi

import (
	"math"

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
	// PI is the percentile (equal-tailed) interval of the same mass.
	PI IntervalResponse `json:"pi"`
}

// IntervalResponse is a closed interval [Lo, Hi] of p holding Prob of the
// posterior mass.
type IntervalResponse struct {
	Prob float64 `json:"prob"`
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
}

// ModelList is the answer of GET /models: one page of the list.
type ModelList struct {
	Models []ModelSummaryResponse `json:"models"`
	// Next is the ?after= of the next page; null on the last page.
	Next *string `json:"next"`
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

// CompareResponse is the answer of GET /compare and the data of the
// compare feed's "compare" events.
type CompareResponse struct {
	Prob   float64       `json:"prob"`
	Models []ArmResponse `json:"models"`
	// Difference and Uplift are of the second model over the first, with
	// exactly two models.
	Difference *DifferenceResponse `json:"difference,omitempty"`
	Uplift     *UpliftResponse     `json:"uplift,omitempty"`
}

// ArmResponse is one model of GET /compare.
type ArmResponse struct {
	Name         string  `json:"name"`
	W            int64   `json:"w"`
	N            int64   `json:"n"`
	PriorSpec    string  `json:"prior_spec"`
	GridPoints   int     `json:"grid_points"`
	Mean         float64 `json:"mean"`
	ProbBest     float64 `json:"prob_best"`
	ExpectedLoss float64 `json:"expected_loss"`
}

// DifferenceResponse is the posterior of p_b − p_a.
type DifferenceResponse struct {
	Mean      float64          `json:"mean"`
	HPDI      IntervalResponse `json:"hpdi"`
	Grid      []float64        `json:"grid"`
	Posterior []float64        `json:"posterior"`
}

// UpliftResponse summarises (p_b − p_a)/p_a; null stands for +∞.
type UpliftResponse struct {
	Mean     *float64             `json:"mean"`
	Median   *float64             `json:"median"`
	Interval OpenIntervalResponse `json:"interval"`
}

// OpenIntervalResponse is an interval whose ends may be infinite (null).
type OpenIntervalResponse struct {
	Prob float64  `json:"prob"`
	Lo   *float64 `json:"lo"`
	Hi   *float64 `json:"hi"`
}

// AllocationResponse is the answer of GET /allocate.
type AllocationResponse struct {
	Seed   uint64                  `json:"seed"`
	Draws  int                     `json:"draws"`
	Next   string                  `json:"next"`
	Models []AllocationArmResponse `json:"models"`
}

// AllocationArmResponse is one model of GET /allocate: its state and the
// draws it won.
type AllocationArmResponse struct {
	Name  string `json:"name"`
	W     int64  `json:"w"`
	N     int64  `json:"n"`
	Count int    `json:"count"`
}

// errorBody is the data of a live feed's "error" event; an HTTP error
// answer is a problem (problem.Details) instead.
type errorBody struct {
	Error string `json:"error"`
}

func modelResponse(v query.ModelView) ModelResponse {
	return ModelResponse{
		Name: v.Name, W: v.W, N: v.N, PriorSpec: v.PriorSpec, GridPoints: v.GridPoints,
		Grid: v.Grid, Prior: v.Prior, Posterior: v.Posterior,
		Mean: v.Mean, SD: v.SD, MAP: v.MAP, HPDI: intervalResponse(v.HPDI), PI: intervalResponse(v.PI),
	}
}

func intervalResponse(i model.Interval) IntervalResponse {
	return IntervalResponse{Prob: i.Prob, Lo: i.Lo, Hi: i.Hi}
}

func modelList(l query.ModelList) ModelList {
	out := ModelList{Models: make([]ModelSummaryResponse, len(l.Models))}
	for i, s := range l.Models {
		out.Models[i] = ModelSummaryResponse{Name: s.Name, W: s.W, N: s.N, Mean: s.Mean, PriorSpec: s.PriorSpec, GridPoints: s.GridPoints}
	}
	if l.Next != "" {
		out.Next = &l.Next
	}
	return out
}

func predictiveResponse(v query.PredictiveView) PredictiveResponse {
	return PredictiveResponse{
		Name: v.Name, W: v.W, N: v.N, Trials: v.Trials, PMF: v.PMF, Mean: v.Mean,
		Interval: CountIntervalResponse{Prob: v.Interval.Prob, Lo: v.Interval.Lo, Hi: v.Interval.Hi},
	}
}

func compareResponse(v query.CompareView) CompareResponse {
	out := CompareResponse{Prob: v.Prob, Models: make([]ArmResponse, len(v.Arms))}
	for i, a := range v.Arms {
		out.Models[i] = ArmResponse{
			Name: a.Name, W: a.W, N: a.N, PriorSpec: a.PriorSpec, GridPoints: a.GridPoints,
			Mean: a.Mean, ProbBest: a.ProbBest, ExpectedLoss: a.ExpectedLoss,
		}
	}
	if d := v.Difference; d != nil {
		out.Difference = &DifferenceResponse{Mean: d.Mean, HPDI: intervalResponse(d.HPDI), Grid: d.Grid, Posterior: d.Mass}
	}
	if u := v.Uplift; u != nil {
		out.Uplift = &UpliftResponse{
			Mean: finite(u.Mean), Median: finite(u.Median),
			Interval: OpenIntervalResponse{Prob: u.Interval.Prob, Lo: finite(u.Interval.Lo), Hi: finite(u.Interval.Hi)},
		}
	}
	return out
}

// finite is x, or nil (JSON null) for an infinite x, which JSON cannot
// carry.
func finite(x float64) *float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return nil
	}
	return &x
}

func allocationResponse(v query.AllocationView) AllocationResponse {
	out := AllocationResponse{Seed: v.Seed, Draws: v.Draws, Next: v.Next, Models: make([]AllocationArmResponse, len(v.Arms))}
	for i, a := range v.Arms {
		out.Models[i] = AllocationArmResponse{Name: a.Name, W: a.W, N: a.N, Count: a.Count}
	}
	return out
}
