package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The live page's comparison in a real browser: two models picked, their
// chance to be best, expected loss, the difference and the uplift as GET
// /compare answers them, a change to one model reaching the page through
// the comparison feed, A and B swapped, a third model, and the feed closed
// again when fewer than two remain.
func TestBrowserCompareView(t *testing.T) {
	chrome := chromiumPath(t)
	api, bayes, diagnose := startPageSystem(t)

	// Two variants on the same grid and a third on another, so the page
	// meets both kinds of difference lattice bayes builds.
	mustCall(t, http.MethodPut, api.url("/models/ctl"), `{"prior":"uniform","grid_points":101}`, http.StatusAccepted)
	mustCall(t, http.MethodPut, api.url("/models/var"), `{"prior":"uniform","grid_points":101}`, http.StatusAccepted)
	mustCall(t, http.MethodPut, api.url("/models/third"), `{"prior":"beta:2,2","grid_points":150}`, http.StatusAccepted)
	mustCall(t, http.MethodPost, api.url("/models/ctl/observations"), `{"w":10,"l":90}`, http.StatusCreated)
	mustCall(t, http.MethodPost, api.url("/models/var/observations"), `{"w":15,"l":85}`, http.StatusCreated)
	mustCall(t, http.MethodPost, api.url("/models/third/observations"), `{"w":6,"l":44}`, http.StatusCreated)
	waitModel(t, bayes, "ctl", 100)
	waitModel(t, bayes, "var", 100)
	waitModel(t, bayes, "third", 50)

	b, console := openBrowser(t, chrome, diagnose)

	b.do(chromedp.EmulateViewport(1100, 900), chromedp.Navigate(bayes.url("/?model=ctl")))
	b.until(`["ctl", "var", "third"].every((n) => document.getElementById("compare-pick-" + n))`,
		"a checkbox for every model in the comparison's picker")
	if st := b.eval(`document.getElementById("compare-conn").dataset.state`); st != "idle" {
		t.Errorf("#compare-conn is %q with nothing picked, want idle", st)
	}

	// One model is not a comparison: no feed, no difference.
	b.do(chromedp.Click(chromedp.ID("compare-pick-ctl")))
	b.until(`document.querySelectorAll("#compare-rows tr").length === 1 && document.getElementById("compare-conn").dataset.state === "idle"`,
		"one row and no feed with one model picked")

	// Two: ctl is A, var is B.
	b.do(chromedp.Click(chromedp.ID("compare-pick-var")))
	b.until(cvShows(map[string]int64{"ctl": 100, "var": 100}, true), "ctl and var compared, n = 100 each, with their difference")
	cmp := cvGet(t, bayes, "ctl,var")
	first := cvRead(b)
	cvCheck(t, "ctl,var", first, cmp)
	if got := b.eval(`location.search`); !strings.Contains(got, "compare=ctl,var") {
		t.Errorf("the address does not carry the comparison: %q", got)
	}
	if got := b.text("compare-diff-names"); got != "p(var) − p(ctl)" {
		t.Errorf("#compare-diff-names = %q", got)
	}
	if d := b.eval(`document.getElementById("compare-diff-line")?.getAttribute("d") ?? ""`); strings.Count(d, "L") < 10 {
		t.Errorf("the difference's curve has too few points: %.80q", d)
	}
	shot := b.screenshot()
	saveArtifact(t, "compare-view.png", shot)
	if os.Getenv("EDB_UPDATE_SCREENSHOT") == "1" {
		docs := filepath.Join("..", "..", "docs", "compare-view.png")
		if err := os.WriteFile(docs, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", docs)
	}

	// Live: more observations for ctl reach the open page.
	mustCall(t, http.MethodPost, api.url("/models/ctl/observations"), `{"w":12,"l":38}`, http.StatusCreated)
	waitModel(t, bayes, "ctl", 150)
	b.until(cvShows(map[string]int64{"ctl": 150, "var": 100}, true), "the page follows ctl to n = 150 without a reload")
	cmp = cvGet(t, bayes, "ctl,var")
	later := cvRead(b)
	cvCheck(t, "ctl,var after 50 more for ctl", later, cmp)
	if later.Rows[0].ProbBest == first.Rows[0].ProbBest {
		t.Errorf("ctl's chance to be best still reads %s after 12 waters in 50 more", later.Rows[0].ProbBest)
	}

	// Swapped: var is A, and the difference changes sign.
	b.do(chromedp.Click(chromedp.ID("compare-swap")))
	b.until(`document.querySelector("#compare-rows tr")?.dataset.name === "var" && `+cvShows(map[string]int64{"ctl": 150, "var": 100}, true),
		"var first after the swap")
	cvCheck(t, "var,ctl", cvRead(b), cvGet(t, bayes, "var,ctl"))

	// Three models: every chance to be best, no difference.
	b.do(chromedp.Click(chromedp.ID("compare-pick-third")))
	b.until(cvShows(map[string]int64{"var": 100, "ctl": 150, "third": 50}, false), "three models compared")
	three := cvRead(b)
	cvCheck(t, "var,ctl,third", three, cvGet(t, bayes, "var,ctl,third"))
	var sum float64
	for _, r := range three.Rows {
		lo, hi, err := shownRange(r.ProbBest)
		if err != nil {
			t.Fatalf("%s: chance to be best %q: %v", r.Name, r.ProbBest, err)
		}
		sum += (lo + hi) / 2
	}
	if math.Abs(sum-1) > 0.002 {
		t.Errorf("the chances to be best shown add up to %.4f", sum)
	}

	b.fits800("the page with three models compared", "compare-view-800px.png")

	// Back under two: the feed closes and the view says so.
	// One click at a time, each awaited as a user would: a click computes
	// where its target is, and the view growing or shrinking under it
	// (rows arriving) would move the target away.
	b.do(chromedp.Click(chromedp.ID("compare-pick-var")))
	b.until(cvShows(map[string]int64{"ctl": 150, "third": 50}, true), "ctl and third compared")
	b.do(chromedp.Click(chromedp.ID("compare-pick-third")))
	b.until(`document.getElementById("compare-conn").dataset.state === "idle" && document.querySelectorAll("#compare-rows tr").length === 1 && document.getElementById("compare-diff").hidden`,
		"one model left, the comparison closed")
	if got := b.eval(`location.search`); !strings.Contains(got, "compare=ctl") || strings.Contains(got, "var") {
		t.Errorf("the address after unpicking: %q", got)
	}

	// A comparison of a model that does not exist yet, from the address:
	// bayes refuses the feed (404), the page says why and tries again until
	// the model is there.
	b.do(chromedp.Navigate(bayes.url("/?model=ctl&compare=ctl,later")))
	b.until(`document.getElementById("compare-conn").dataset.state === "error" && document.getElementById("compare-conn").textContent.includes("later")`,
		"the page says why bayes refused to compare with a model that does not exist")
	mustCall(t, http.MethodPut, api.url("/models/later"), `{"prior":"uniform","grid_points":101}`, http.StatusAccepted)
	mustCall(t, http.MethodPost, api.url("/models/later/observations"), `{"w":3,"l":7}`, http.StatusCreated)
	b.until(cvShows(map[string]int64{"ctl": 150, "later": 10}, true), "the comparison once the model exists")
	cvCheck(t, "ctl,later", cvRead(b), cvGet(t, bayes, "ctl,later"))

	// Read before bayes is restarted below: the feed's refused connections
	// while it is down are what the restart causes.
	if bad := console.problems(); len(bad) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(bad, "\n"))
	}

	// bayes restarted under the open page: the feed reconnects by itself
	// and goes on.
	bayes.restart()
	mustCall(t, http.MethodPost, api.url("/models/later/observations"), `{"w":1,"l":1}`, http.StatusCreated)
	b.until(cvShows(map[string]int64{"ctl": 150, "later": 12}, true)+` && document.getElementById("compare-conn").dataset.state === "live"`,
		"the comparison live again after bayes restarted")
	cvCheck(t, "ctl,later after a restart", cvRead(b), cvGet(t, bayes, "ctl,later"))

	// default has no observations: its uniform prior keeps mass at p = 0,
	// so any uplift over it is unbounded, which bayes answers as null and
	// the page shows as ∞, with a note saying why.
	b.do(chromedp.Click(chromedp.ID("compare-clear")))
	b.until(`document.querySelectorAll("#compare-rows tr").length === 0 && document.getElementById("compare-conn").dataset.state === "idle"`, "the comparison cleared")
	b.do(chromedp.Click(chromedp.ID("compare-pick-default")))
	b.until(`document.querySelectorAll("#compare-rows tr").length === 1`, "default picked")
	b.do(chromedp.Click(chromedp.ID("compare-pick-later")))
	b.until(cvShows(map[string]int64{"default": 0, "later": 12}, true), "later compared with default")
	cmp = cvGet(t, bayes, "default,later")
	if cmp.Uplift == nil || cmp.Uplift.Mean != nil {
		t.Fatalf("/compare?models=default,later: the uplift's mean should be null (infinite): %+v", cmp.Uplift)
	}
	cvCheck(t, "default,later", cvRead(b), cmp)
	if b.eval(`String(document.getElementById("compare-uplift-note").hidden)`) != "false" {
		t.Errorf("no note says why the uplift is infinite")
	}
}

// startPageSystem starts redis-server, the api and bayes the way the live
// page runs in production: bayes serves the page, the api is another
// origin that allows bayes' (CORS). Each must know the other's address
// before it starts. diagnose returns both logs.
func startPageSystem(t *testing.T) (api, bayes *proc, diagnose func() string) {
	t.Helper()
	return startPageSystemWith(t) // browser_paging_test.go
}

func cvGet(t *testing.T, bayes *proc, models string) abCompare {
	t.Helper()
	var a abCompare
	if code := call(t, http.MethodGet, bayes.url("/compare?models="+models), "", &a); code != http.StatusOK {
		t.Fatalf("GET /compare?models=%s: %d", models, code)
	}
	return a
}

// cvView is what the comparison shows, as text.
type cvView struct {
	Rows []struct {
		Name         string `json:"name"`
		N            string `json:"n"`
		W            string `json:"w"`
		Mean         string `json:"mean"`
		ProbBest     string `json:"prob_best"`
		ExpectedLoss string `json:"expected_loss"`
	} `json:"rows"`
	DiffHidden     bool   `json:"diffHidden"`
	DiffMean       string `json:"diffMean"`
	DiffHPDI       string `json:"diffHPDI"`
	DiffHPDILabel  string `json:"diffHPDILabel"`
	UpliftMean     string `json:"upliftMean"`
	UpliftMedian   string `json:"upliftMedian"`
	UpliftInterval string `json:"upliftInterval"`
}

func cvRead(b *browserRun) cvView {
	b.t.Helper()
	raw := b.eval(`(() => {
		const text = (id) => document.getElementById(id).textContent;
		const cell = (tr, f) => tr.querySelector('[data-field="' + f + '"]').textContent;
		return JSON.stringify({
			rows: [...document.querySelectorAll("#compare-rows tr")].map((tr) => ({
				name: tr.dataset.name, n: cell(tr, "n"), w: cell(tr, "w"), mean: cell(tr, "mean"),
				prob_best: cell(tr, "prob_best"), expected_loss: cell(tr, "expected_loss"),
			})),
			diffHidden: document.getElementById("compare-diff").hidden,
			diffMean: text("compare-diff-mean"), diffHPDI: text("compare-diff-hpdi"), diffHPDILabel: text("compare-diff-hpdi-label"),
			upliftMean: text("compare-uplift-mean"), upliftMedian: text("compare-uplift-median"), upliftInterval: text("compare-uplift-interval"),
		});
	})()`)
	var v cvView
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		b.t.Fatalf("reading the comparison: %v in %s", err, raw)
	}
	return v
}

// cvShows is a condition on the page: the comparison's rows are these
// models with these n (in any order), and the difference is shown or not.
func cvShows(n map[string]int64, diff bool) string {
	var conds []string
	for name, want := range n {
		conds = append(conds, fmt.Sprintf(`document.querySelector('#compare-rows tr[data-name="%s"]')?.dataset.n === "%d"`, name, want))
	}
	conds = append(conds, fmt.Sprintf(`document.querySelectorAll("#compare-rows tr").length === %d`, len(n)))
	conds = append(conds, fmt.Sprintf(`document.getElementById("compare-diff").hidden === %t`, !diff))
	if diff {
		conds = append(conds, `document.getElementById("compare-diff-mean").textContent !== "–"`)
	}
	return "(" + strings.Join(conds, " && ") + ")"
}

// cvCheck compares what the page shows with GET /compare's answer for the
// same state, within the page's rounding.
func cvCheck(t *testing.T, what string, v cvView, a abCompare) {
	t.Helper()
	if len(v.Rows) != len(a.Models) {
		t.Fatalf("%s: the page shows %d rows, /compare has %d models", what, len(v.Rows), len(a.Models))
	}
	for i, m := range a.Models {
		r := v.Rows[i]
		if r.Name != m.Name || r.N != strconv.FormatInt(m.N, 10) || r.W != strconv.FormatInt(m.W, 10) {
			t.Errorf("%s: row %d shows %s n=%s w=%s, /compare has %s n=%d w=%d", what, i, r.Name, r.N, r.W, m.Name, m.N, m.W)
		}
		shownAs(t, what+": "+m.Name+" mean", r.Mean, &m.Mean)
		shownAs(t, what+": "+m.Name+" chance to be best", r.ProbBest, &m.ProbBest)
		shownAs(t, what+": "+m.Name+" expected loss", r.ExpectedLoss, &m.ExpectedLoss)
	}
	if len(a.Models) != 2 {
		if !v.DiffHidden {
			t.Errorf("%s: the difference is shown for %d models", what, len(a.Models))
		}
		return
	}
	if a.Difference == nil || a.Uplift == nil {
		t.Fatalf("%s: /compare of two models has no difference or uplift", what)
	}
	if v.DiffHidden {
		t.Fatalf("%s: the difference is hidden for two models", what)
	}
	d, u := a.Difference, a.Uplift
	shownAs(t, what+": difference mean", v.DiffMean, &d.Mean)
	if lo, hi, ok := strings.Cut(v.DiffHPDI, " to "); !ok {
		t.Errorf("%s: #compare-diff-hpdi = %q", what, v.DiffHPDI)
	} else {
		shownAs(t, what+": difference HPDI lo", lo, &d.HPDI.Lo)
		shownAs(t, what+": difference HPDI hi", hi, &d.HPDI.Hi)
	}
	if want := fmt.Sprintf("%.0f%% HPDI", d.HPDI.Prob*100); v.DiffHPDILabel != want {
		t.Errorf("%s: #compare-diff-hpdi-label = %q, want %q", what, v.DiffHPDILabel, want)
	}
	shownAs(t, what+": uplift mean", v.UpliftMean, u.Mean)
	shownAs(t, what+": uplift median", v.UpliftMedian, u.Median)
	if lo, hi, ok := strings.Cut(v.UpliftInterval, " to "); !ok {
		t.Errorf("%s: #compare-uplift-interval = %q", what, v.UpliftInterval)
	} else {
		shownAs(t, what+": uplift interval lo", lo, u.Interval.Lo)
		shownAs(t, what+": uplift interval hi", hi, u.Interval.Hi)
	}
}

// shownAs checks that text, as the page writes numbers, stands for want
// (nil: infinite, which the page writes as ∞).
func shownAs(t *testing.T, what, text string, want *float64) {
	t.Helper()
	lo, hi, err := shownRange(text)
	if err != nil {
		t.Errorf("%s: %q: %v", what, text, err)
		return
	}
	w := math.Inf(1)
	if want != nil {
		w = *want
	}
	if !(w >= lo && w <= hi) {
		t.Errorf("%s: the page shows %q, /compare has %v", what, text, w)
	}
}

// shownRange is the range of values text stands for, as the page writes
// numbers: rounded to the decimals shown, a typographic minus, a plus
// sign, a percent sign, "<0.1%" and ">99.9%" for the ends of a
// probability, ∞ for an infinite value.
func shownRange(text string) (lo, hi float64, err error) {
	s := strings.TrimSpace(text)
	if s == "∞" {
		return math.Inf(1), math.Inf(1), nil
	}
	scale := 1.0
	if rest, ok := strings.CutSuffix(s, "%"); ok {
		s, scale = rest, 0.01
	}
	s = strings.TrimPrefix(strings.ReplaceAll(s, "−", "-"), "+")
	bound := ""
	if s != "" && (s[0] == '<' || s[0] == '>') {
		bound, s = s[:1], s[1:]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("not a number as the page writes one")
	}
	const slack = 1e-9
	switch bound {
	case "<":
		return math.Inf(-1), v * scale, nil
	case ">":
		return v * scale, math.Inf(1), nil
	}
	half := 0.0
	if _, frac, ok := strings.Cut(s, "."); ok {
		half = 0.5 * math.Pow(10, -float64(len(frac)))
	} else {
		half = 0.5
	}
	return (v-half)*scale - slack, (v+half)*scale + slack, nil
}
