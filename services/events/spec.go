package events

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DefaultModel is the model of an entry that names none: the original's one
// globe, served at /update_model/{w|l} and GET /model.
const DefaultModel = "default"

// MaxModelName is the longest model name.
const MaxModelName = 64

// ModelNameRule says in words what ValidModelName checks, for error messages.
const ModelNameRule = "1 to 64 letters, digits, '-' or '_'"

// ValidModelName reports whether s can name a model: a short slug, safe in a
// URL path, a Redis key, a file name and a metric label as it is.
func ValidModelName(s string) bool {
	if len(s) == 0 || len(s) > MaxModelName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Grid sizes a model may have. The grid is rebuilt for every read of a
// model, so it stays small enough to be cheap.
const (
	MinGridPoints = 3
	MaxGridPoints = 10_000
)

// Prior kinds.
const (
	PriorStep    = "step"
	PriorUniform = "uniform"
	PriorBeta    = "beta"
)

// Prior is a parsed prior spec: step:T (flat above T, nothing at or below,
// the original's prior), uniform, or beta:A,B with A, B >= 1.
type Prior struct {
	Kind      string
	Threshold float64 // step
	A, B      float64 // beta
}

// ParsePrior reads a prior spec, case- and space-insensitively.
func ParsePrior(s string) (Prior, error) {
	name, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	switch strings.ToLower(strings.TrimSpace(name)) {
	case PriorUniform:
		if strings.TrimSpace(arg) != "" {
			return Prior{}, fmt.Errorf("prior %q: uniform takes no parameter", clip(s))
		}
		return Prior{Kind: PriorUniform}, nil
	case PriorStep:
		t, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		if err != nil || !(t >= 0 && t < 1) {
			return Prior{}, fmt.Errorf("prior %q: want step:T with 0 <= T < 1, e.g. step:0.1", clip(s))
		}
		return Prior{Kind: PriorStep, Threshold: t}, nil
	case PriorBeta:
		as, bs, ok := strings.Cut(arg, ",")
		a, errA := strconv.ParseFloat(strings.TrimSpace(as), 64)
		b, errB := strconv.ParseFloat(strings.TrimSpace(bs), 64)
		if !ok || errA != nil || errB != nil || !(a >= 1 && b >= 1) || math.IsInf(a, 0) || math.IsInf(b, 0) {
			return Prior{}, fmt.Errorf("prior %q: want beta:A,B with finite A >= 1 and B >= 1, e.g. beta:2,2", clip(s))
		}
		return Prior{Kind: PriorBeta, A: a, B: b}, nil
	}
	return Prior{}, fmt.Errorf("prior %q: want one of step:T, uniform, beta:A,B", clip(s))
}

// String is the canonical spec: ParsePrior(p.String()) == p, and two specs
// meaning the same prior have the same String.
func (p Prior) String() string {
	switch p.Kind {
	case PriorStep:
		return "step:" + strconv.FormatFloat(p.Threshold, 'g', -1, 64)
	case PriorUniform:
		return "uniform"
	case PriorBeta:
		return "beta:" + strconv.FormatFloat(p.A, 'g', -1, 64) + "," + strconv.FormatFloat(p.B, 'g', -1, 64)
	}
	return "invalid"
}

// coversInterior reports whether the prior gives weight to a grid point
// strictly between 0 and 1 on a grid of points points: without one, the
// first observation of each kind would rule out every point.
func (p Prior) coversInterior(points int) bool {
	if p.Kind != PriorStep {
		return true // uniform and beta (A, B >= 1) weigh every interior point
	}
	return float64(points-2)/float64(points-1) > p.Threshold
}

// ModelSpec is what a model is besides its counts: its prior and its grid.
// It is fixed when the model is created.
type ModelSpec struct {
	Prior      string `json:"prior"` // canonical (Prior.String)
	GridPoints int    `json:"grid_points"`
}

// NewModelSpec checks a prior spec and grid size together and returns the
// spec with the prior in canonical form.
func NewModelSpec(prior string, gridPoints int) (ModelSpec, error) {
	p, err := ParsePrior(prior)
	if err != nil {
		return ModelSpec{}, err
	}
	if gridPoints < MinGridPoints || gridPoints > MaxGridPoints {
		return ModelSpec{}, fmt.Errorf("grid_points %d: want %d to %d", gridPoints, MinGridPoints, MaxGridPoints)
	}
	if !p.coversInterior(gridPoints) {
		return ModelSpec{}, fmt.Errorf("prior %s gives no weight to any of the %d grid points strictly between 0 and 1; use more points or another prior", p, gridPoints)
	}
	return ModelSpec{Prior: p.String(), GridPoints: gridPoints}, nil
}

// Encode is the spec as bayes stores it in Redis (and the api reads it):
// compact JSON with the fields in a fixed order, so equal specs are equal
// strings.
func (s ModelSpec) Encode() string {
	b, _ := json.Marshal(s) // a struct of a string and an int cannot fail
	return string(b)
}

// DecodeModelSpec reads what Encode wrote and checks it again.
func DecodeModelSpec(b string) (ModelSpec, error) {
	var s ModelSpec
	if err := json.Unmarshal([]byte(b), &s); err != nil {
		return ModelSpec{}, fmt.Errorf("model spec %q: %w", clip(b), err)
	}
	return NewModelSpec(s.Prior, s.GridPoints)
}

// SpecKey is the Redis key of a model's spec in the deployment whose stream
// is stream. bayes writes it when the model is created; the api reads it to
// refuse a conflicting definition at once.
func SpecKey(stream, model string) string { return stream + ":spec:" + model }
