// Package prior is the prior families a model may have: how a spec such as
// "beta:2,2" is read and written, and the weight it gives each point of a
// grid. The api checks definitions with it and bayes computes its grids
// with it, so a family is one entry in families and both services know it
// at once.
package prior

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
)

// maxParams is the most parameters a family takes; Prior holds them in an
// array so that priors compare with ==.
const maxParams = 2

// family is one kind of prior: its spec is name, or name:P1,P2 with one
// decimal per entry of params.
type family struct {
	name   string
	params []string // parameter names in the syntax, e.g. "A", "B"
	// rule is what a spec with this name but bad parameters is told, after
	// `prior "...": `.
	rule string
	// valid checks the parsed parameters (NaN and ±Inf included).
	valid func(ps [maxParams]float64) bool
	// logWeight is the log of the unnormalised density at x in [0, 1];
	// -Inf where the prior gives no weight.
	logWeight func(ps [maxParams]float64, x float64) float64
	// cells, when not nil and true for the parameters, says the density is
	// infinite somewhere on [0, 1], so a grid weighs each point by
	// logCellMass, the log of the prior's mass over the point's cell,
	// rather than by logWeight.
	cells       func(ps [maxParams]float64) bool
	logCellMass func(ps [maxParams]float64, i, points int) float64
}

// families is every prior a spec can name, in the order the syntax lists
// them.
var families = []family{
	{
		// The original's prior: flat above T, nothing at or below.
		name: "step", params: []string{"T"},
		rule:  "want step:T with 0 <= T < 1, e.g. step:0.1",
		valid: func(ps [maxParams]float64) bool { return ps[0] >= 0 && ps[0] < 1 },
		logWeight: func(ps [maxParams]float64, x float64) float64 {
			if x > ps[0] {
				return 0
			}
			return math.Inf(-1)
		},
	},
	{
		name:      "uniform",
		rule:      "uniform takes no parameter",
		valid:     func([maxParams]float64) bool { return true },
		logWeight: func([maxParams]float64, float64) float64 { return 0 },
	},
	{
		// With A, B >= 1 the density is finite on [0, 1] and a grid point
		// gets the density there, the textbook's weight. A < 1 (B < 1)
		// makes it infinite at 0 (at 1), and every point then gets the
		// mass of its cell (beta.go).
		name: "beta", params: []string{"A", "B"},
		rule: "want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2",
		valid: func(ps [maxParams]float64) bool {
			a, b := ps[0], ps[1]
			return a > 0 && b > 0 && !math.IsInf(a, 0) && !math.IsInf(b, 0)
		},
		logWeight: func(ps [maxParams]float64, x float64) float64 {
			return xlogy(ps[0]-1, x) + xlogy(ps[1]-1, 1-x)
		},
		cells: betaCells,
		logCellMass: func(ps [maxParams]float64, i, points int) float64 {
			return betaLogCellMass(ps[0], ps[1], i, points)
		},
	},
}

// xlogy is k·log(x) with 0·log(0) = 0, the convention the closed form needs
// at the grid's end points.
func xlogy(k, x float64) float64 {
	if k == 0 {
		return 0
	}
	return k * math.Log(x)
}

// Prior is a parsed prior spec. Its zero value is no prior: String says
// "invalid", LogWeight is NaN and CoversInterior is false.
type Prior struct {
	f  *family
	ps [maxParams]float64
}

// Parse reads a prior spec, case- and space-insensitively: one of Syntax,
// with decimal parameters.
func Parse(s string) (Prior, error) {
	name, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	name = strings.ToLower(strings.TrimSpace(name))
	for i := range families {
		f := &families[i]
		if f.name != name {
			continue
		}
		p := Prior{f: f}
		if !p.parseParams(arg) || !f.valid(p.ps) {
			return Prior{}, fmt.Errorf("prior %q: %s", clip.String(s, clip.Field), f.rule)
		}
		return p, nil
	}
	return Prior{}, fmt.Errorf("prior %q: want one of %s", clip.String(s, clip.Field), strings.Join(forms(), ", "))
}

// parseParams reads arg, the spec after the colon, as exactly as many
// comma-separated decimals as p's family takes.
func (p *Prior) parseParams(arg string) bool {
	if len(p.f.params) == 0 {
		return strings.TrimSpace(arg) == ""
	}
	fields := strings.Split(arg, ",")
	if len(fields) != len(p.f.params) {
		return false
	}
	for i, s := range fields {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return false
		}
		p.ps[i] = v
	}
	return true
}

// MustParse is Parse for a spec known to be valid, such as a constant; it
// panics on an invalid one.
func MustParse(s string) Prior {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String is the canonical spec: Parse(p.String()) == p, and two specs meaning
// the same prior have the same String.
func (p Prior) String() string {
	if p.f == nil {
		return "invalid"
	}
	var b strings.Builder
	b.WriteString(p.f.name)
	for i := range p.f.params {
		if i == 0 {
			b.WriteByte(':')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(p.ps[i], 'g', -1, 64))
	}
	return b.String()
}

// LogWeight is the log of the unnormalised prior density at x in [0, 1]:
// -Inf where the prior gives no weight, +Inf where the density is infinite
// (beta with A < 1 at 0, B < 1 at 1), NaN for the zero Prior. A grid's
// weights are LogWeights.
func (p Prior) LogWeight(x float64) float64 {
	if p.f == nil {
		return math.NaN()
	}
	return p.f.logWeight(p.ps, x)
}

// Cells reports whether the prior weighs a grid point by its mass over the
// point's cell rather than by its density at the point (see LogWeights).
func (p Prior) Cells() bool {
	return p.f != nil && p.f.cells != nil && p.f.cells(p.ps)
}

// LogWeights is the log of the unnormalised weight the prior gives each
// point of the grid linspace(0, 1, points), i/(points-1), for points >= 2
// (nil for fewer, and for the zero Prior):
//   - the density at the point, LogWeight, when it is finite on [0, 1]:
//     the weights of the textbook's grid approximation;
//   - else (beta with A < 1 or B < 1) the prior's mass over the point's
//     cell [x_i − h/2, x_i + h/2] ∩ [0, 1], h = 1/(points-1). A density
//     that is infinite at an end point cannot weigh that point, and the
//     mass is the weight the density at the point approximates: for a
//     smooth density the two differ by O(h²) inside the grid.
//
// -Inf is no weight. Each call returns a new slice.
func (p Prior) LogWeights(points int) []float64 {
	if p.f == nil || points < 2 {
		return nil
	}
	out := make([]float64, points)
	if !p.Cells() {
		for i := range out {
			out[i] = p.f.logWeight(p.ps, float64(i)/float64(points-1))
		}
		return out
	}
	copy(out, cellWeights.get(p, points))
	return out
}

// cellWeights keeps the cell masses of the grids recently asked for. They
// take an incomplete beta function per cell end, about a microsecond each,
// and bayes rebuilds a model's grid for every read of it (a live page reads
// it four times a second), while a deployment has few distinct priors and
// grid sizes.
var cellWeights = &weightCache{m: make(map[gridKey][]float64)}

// maxCachedGrids bounds the cache: at 10,000 points a grid is 80 kB.
const maxCachedGrids = 64

type gridKey struct {
	p      Prior
	points int
}

type weightCache struct {
	mu sync.Mutex
	m  map[gridKey][]float64
}

// get returns the cell weights of p on points, computed on the first ask;
// the slice is shared and must not be changed.
func (c *weightCache) get(p Prior, points int) []float64 {
	key := gridKey{p, points}
	c.mu.Lock()
	w, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return w
	}
	w = make([]float64, points)
	for i := range w {
		w[i] = p.f.logCellMass(p.ps, i, points)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedGrids {
		clear(c.m) // rarely full; starting again is simpler than an LRU
	}
	c.m[key] = w
	return w
}

// CoversInterior reports whether the prior gives weight to a point of the
// grid linspace(0, 1, points), i/(points-1), strictly between 0 and 1.
// Every such point has a positive likelihood for any data, so with weight on
// one of them no sequence of observations can rule out the whole grid (which
// would make the posterior 0/0); weight on an end point alone is ruled out by
// one observation of the other kind.
func (p Prior) CoversInterior(points int) bool {
	weight := func(i int) float64 { return p.LogWeight(float64(i) / float64(points-1)) }
	if p.Cells() {
		weight = func(i int) float64 { return p.f.logCellMass(p.ps, i, points) }
	}
	// From the top down: a step prior's weight is there if anywhere, and the
	// other families weigh every interior point, so this stops at once.
	for i := points - 2; i > 0; i-- {
		if weight(i) > math.Inf(-1) {
			return true
		}
	}
	return false
}

// CheckInterior is CoversInterior as the error both services give a prior
// and grid size that fail it.
func (p Prior) CheckInterior(points int) error {
	if p.CoversInterior(points) {
		return nil
	}
	return fmt.Errorf("prior %s gives no weight to any of the %d grid points strictly between 0 and 1; use more points or another prior", p, points)
}

// Syntax is the specs Parse reads, for help text: "step:T, uniform or
// beta:A,B".
func Syntax() string {
	fs := forms()
	return strings.Join(fs[:len(fs)-1], ", ") + " or " + fs[len(fs)-1]
}

// forms is each family's spec with its parameters named: "step:T", ...
func forms() []string {
	out := make([]string, len(families))
	for i, f := range families {
		out[i] = f.name
		if len(f.params) > 0 {
			out[i] += ":" + strings.Join(f.params, ",")
		}
	}
	return out
}
