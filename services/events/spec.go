package events

import (
	"encoding/json"
	"fmt"

	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
	"github.com/event-driven-bayes/event-driven-bayes/services/events/prior"
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

// Grid sizes a model may have, in a definition and in bayes' model package
// alike. The grid is rebuilt for every read of a model, so it stays small
// enough to be cheap.
const (
	MinGridPoints = 3
	MaxGridPoints = 10_000
)

// ModelSpec is what a model is besides its counts: its prior and its grid.
// It is fixed when the model is created.
type ModelSpec struct {
	Prior      string `json:"prior"` // canonical (prior.Prior.String)
	GridPoints int    `json:"grid_points"`
}

// NewModelSpec checks a prior spec and grid size together and returns the
// spec with the prior in canonical form.
func NewModelSpec(spec string, gridPoints int) (ModelSpec, error) {
	p, err := prior.Parse(spec)
	if err != nil {
		return ModelSpec{}, err
	}
	if gridPoints < MinGridPoints || gridPoints > MaxGridPoints {
		return ModelSpec{}, fmt.Errorf("grid_points %d: want %d to %d", gridPoints, MinGridPoints, MaxGridPoints)
	}
	if err := p.CheckInterior(gridPoints); err != nil {
		return ModelSpec{}, err
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
		return ModelSpec{}, fmt.Errorf("model spec %q: %w", clip.String(b, clip.Field), err)
	}
	return NewModelSpec(s.Prior, s.GridPoints)
}

// SpecKey is the Redis key of a model's spec in the deployment whose stream
// is stream. bayes writes it when the model is created; the api reads it to
// refuse a conflicting definition at once.
func SpecKey(stream, model string) string { return stream + ":spec:" + model }
