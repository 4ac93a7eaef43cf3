package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The A/B decision endpoints of bayes (GET /compare, /compare/events and
// /allocate), driven end to end: models defined and fed through the api,
// applied by bayes, and every number bayes answers checked against this
// test's own brute-force recomputation from GET /models/{name}.

// abTol is how far a number bayes computes may be from the test's own.
const abTol = 1e-9

// abMaxSeed is the largest seed /allocate takes: 2^53-1, the largest whole
// number a JSON client in a browser reads exactly.
const abMaxSeed = 1<<53 - 1

type abInterval struct {
	Prob float64 `json:"prob"`
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
}

// abCompare is the contract of GET /compare.
type abCompare struct {
	Prob   float64 `json:"prob"`
	Models []struct {
		Name         string  `json:"name"`
		W            int64   `json:"w"`
		N            int64   `json:"n"`
		PriorSpec    string  `json:"prior_spec"`
		GridPoints   int     `json:"grid_points"`
		Mean         float64 `json:"mean"`
		ProbBest     float64 `json:"prob_best"`
		ExpectedLoss float64 `json:"expected_loss"`
	} `json:"models"`
	Difference *struct {
		Mean      float64    `json:"mean"`
		HPDI      abInterval `json:"hpdi"`
		Grid      []float64  `json:"grid"`
		Posterior []float64  `json:"posterior"`
	} `json:"difference"`
	Uplift *struct {
		Mean     *float64 `json:"mean"`
		Median   *float64 `json:"median"`
		Interval struct {
			Prob float64  `json:"prob"`
			Lo   *float64 `json:"lo"`
			Hi   *float64 `json:"hi"`
		} `json:"interval"`
	} `json:"uplift"`
}

// abAllocation is the contract of GET /allocate.
type abAllocation struct {
	Seed   *uint64 `json:"seed"`
	Draws  int     `json:"draws"`
	Next   string  `json:"next"`
	Models []struct {
		Name  string `json:"name"`
		W     int64  `json:"w"`
		N     int64  `json:"n"`
		Count int    `json:"count"`
	} `json:"models"`
}

// abGet sends GET url and returns the status and the body, which must be
// JSON whatever the status (a problem for an error); anything else (an
// event stream, say) is an error, and its body is left unread.
func abGet(url string) (int, []byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, answerType(resp.StatusCode)) {
		return resp.StatusCode, nil, fmt.Errorf("GET %s: %s with Content-Type %q", url, resp.Status, ct)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, raw, fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	return resp.StatusCode, raw, nil
}

// abGetOK is abGet for a request that must succeed; the body is decoded
// into out and into a generic map, for checks on which members exist.
func abGetOK(t *testing.T, url string, out any) map[string]any {
	t.Helper()
	code, raw, err := abGet(url)
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("GET %s: %v in %.300s", url, err, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return m
}

// abModelSpec is one model of a test: its definition and its batches of
// counts, {w, l} each.
type abModelSpec struct {
	name    string
	prior   string
	points  int
	batches [][2]int64
}

// abFeed defines each model through the api, sends its batches, and waits
// until bayes has applied all of them; it returns the models as bayes
// serves them.
func abFeed(t *testing.T, s *system, bayes *proc, specs ...abModelSpec) map[string]modelView {
	t.Helper()
	for _, sp := range specs {
		mustCall(t, "PUT", s.api.url("/models/"+sp.name), fmt.Sprintf(`{"prior":%q,"grid_points":%d}`, sp.prior, sp.points), 202)
		// With two replicas the definition and an observation sent right
		// after it can be applied by different replicas in either order;
		// an observation applied first creates the model with the
		// defaults (docs/model.md). Observations wait for the definition.
		eventually(t, 30*time.Second, "model "+sp.name+" created by its definition", func() (bool, string) {
			v, err := getModelAt(bayes, "/models/"+sp.name)
			return err == nil, fmt.Sprint(v.PriorSpec, err)
		})
		for _, b := range sp.batches {
			mustCall(t, "POST", s.api.url("/models/"+sp.name+"/observations"), fmt.Sprintf(`{"w":%d,"l":%d}`, b[0], b[1]), 201)
		}
	}
	out := make(map[string]modelView, len(specs))
	for _, sp := range specs {
		var w, n int64
		for _, b := range sp.batches {
			w, n = w+b[0], n+b[0]+b[1]
		}
		v := waitModel(t, bayes, sp.name, n)
		if v.W != w || v.PriorSpec != sp.prior || v.GridPoints != sp.points || len(v.Grid) != sp.points || len(v.Posterior) != sp.points {
			t.Fatalf("model %s: w %d prior %s points %d (%d, %d), want w %d %s %d",
				sp.name, v.W, v.PriorSpec, v.GridPoints, len(v.Grid), len(v.Posterior), w, sp.prior, sp.points)
		}
		out[sp.name] = v
	}
	return out
}

// abJoint calls f for every combination of one grid point per model that
// has positive posterior mass, with that combination's joint mass (the
// models are independent).
func abJoint(ms []modelView, f func(p []float64, mass float64)) {
	p := make([]float64, len(ms))
	var rec func(i int, mass float64)
	rec = func(i int, mass float64) {
		if i == len(ms) {
			f(p, mass)
			return
		}
		for k, x := range ms[i].Grid {
			if m := ms[i].Posterior[k]; m > 0 {
				p[i] = x
				rec(i+1, mass*m)
			}
		}
	}
	rec(0, 1)
}

// abBest is P(model i has the largest p), ties split evenly, and
// E[max_j p_j - p_i], by brute force over every combination of grid points.
func abBest(ms []modelView) (best, loss []float64) {
	best, loss = make([]float64, len(ms)), make([]float64, len(ms))
	abJoint(ms, func(p []float64, mass float64) {
		top := slices.Max(p)
		ties := 0
		for _, x := range p {
			if x == top {
				ties++
			}
		}
		for i, x := range p {
			if x == top {
				best[i] += mass / float64(ties)
			}
			loss[i] += mass * (top - x)
		}
	})
	return best, loss
}

// abDifference is the distribution of p_b - p_a on the contract's lattice:
// step 1/(G-1) for G the larger grid, 2G-1 points from -1 to 1, each
// difference's mass shared between the two lattice points around it in
// proportion to nearness.
func abDifference(a, b modelView) (grid, mass []float64) {
	g := max(len(a.Grid), len(b.Grid))
	steps := float64(g - 1)
	grid, mass = make([]float64, 2*g-1), make([]float64, 2*g-1)
	for k := range grid {
		grid[k] = float64(k-(g-1)) / steps
	}
	for i, pa := range a.Grid {
		if a.Posterior[i] == 0 {
			continue
		}
		for j, pb := range b.Grid {
			at := (pb - pa) * steps
			k := int(math.Floor(at))
			frac := at - float64(k)
			if frac > 1-1e-9 {
				k, frac = k+1, 0
			}
			m := a.Posterior[i] * b.Posterior[j]
			mass[k+g-1] += m * (1 - frac)
			if frac > 1e-9 {
				mass[k+g] += m * frac
			}
		}
	}
	return grid, mass
}

// abNarrowest is the number of lattice steps of the narrowest contiguous
// run of mass holding at least prob, a little more than prob so that
// rounding cannot make it narrower than bayes' own.
func abNarrowest(mass []float64, prob float64) int {
	best := len(mass)
	for lo := range mass {
		var sum float64
		for hi := lo; hi < len(mass) && hi-lo < best; hi++ {
			sum += mass[hi]
			if sum >= prob+abTol {
				best = hi - lo
				break
			}
		}
	}
	return best
}

// abMean is the posterior mean of a model, from its grid and posterior.
func abMean(v modelView) float64 {
	var m float64
	for i, p := range v.Grid {
		m += p * v.Posterior[i]
	}
	return m
}

// abClose reports whether got is within abTol of want, relative to want
// when want is large.
func abClose(got, want float64) bool {
	return math.Abs(got-want) <= abTol*max(1, math.Abs(want))
}

// abCheckCompare checks a /compare answer for the models ms (in the order
// asked) against the test's own recomputation.
func abCheckCompare(t *testing.T, what string, got abCompare, ms []modelView, prob float64) {
	t.Helper()
	if !abClose(got.Prob, prob) {
		t.Fatalf("%s: prob %v, want %v", what, got.Prob, prob)
	}
	if len(got.Models) != len(ms) {
		t.Fatalf("%s: %d models, want %d", what, len(got.Models), len(ms))
	}
	best, loss := abBest(ms)
	var sum float64
	for i, m := range got.Models {
		v := ms[i]
		if m.Name != v.Name || m.W != v.W || m.N != v.N || m.PriorSpec != v.PriorSpec || m.GridPoints != v.GridPoints {
			t.Fatalf("%s: model %d is %s w %d n %d %s/%d, GET /models/%s has w %d n %d %s/%d",
				what, i, m.Name, m.W, m.N, m.PriorSpec, m.GridPoints, v.Name, v.W, v.N, v.PriorSpec, v.GridPoints)
		}
		if !abClose(m.Mean, v.Mean) || !abClose(m.Mean, abMean(v)) {
			t.Fatalf("%s: %s mean %v, GET /models has %v, computed %v", what, m.Name, m.Mean, v.Mean, abMean(v))
		}
		if !abClose(m.ProbBest, best[i]) {
			t.Fatalf("%s: %s prob_best %.15g, brute force %.15g", what, m.Name, m.ProbBest, best[i])
		}
		if m.ExpectedLoss < 0 || !abClose(m.ExpectedLoss, loss[i]) {
			t.Fatalf("%s: %s expected_loss %.15g, brute force %.15g", what, m.Name, m.ExpectedLoss, loss[i])
		}
		sum += m.ProbBest
	}
	if !abClose(sum, 1) {
		t.Fatalf("%s: prob_best sums to %.15g", what, sum)
	}
	if len(ms) != 2 {
		if got.Difference != nil || got.Uplift != nil {
			t.Fatalf("%s: difference or uplift with %d models", what, len(ms))
		}
		return
	}
	if got.Difference == nil || got.Uplift == nil {
		t.Fatalf("%s: two models without difference or uplift: %+v", what, got)
	}
	abCheckDifference(t, what, got, ms[0], ms[1], prob)
	abCheckUplift(t, what, got, ms[0], ms[1], prob)
}

// abCheckDifference checks the distribution of p_b - p_a: its lattice,
// its mass point by point, its mean, and that its HPDI holds prob and is
// no wider than the narrowest run of the lattice that does.
func abCheckDifference(t *testing.T, what string, got abCompare, a, b modelView, prob float64) {
	t.Helper()
	d := got.Difference
	grid, mass := abDifference(a, b)
	if len(d.Grid) != len(grid) || len(d.Posterior) != len(grid) {
		t.Fatalf("%s: difference has %d grid points and %d masses, want %d (grids of %d and %d)",
			what, len(d.Grid), len(d.Posterior), len(grid), len(a.Grid), len(b.Grid))
	}
	var total float64
	for k := range grid {
		if math.Abs(d.Grid[k]-grid[k]) > abTol {
			t.Fatalf("%s: difference grid[%d] = %v, want %v", what, k, d.Grid[k], grid[k])
		}
		if math.Abs(d.Posterior[k]-mass[k]) > abTol {
			t.Fatalf("%s: P(p_%s - p_%s = %.4f) = %.15g, computed %.15g", what, b.Name, a.Name, grid[k], d.Posterior[k], mass[k])
		}
		total += d.Posterior[k]
	}
	if !abClose(total, 1) {
		t.Fatalf("%s: the difference's posterior sums to %v", what, total)
	}
	if want := abMean(b) - abMean(a); !abClose(d.Mean, want) {
		var lattice float64
		for k := range grid {
			lattice += grid[k] * mass[k]
		}
		t.Fatalf("%s: difference mean %.15g, E[p_%s - p_%s] = %.15g (on the lattice %.15g)", what, d.Mean, b.Name, a.Name, want, lattice)
	}
	h := d.HPDI
	if !abClose(h.Prob, prob) || h.Lo > h.Hi {
		t.Fatalf("%s: difference hpdi %+v, want prob %v", what, h, prob)
	}
	var inside float64
	for k, x := range grid {
		if x >= h.Lo-abTol && x <= h.Hi+abTol {
			inside += mass[k]
		}
	}
	if inside < prob-abTol {
		t.Fatalf("%s: difference hpdi [%v, %v] holds %.12g of the mass, want at least %v", what, h.Lo, h.Hi, inside, prob)
	}
	step := grid[1] - grid[0]
	if narrow := abNarrowest(mass, prob); h.Hi-h.Lo > float64(narrow)*step+abTol {
		t.Fatalf("%s: difference hpdi [%v, %v] is %.1f steps wide; [%d steps] hold %v", what, h.Lo, h.Hi, (h.Hi-h.Lo)/step, narrow, prob)
	}
}

// abCheckUplift checks (p_b - p_a)/p_a: its mean by brute force (null when
// p_a = 0 has mass and p_b > 0 can follow), and that its median and equal-tailed interval fall
// between the atoms around the quantiles of its distribution, whichever
// convention bayes uses for a quantile of a discrete distribution.
func abCheckUplift(t *testing.T, what string, got abCompare, a, b modelView, prob float64) {
	t.Helper()
	u := got.Uplift
	if !abClose(u.Interval.Prob, prob) {
		t.Fatalf("%s: uplift interval prob %v, want %v", what, u.Interval.Prob, prob)
	}
	type atom struct{ x, m float64 }
	var atoms []atom
	infinite := false
	var mean float64
	for i, pa := range a.Grid {
		if a.Posterior[i] == 0 {
			continue
		}
		for j, pb := range b.Grid {
			m := a.Posterior[i] * b.Posterior[j]
			if m == 0 {
				continue
			}
			if pa == 0 && pb > 0 {
				infinite = true
				continue
			}
			x := 0.0 // p_a = p_b = 0: no change
			if pa > 0 {
				x = (pb - pa) / pa
			}
			atoms = append(atoms, atom{x, m})
			mean += x * m
		}
	}
	if infinite {
		if u.Mean != nil {
			t.Fatalf("%s: p_%s = 0 has mass, yet the uplift mean is %v, want null", what, a.Name, *u.Mean)
		}
		return
	}
	if u.Mean == nil || u.Median == nil || u.Interval.Lo == nil || u.Interval.Hi == nil {
		t.Fatalf("%s: p_%s > 0 everywhere, yet uplift has nulls: %s", what, a.Name, abJSON(u))
	}
	if !abClose(*u.Mean, mean) {
		t.Fatalf("%s: uplift mean %.15g, brute force %.15g", what, *u.Mean, mean)
	}
	sort.Slice(atoms, func(i, j int) bool { return atoms[i].x < atoms[j].x })
	var xs, cdf []float64 // distinct values and P(U <= value)
	var c float64
	for _, at := range atoms {
		c += at.m
		if n := len(xs); n > 0 && xs[n-1] == at.x {
			cdf[n-1] = c
			continue
		}
		xs, cdf = append(xs, at.x), append(cdf, c)
	}
	// around is [the last atom with F < q, the first atom with F >= q],
	// loosened by abTol so that rounding in either sum cannot decide.
	around := func(q float64) (lo, hi float64) {
		lo, hi = math.Inf(-1), math.Inf(1)
		for k, x := range xs {
			if cdf[k] < q-abTol {
				lo = x
			}
			if cdf[k] >= q+abTol && math.IsInf(hi, 1) {
				hi = x
			}
		}
		return lo, hi
	}
	for _, c := range []struct {
		name string
		q    float64
		got  float64
	}{
		{"median", 0.5, *u.Median},
		{"interval lo", (1 - prob) / 2, *u.Interval.Lo},
		{"interval hi", (1 + prob) / 2, *u.Interval.Hi},
	} {
		if lo, hi := around(c.q); c.got < lo-abTol || c.got > hi+abTol {
			t.Fatalf("%s: uplift %s %.15g, the %v quantile lies in [%.15g, %.15g]", what, c.name, c.got, c.q, lo, hi)
		}
	}
}

func abJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestABCompareTwoModels: two models with different grids and priors, fed
// in batches; /compare against brute force, in both orders and at two
// interval masses, a model with p = 0 possible (infinite uplift), and the
// live feed /compare/events at once and after a change.
func TestABCompareTwoModels(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "b0")
	ms := abFeed(t, s, bayes,
		abModelSpec{"a", "uniform", 120, [][2]int64{{10, 90}, {12, 68}, {8, 62}}},
		abModelSpec{"b", "beta:2,2", 201, [][2]int64{{20, 130}, {16, 94}}},
		abModelSpec{"z", "uniform", 120, [][2]int64{{0, 3}}},
	)
	a, b, z := ms["a"], ms["b"], ms["z"]

	var got abCompare
	abGetOK(t, bayes.url("/compare?models=a,b"), &got)
	abCheckCompare(t, "compare a,b", got, []modelView{a, b}, 0.89)
	t.Logf("a,b: prob_best %.4f / %.4f, loss %.5f / %.5f, difference mean %.4f hpdi %+v, uplift %s",
		got.Models[0].ProbBest, got.Models[1].ProbBest, got.Models[0].ExpectedLoss, got.Models[1].ExpectedLoss,
		got.Difference.Mean, got.Difference.HPDI, abJSON(got.Uplift))
	if pb := got.Models[1].ProbBest; pb < 0.55 || pb > 0.98 {
		t.Fatalf("the counts were chosen for a close call, yet prob_best(b) = %v", pb)
	}

	var half abCompare
	abGetOK(t, bayes.url("/compare?models=a,b&prob=0.5"), &half)
	abCheckCompare(t, "compare a,b prob=0.5", half, []modelView{a, b}, 0.5)
	if half.Difference.HPDI.Prob != 0.5 || half.Difference.HPDI.Hi-half.Difference.HPDI.Lo >= got.Difference.HPDI.Hi-got.Difference.HPDI.Lo {
		t.Fatalf("hpdi at 0.5 %+v, at 0.89 %+v", half.Difference.HPDI, got.Difference.HPDI)
	}

	// The other order: the difference is p_a - p_b.
	var rev abCompare
	abGetOK(t, bayes.url("/compare?models=b,a"), &rev)
	abCheckCompare(t, "compare b,a", rev, []modelView{b, a}, 0.89)
	if !abClose(rev.Difference.Mean, -got.Difference.Mean) || !abClose(rev.Models[0].ProbBest, got.Models[1].ProbBest) {
		t.Fatalf("b,a: difference mean %v, prob_best(b) %v; a,b: %v, %v",
			rev.Difference.Mean, rev.Models[0].ProbBest, got.Difference.Mean, got.Models[1].ProbBest)
	}

	// z has mass at p = 0, so (p_b - p_z)/p_z is infinite with positive
	// probability: the uplift mean is null.
	var inf abCompare
	raw := abGetOK(t, bayes.url("/compare?models=z,b"), &inf)
	abCheckCompare(t, "compare z,b", inf, []modelView{z, b}, 0.89)
	if up, _ := raw["uplift"].(map[string]any); up == nil || up["mean"] != nil {
		t.Fatalf("z,b: uplift %v, want a mean of null", raw["uplift"])
	}

	// The live feed: the same answer at once, and a new one when b changes.
	feed := abOpenEvents(t, bayes.url("/compare/events?models=a,b&prob=0.5"))
	first := feed.next(t, "compare")
	var now map[string]any
	abGetOK(t, bayes.url("/compare?models=a,b&prob=0.5"), &now)
	var firstMap map[string]any
	if err := json.Unmarshal([]byte(first), &firstMap); err != nil || !reflect.DeepEqual(firstMap, now) {
		t.Fatalf("first compare event differs from GET /compare (%v):\n%.400s\n%.400s", err, first, abJSON(now))
	}
	mustCall(t, "POST", s.api.url("/models/b/observations"), `{"w":9,"l":1}`, 201)
	for {
		var ev abCompare
		data := feed.next(t, "compare")
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("compare event: %v in %.300s", err, data)
		}
		if len(ev.Models) != 2 {
			t.Fatalf("compare event with %d models: %.300s", len(ev.Models), data)
		}
		if ev.Models[1].N == b.N {
			continue // sent before bayes applied the batch
		}
		b2 := waitModel(t, bayes, "b", b.N+10)
		abCheckCompare(t, "compare event after a batch for b", ev, []modelView{a, b2}, 0.5)
		break
	}

	// Redis gone: an error event, and the feed stays open; Redis back
	// (AOF, nothing lost): the comparison again, as GET /compare has it.
	s.redis.Kill()
	var failure struct {
		Error string `json:"error"`
	}
	if data := feed.next(t, "error"); json.Unmarshal([]byte(data), &failure) != nil || failure.Error == "" {
		t.Fatalf("error event %q, want {\"error\": \"...\"}", data)
	}
	s.redis.Restart()
	var back, want map[string]any
	if err := json.Unmarshal([]byte(feed.next(t, "compare")), &back); err != nil {
		t.Fatalf("compare event after Redis came back: %v", err)
	}
	abGetOK(t, bayes.url("/compare?models=a,b&prob=0.5"), &want)
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("compare event after Redis came back differs from GET /compare:\n%.400s\n%.400s", abJSON(back), abJSON(want))
	}
}

// abEvents reads a Server-Sent Events stream.
type abEvents struct {
	url string
	sc  *bufio.Scanner
}

// abOpenEvents opens a feed, checks its headers and its retry line; the
// feed is closed when the test ends, or after a minute at the latest.
func abOpenEvents(t *testing.T, url string) *abEvents {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s, Content-Type %q: %.300s", url, resp.Status, ct, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	e := &abEvents{url: url, sc: sc}
	if !sc.Scan() || sc.Text() != "retry: 2000" {
		t.Fatalf("%s: first line %q (%v), want \"retry: 2000\"", url, sc.Text(), sc.Err())
	}
	return e
}

// next returns the data of the next event, which must be of type want
// (comments such as keep-alives are skipped).
func (e *abEvents) next(t *testing.T, want string) string {
	t.Helper()
	var event string
	var data []string
	for e.sc.Scan() {
		line := e.sc.Text()
		switch {
		case line == "":
			if event == "" && data == nil {
				continue
			}
			if event != want {
				t.Fatalf("%s: event %q %s, want %q", e.url, event, strings.Join(data, "\n"), want)
			}
			return strings.Join(data, "\n")
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		default:
			t.Fatalf("%s: unexpected line %.200q", e.url, line)
		}
	}
	t.Fatalf("%s: the feed ended before a %q event: %v", e.url, want, e.sc.Err())
	return ""
}

// TestABCompareThreeModels: three models, prob_best against the O(g1·g2·g3)
// brute force (small grids that share points, so ties happen and are
// split), no difference or uplift; default can be compared by name; and
// Thompson sampling follows prob_best for three models too.
func TestABCompareThreeModels(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "b0")
	ms := abFeed(t, s, bayes,
		abModelSpec{"c1", "uniform", 41, [][2]int64{{10, 40}, {10, 40}}},
		abModelSpec{"c2", "beta:2,2", 61, [][2]int64{{22, 78}}},
		abModelSpec{"c3", "beta:1,3", 81, [][2]int64{{9, 41}, {6, 24}, {3, 17}}},
	)
	three := []modelView{ms["c1"], ms["c2"], ms["c3"]}
	var got abCompare
	raw := abGetOK(t, bayes.url("/compare?models=c1,c2,c3"), &got)
	abCheckCompare(t, "compare c1,c2,c3", got, three, 0.89)
	for _, k := range []string{"difference", "uplift"} {
		if _, ok := raw[k]; ok {
			t.Fatalf("three models: the answer has %q: %v", k, raw[k])
		}
	}
	var tied float64
	abJoint(three, func(p []float64, mass float64) {
		if top := slices.Max(p); (p[0] == top && p[1] == top) || (p[0] == top && p[2] == top) || (p[1] == top && p[2] == top) {
			tied += mass
		}
	})
	t.Logf("c1,c2,c3: prob_best %.4f %.4f %.4f (%.4f of the mass in ties)", got.Models[0].ProbBest, got.Models[1].ProbBest, got.Models[2].ProbBest, tied)
	if tied < 1e-3 {
		t.Fatalf("the grids were chosen to share points, yet ties hold only %v", tied)
	}

	// Another order: the answer follows it.
	abGetOK(t, bayes.url("/compare?models=c3,c1,c2&prob=0.7"), &got)
	abCheckCompare(t, "compare c3,c1,c2", got, []modelView{ms["c3"], ms["c1"], ms["c2"]}, 0.7)

	// default is a name like any other.
	mustCall(t, "POST", s.api.url("/update_model/w"), "", 201)
	def := waitModel(t, bayes, "default", 1)
	abGetOK(t, bayes.url("/compare?models=default,c2"), &got)
	abCheckCompare(t, "compare default,c2", got, []modelView{def, ms["c2"]}, 0.89)

	// Thompson sampling with three arms: pooled shares follow prob_best.
	abGetOK(t, bayes.url("/compare?models=c1,c2,c3"), &got)
	abCheckShares(t, bayes, "c1,c2,c3", got, 10)
}

// abCheckShares draws 10000 allocations for each of seeds seeds and checks
// that each model's pooled share is within 0.01 of its prob_best (about
// six standard errors at 100,000 draws).
func abCheckShares(t *testing.T, bayes *proc, models string, cmp abCompare, seeds int) {
	t.Helper()
	counts := make([]int, len(cmp.Models))
	total := 0
	for seed := range seeds {
		var al abAllocation
		abGetOK(t, bayes.url(fmt.Sprintf("/allocate?models=%s&n=10000&seed=%d", models, seed)), &al)
		abCheckAllocation(t, al, cmp, 10000)
		for i, m := range al.Models {
			counts[i] += m.Count
		}
		total += al.Draws
	}
	for i, m := range cmp.Models {
		if share := float64(counts[i]) / float64(total); math.Abs(share-m.ProbBest) > 0.01 {
			t.Fatalf("%s: %s drawn %d of %d times (%.4f), prob_best %.4f", models, m.Name, counts[i], total, share, m.ProbBest)
		}
	}
}

// abCheckAllocation checks the shape of an /allocate answer: the models
// of cmp in its order with their counts, draws as asked, counts summing to
// draws, next one of the models and, for one draw, the one drawn.
func abCheckAllocation(t *testing.T, al abAllocation, cmp abCompare, draws int) {
	t.Helper()
	if al.Draws != draws || al.Seed == nil || *al.Seed > abMaxSeed || len(al.Models) != len(cmp.Models) {
		t.Fatalf("allocation %s: want %d draws, a seed and %d models", abJSON(al), draws, len(cmp.Models))
	}
	sum, next := 0, false
	for i, m := range al.Models {
		c := cmp.Models[i]
		if m.Name != c.Name || m.W != c.W || m.N != c.N || m.Count < 0 {
			t.Fatalf("allocation model %d: %+v, compare has %s w %d n %d", i, m, c.Name, c.W, c.N)
		}
		sum += m.Count
		next = next || m.Name == al.Next
		if draws == 1 && m.Count == 1 && m.Name != al.Next {
			t.Fatalf("one draw went to %s, yet next is %s", m.Name, al.Next)
		}
	}
	if sum != al.Draws || !next {
		t.Fatalf("allocation %s: counts sum to %d, next %q", abJSON(al), sum, al.Next)
	}
}

// TestABAllocateIsReproducible: Thompson sampling between two models whose
// shares follow prob_best; one seed gives one answer, on another replica
// and after a restart; an answer without a seed names the seed that
// reproduces it.
func TestABAllocateIsReproducible(t *testing.T) {
	s := newSystem(t)
	b0 := s.bayes(t, "b0")
	b1 := s.bayes(t, "b1")
	abFeed(t, s, b0,
		abModelSpec{"a", "uniform", 120, [][2]int64{{10, 90}, {12, 68}, {8, 62}}},
		abModelSpec{"b", "beta:2,2", 201, [][2]int64{{20, 130}, {16, 94}}},
	)
	var cmp abCompare
	abGetOK(t, b0.url("/compare?models=a,b"), &cmp)
	abCheckShares(t, b0, "a,b", cmp, 10)

	seeds := []uint64{0, 1, 2, 3, 42, 1000, 123456789, 1 << 32, abMaxSeed - 1, abMaxSeed}
	first := make(map[uint64]abAllocation)
	for _, seed := range seeds {
		q := fmt.Sprintf("/allocate?models=a,b&n=777&seed=%d", seed)
		var al, again, other abAllocation
		abGetOK(t, b0.url(q), &al)
		abCheckAllocation(t, al, cmp, 777)
		if *al.Seed != seed {
			t.Fatalf("%s: seed %d in the answer", q, *al.Seed)
		}
		abGetOK(t, b0.url(q), &again)
		abGetOK(t, b1.url(q), &other)
		if !reflect.DeepEqual(al, again) || !reflect.DeepEqual(al, other) {
			t.Fatalf("%s: three answers differ:\n%s\n%s\n%s (second replica)", q, abJSON(al), abJSON(again), abJSON(other))
		}
		first[seed] = al
	}
	for _, seed := range seeds[:5] {
		var one abAllocation
		abGetOK(t, b0.url(fmt.Sprintf("/allocate?models=a,b&seed=%d", seed)), &one)
		abCheckAllocation(t, one, cmp, 1) // n defaults to 1, the draw is next
	}

	b0.restart()
	for _, seed := range seeds {
		q := fmt.Sprintf("/allocate?models=a,b&n=777&seed=%d", seed)
		var al abAllocation
		abGetOK(t, b0.url(q), &al)
		if !reflect.DeepEqual(al, first[seed]) {
			t.Fatalf("%s after a restart:\n%s\nbefore:\n%s", q, abJSON(al), abJSON(first[seed]))
		}
	}

	// Without a seed, the answer says which one it drew.
	var drawn abAllocation
	raw := abGetOK(t, b1.url("/allocate?models=a,b&n=500"), &drawn)
	if _, ok := raw["seed"]; !ok {
		t.Fatalf("no seed in %s", abJSON(raw))
	}
	abCheckAllocation(t, drawn, cmp, 500)
	for _, p := range []*proc{b0, b1} {
		var again abAllocation
		abGetOK(t, p.url(fmt.Sprintf("/allocate?models=a,b&n=500&seed=%d", *drawn.Seed)), &again)
		if !reflect.DeepEqual(drawn, again) {
			t.Fatalf("seed %d asked again:\n%s\nfirst:\n%s", *drawn.Seed, abJSON(again), abJSON(drawn))
		}
	}
}

// TestABBadRequests: every bad input of the three endpoints is a JSON
// error with the contract's status, the event feed's before any stream.
func TestABBadRequests(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "b0")
	specs := []abModelSpec{
		{"a", "uniform", 20, [][2]int64{{3, 7}}},
		{"b", "uniform", 30, [][2]int64{{4, 6}}},
	}
	var eleven []string
	for i := range 11 {
		name := fmt.Sprintf("e%02d", i)
		eleven = append(eleven, name)
		specs = append(specs, abModelSpec{name, "uniform", 5 + i, [][2]int64{{int64(i), 1}}})
	}
	abFeed(t, s, bayes, specs...)

	// Ten models is the most, and allowed.
	var ten abCompare
	abGetOK(t, bayes.url("/compare?models="+strings.Join(eleven[:10], ",")), &ten)
	if len(ten.Models) != 10 || ten.Difference != nil {
		t.Fatalf("ten models: %s", abJSON(ten))
	}
	var sum float64
	for _, m := range ten.Models {
		sum += m.ProbBest
	}
	if !abClose(sum, 1) {
		t.Fatalf("ten models: prob_best sums to %v", sum)
	}
	var al abAllocation
	abGetOK(t, bayes.url("/allocate?models="+strings.Join(eleven[:10], ",")+"&n=10000&seed=9"), &al)
	if al.Draws != 10000 || len(al.Models) != 10 {
		t.Fatalf("ten models: %s", abJSON(al))
	}

	models := []struct {
		query string
		code  int
	}{
		{"", 400},
		{"models=", 400},
		{"models=a", 400},
		{"models=" + strings.Join(eleven, ","), 400},
		{"models=a,a", 400},
		{"models=a,b,a", 400},
		{"models=a,b.c", 400},
		{"models=a,b%21", 400},
		{"models=a,", 400},
		{"models=a,,b", 400},
		{"models=a," + strings.Repeat("x", 65), 400},
		{"models=a,nosuch", 404},
		{"models=nosuch,b", 404},
	}
	type badCase struct {
		path string
		code int
	}
	var cases []badCase
	for _, ep := range []string{"/compare", "/compare/events", "/allocate"} {
		for _, m := range models {
			cases = append(cases, badCase{ep + "?" + m.query, m.code})
		}
	}
	for _, ep := range []string{"/compare", "/compare/events"} {
		for _, p := range []string{"0", "1", "abc", "-0.5", "1.5", "NaN", "Inf", "-Inf"} {
			cases = append(cases, badCase{ep + "?models=a,b&prob=" + p, 400})
		}
	}
	for _, n := range []string{"0", "10001", "x", "-1", "1.5", "99999999999999999999"} {
		cases = append(cases, badCase{"/allocate?models=a,b&n=" + n, 400})
	}
	for _, seed := range []string{"-1", "abc", "9007199254740992", "18446744073709551616", "1.5"} {
		cases = append(cases, badCase{"/allocate?models=a,b&seed=" + seed, 400})
	}
	var wrong []string
	for _, c := range cases {
		code, raw, err := abGet(bayes.url(c.path))
		if err != nil {
			wrong = append(wrong, fmt.Sprintf("%v, want %d with a problem", err, c.code))
			continue
		}
		if code != c.code {
			wrong = append(wrong, fmt.Sprintf("GET %s: %d %.200s, want %d with a problem", c.path, code, raw, c.code))
		} else if msg := notAProblem(code, answerType(code), raw); msg != "" { // abGet checked the Content-Type
			wrong = append(wrong, fmt.Sprintf("GET %s: %d: %s", c.path, code, msg))
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("%d of %d bad requests answered wrongly:\n%s", len(wrong), len(cases), strings.Join(wrong, "\n"))
	}
	t.Logf("%d bad requests, each a problem with the contract's status", len(cases))
}
