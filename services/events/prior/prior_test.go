package prior_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/events/prior"
)

func TestParseAndString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"step:0.1", "step:0.1"},
		{" STEP : 0.25 ", "step:0.25"},
		{"step:0", "step:0"},
		{"step:1e-3", "step:0.001"},
		{"uniform", "uniform"},
		{" Uniform: ", "uniform"},
		{"beta:2,2", "beta:2,2"},
		{" BETA:1, 3.5", "beta:1,3.5"},
		{"beta:2.50,1e1", "beta:2.5,10"},
		{"beta:0.5,0.5", "beta:0.5,0.5"},
		{"beta:.2, 3", "beta:0.2,3"},
	} {
		p, err := prior.Parse(tc.in)
		if err != nil || p.String() != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
			continue
		}
		if back, err := prior.Parse(p.String()); err != nil || back != p {
			t.Errorf("Parse(%q) = %v, %v; want %v again", p.String(), back, err, p)
		}
	}
}

// The messages are quoted by tests and the README: byte for byte.
func TestParseErrors(t *testing.T) {
	long := "step:" + strings.Repeat("9", 70)
	for in, want := range map[string]string{
		"":             `prior "": want one of step:T, uniform, beta:A,B`,
		"normal:0,1":   `prior "normal:0,1": want one of step:T, uniform, beta:A,B`,
		"step":         `prior "step": want step:T with 0 <= T < 1, e.g. step:0.1`,
		"step:1":       `prior "step:1": want step:T with 0 <= T < 1, e.g. step:0.1`,
		"step:-0.2":    `prior "step:-0.2": want step:T with 0 <= T < 1, e.g. step:0.1`,
		"step:NaN":     `prior "step:NaN": want step:T with 0 <= T < 1, e.g. step:0.1`,
		"step:0.1,2":   `prior "step:0.1,2": want step:T with 0 <= T < 1, e.g. step:0.1`,
		"uniform:3":    `prior "uniform:3": uniform takes no parameter`,
		"beta:0,1":     `prior "beta:0,1": want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2`,
		"beta:1,-0.5":  `prior "beta:1,-0.5": want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2`,
		"beta:NaN,1":   `prior "beta:NaN,1": want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2`,
		"beta:2":       `prior "beta:2": want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2`,
		"beta:1,2,3":   `prior "beta:1,2,3": want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2`,
		"beta:a,b":     `prior "beta:a,b": want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2`,
		"beta:Inf,2":   `prior "beta:Inf,2": want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2`,
		"beta:1e400,1": `prior "beta:1e400,1": want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2`,
		long:           `prior "` + long[:64] + `…": want step:T with 0 <= T < 1, e.g. step:0.1`,
	} {
		p, err := prior.Parse(in)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) = %v, %v; want error %s", in, p, err, want)
		}
	}
}

func TestSyntax(t *testing.T) {
	if got := prior.Syntax(); got != "step:T, uniform or beta:A,B" {
		t.Errorf("Syntax() = %q", got)
	}
}

func TestLogWeight(t *testing.T) {
	inf := math.Inf(-1)
	for _, tc := range []struct {
		spec string
		x    float64
		want float64
	}{
		{"step:0.1", 0, inf},
		{"step:0.1", 0.1, inf},
		{"step:0.1", 0.1000001, 0},
		{"step:0.1", 1, 0},
		{"step:0", 0, inf},
		{"uniform", 0, 0},
		{"uniform", 1, 0},
		{"beta:1,1", 0, 0},
		{"beta:2,1", 0, inf},
		{"beta:2,1", 1, 0},
		{"beta:1,3", 1, inf},
		{"beta:3,2", 0.5, 2*math.Log(0.5) + math.Log(0.5)},
	} {
		if got := prior.MustParse(tc.spec).LogWeight(tc.x); got != tc.want {
			t.Errorf("%s at %v: log weight %v, want %v", tc.spec, tc.x, got, tc.want)
		}
	}
	var zero prior.Prior
	if w := zero.LogWeight(0.5); !math.IsNaN(w) || zero.String() != "invalid" || zero.CoversInterior(100) {
		t.Errorf("zero Prior: weight %v, %q, covers %v", w, zero, zero.CoversInterior(100))
	}
}

// CoversInterior is computed from the weights; for step:T it must agree with
// the closed form it replaced, the largest interior point (P-2)/(P-1) > T,
// including at T equal to that point.
func TestCoversInteriorStep(t *testing.T) {
	for points := 1; points <= 2000; points++ {
		var edges []float64
		if points >= 2 {
			top := float64(points-2) / float64(points-1)
			edges = append(edges, top, math.Nextafter(top, 0), math.Nextafter(top, 1))
		}
		for _, th := range append(edges, 0, 0.1, 0.5, 0.9, 0.999) {
			if !(th >= 0 && th < 1) {
				continue
			}
			p, err := prior.Parse("step:" + strconv.FormatFloat(th, 'g', -1, 64))
			if err != nil {
				t.Fatal(err)
			}
			want := points >= 3 && float64(points-2)/float64(points-1) > th
			if got := p.CoversInterior(points); got != want {
				t.Fatalf("step:%v on %d points: CoversInterior %v, want %v", th, points, got, want)
			}
			if err := p.CheckInterior(points); (err == nil) != want {
				t.Fatalf("step:%v on %d points: CheckInterior %v", th, points, err)
			}
		}
	}
}

func TestCoversInteriorOthers(t *testing.T) {
	for _, spec := range []string{"uniform", "beta:1,1", "beta:5,1", "beta:1,5", "beta:30,30"} {
		p := prior.MustParse(spec)
		for points := 0; points <= 300; points++ {
			if got := p.CoversInterior(points); got != (points >= 3) {
				t.Fatalf("%s on %d points: CoversInterior %v", spec, points, got)
			}
		}
	}
	want := "prior step:0.9 gives no weight to any of the 10 grid points strictly between 0 and 1; use more points or another prior"
	if err := prior.MustParse("step:0.9").CheckInterior(10); err == nil || err.Error() != want {
		t.Errorf("CheckInterior = %v, want %s", err, want)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse accepted normal")
		}
	}()
	prior.MustParse("normal")
}

// FuzzParse checks the round trip on any input Parse accepts: the canonical
// form parses to the same prior and is its own canonical form.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"step:0.1", "uniform", "beta:2,2", " BETA:1, 3.5", "step:-0", "beta:1e300,1", "step:0x1p-3", "beta:0.5,0.5", "beta:1e-300,1e300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := prior.Parse(s)
		if err != nil {
			return
		}
		back, err := prior.Parse(p.String())
		if err != nil || back != p || back.String() != p.String() {
			t.Fatalf("Parse(%q) = %v; Parse(%q) = %v, %v", s, p, p.String(), back, err)
		}
		if w := p.LogWeight(0.5); math.IsNaN(w) {
			t.Fatalf("%v: NaN weight at 0.5", p)
		}
		// Every grid weight is a number below +Inf, cells included.
		for i, w := range p.LogWeights(5) {
			if math.IsNaN(w) || math.IsInf(w, 1) {
				t.Fatalf("%v: log weight %v at point %d of 5", p, w, i)
			}
		}
	})
}
