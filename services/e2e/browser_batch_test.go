package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The live page's batch entry, posterior predictive and links in a real
// browser: a batch of counts recorded as one observation, the predictive
// of the next K tosses redrawn as the model changes and for a new K, each
// time what GET /models/{name}/predictive answers for the same state; bad
// batches refused by the page without a request, one the api refuses with
// its message shown; the CSV and PNG links served.
func TestBrowserBatchAndPredictive(t *testing.T) {
	chrome := chromiumPath(t)
	api, bayes, diagnose := startPageSystem(t)

	mustCall(t, http.MethodPost, api.url("/models/default/observations"), `{"w":6,"l":3}`, http.StatusCreated)
	waitForN(t, bayes, 9)

	b, console := openBrowser(t, chrome, diagnose)

	b.do(chromedp.EmulateViewport(1100, 900), chromedp.Navigate(bayes.url("/?model=default")))
	b.until(`document.getElementById("plot").dataset.n === "9" && document.getElementById("pred-plot").dataset.n === "9"`,
		"the model and its predictive at n = 9")
	predCheck(t, b, bayes, "default", 10, 9)

	// A batch: one event, n up by 5 and w by 3, the predictive redrawn.
	b.do(chromedp.SetValue(chromedp.ID("batch-w"), "3"),
		chromedp.SetValue(chromedp.ID("batch-l"), "2"),
		chromedp.Click(chromedp.ID("batch-submit")))
	b.until(`document.getElementById("n").textContent === "14" && document.getElementById("w").textContent === "9"`,
		"n from 9 to 14 and w from 6 to 9 after the batch w=3 l=2")
	if status := b.text("status"); !strings.HasPrefix(status, "recorded w=3 l=2 for default") {
		t.Errorf("#status = %q after the batch", status)
	}
	b.until(`document.getElementById("pred-plot").dataset.n === "14"`, "the predictive follows the model to n = 14")
	predCheck(t, b, bayes, "default", 10, 14)
	piCheck(t, b, bayes, "default")

	// Another K: typed, so the page sees what a user's keys do.
	b.do(chromedp.SetValue(chromedp.ID("pred-k"), ""), chromedp.SendKeys(chromedp.ID("pred-k"), "25"))
	b.until(`document.getElementById("pred-plot").dataset.trials === "25"`, "the predictive of the next 25 tosses")
	predCheck(t, b, bayes, "default", 25, 14)

	// K out of bayes' range: the page says so and keeps the chart it has.
	for _, k := range []string{"0", "1001", "2.5"} {
		b.do(chromedp.SetValue(chromedp.ID("pred-k"), ""), chromedp.SendKeys(chromedp.ID("pred-k"), k))
		b.until(`document.getElementById("pred-status").dataset.kind === "error" && document.getElementById("pred-status").textContent.includes("1 to 1000")`,
			"an error for "+k+" tosses")
		if got := b.eval(`document.getElementById("pred-plot").dataset.trials`); got != "25" {
			t.Errorf("K = %s: the chart is for %s tosses, want the last good 25", k, got)
		}
	}
	b.do(chromedp.SetValue(chromedp.ID("pred-k"), ""), chromedp.SendKeys(chromedp.ID("pred-k"), "25"))
	b.until(`document.getElementById("pred-status").textContent === ""`, "the error gone with a good K again")

	// A batch the api refuses (over its bound for a count): the page shows
	// the api's own message.
	msg := refusal(t, api, `{"w":1000000001,"l":0}`)
	b.do(chromedp.SetValue(chromedp.ID("batch-w"), "1000000001"),
		chromedp.SetValue(chromedp.ID("batch-l"), "0"),
		chromedp.Click(chromedp.ID("batch-submit")))
	b.until(fmt.Sprintf(`document.getElementById("status").textContent === %q`, "the api refused w=1000000001 l=0: 400 "+msg),
		"the api's message for a count over its bound")

	// Batches the page refuses: nothing reaches the api. The count of its
	// POSTs is read before, and after a good batch sent later. Each
	// message differs from the one before it, so each wait sees its own.
	posts0 := apiObservationPosts(t, api)
	for _, bad := range []struct{ w, l, says string }{
		{"0", "0", "both 0"},
		{"-1", "2", "w = -1: want a whole number"},
		{"", "", "both 0"},
		{"1", "1.5", "l = 1.5: want a whole number"},
	} {
		b.do(chromedp.SetValue(chromedp.ID("batch-w"), bad.w),
			chromedp.SetValue(chromedp.ID("batch-l"), bad.l),
			chromedp.Click(chromedp.ID("batch-submit")))
		b.until(fmt.Sprintf(`document.getElementById("status").dataset.kind === "error" && document.getElementById("status").textContent.includes(%q)`, bad.says),
			fmt.Sprintf("the page refuses w=%q l=%q", bad.w, bad.l))
	}
	b.do(chromedp.SetValue(chromedp.ID("batch-w"), "1"),
		chromedp.SetValue(chromedp.ID("batch-l"), ""),
		chromedp.Click(chromedp.ID("batch-submit")))
	b.until(`document.getElementById("n").textContent === "15" && document.getElementById("w").textContent === "10" && document.getElementById("status").textContent.startsWith("recorded w=1 l=0 for default")`,
		"one more water, from a batch with l left empty")
	if posts := apiObservationPosts(t, api); posts != posts0+1 {
		t.Errorf("the api served %v POSTs of observations for four refused batches and one good one, want 1", posts-posts0)
	}
	waitForN(t, bayes, 15)

	// The links: the posterior as CSV and the plot, from bayes.
	linkCheck(t, b, "csv-link", "default-posterior.csv", "text/csv; charset=utf-8", []byte("p,prior,posterior\n"))
	linkCheck(t, b, "png-link", "default.png", "image/png", []byte("\x89PNG\r\n\x1a\n"))

	b.fits800("the page with the predictive and the batch entry", "live-page-predictive-800px.png")

	// Another model: the links and the predictive (K stays 25) follow it.
	mustCall(t, http.MethodPut, api.url("/models/other"), `{"prior":"beta:2,2","grid_points":150}`, http.StatusAccepted)
	mustCall(t, http.MethodPost, api.url("/models/other/observations"), `{"w":2,"l":8}`, http.StatusCreated)
	waitModel(t, bayes, "other", 10)
	b.until(`document.querySelector('#models a[href="?model=other"]') !== null`, "other in the list of models")
	b.do(chromedp.Click(chromedp.CSS(`#models a[href="?model=other"]`)))
	b.until(`document.getElementById("model-name").textContent === "other" && document.getElementById("pred-plot").dataset.n === "10"`,
		"the predictive of other")
	predCheck(t, b, bayes, "other", 25, 10)
	linkCheck(t, b, "csv-link", "other-posterior.csv", "text/csv; charset=utf-8", []byte("p,prior,posterior\n"))

	if bad := console.problems("400 (Bad Request)"); len(bad) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(bad, "\n"))
	}
}

// refusal POSTs body as observations to the api, which must refuse it
// with a 400, and returns the message of its answer: the problem details'
// detail, or the error member of an answer that has no detail.
func refusal(t *testing.T, api *proc, body string) string {
	t.Helper()
	resp, err := client.Post(api.url("/models/default/observations"), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Detail *string `json:"detail"`
		Error  string  `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &p); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST %s: %s %s, want a 400 with a JSON body", body, resp.Status, raw)
	}
	if p.Detail != nil {
		return *p.Detail
	}
	return p.Error
}

// predictiveView is the answer of GET /models/{name}/predictive.
type predictiveView struct {
	Name     string    `json:"name"`
	W        int64     `json:"w"`
	N        int64     `json:"n"`
	Trials   int       `json:"trials"`
	PMF      []float64 `json:"pmf"`
	Mean     float64   `json:"mean"`
	Interval struct {
		Prob float64 `json:"prob"`
		Lo   int     `json:"lo"`
		Hi   int     `json:"hi"`
	} `json:"interval"`
}

// predShown is what the page's predictive shows.
type predShown struct {
	N, W, Trials, KShown                string
	Mean, Interval, IntervalLabel, Mode string
	Bars                                []struct {
		K     int     `json:"k"`
		P     float64 `json:"p"`
		Class string  `json:"class"`
	}
}

// predCheck checks that the page's predictive of the next trials tosses of
// model, at n observations, is GET /models/{name}/predictive's answer for
// the same state, within the page's rounding.
func predCheck(t *testing.T, b *browserRun, bayes *proc, model string, trials int, n int64) {
	t.Helper()
	raw := b.eval(`(() => {
		const svg = document.getElementById("pred-plot");
		const text = (id) => document.getElementById(id).textContent;
		return JSON.stringify({
			N: svg.dataset.n, W: svg.dataset.w, Trials: svg.dataset.trials, KShown: text("pred-k-shown"),
			Mean: text("pred-mean"), Interval: text("pred-interval"), IntervalLabel: text("pred-interval-label"), Mode: text("pred-mode"),
			Bars: [...svg.querySelectorAll("rect[data-k]")].map((r) => ({ k: Number(r.dataset.k), p: Number(r.dataset.p), class: r.getAttribute("class") })),
		});
	})()`)
	var s predShown
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatalf("reading the predictive: %v in %s", err, raw)
	}
	var want predictiveView
	url := bayes.url(fmt.Sprintf("/models/%s/predictive?trials=%d", model, trials))
	if code := call(t, http.MethodGet, url, "", &want); code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, code)
	}
	what := fmt.Sprintf("%s, %d tosses", model, trials)
	if want.N != n {
		t.Fatalf("%s: bayes has n = %d, the test expected %d (did something else write?)", what, want.N, n)
	}
	if s.N != strconv.FormatInt(want.N, 10) || s.W != strconv.FormatInt(want.W, 10) || s.Trials != strconv.Itoa(trials) || s.KShown != strconv.Itoa(trials) {
		t.Errorf("%s: the page's predictive is of n=%s w=%s for %s (%s shown) tosses, bayes has n=%d w=%d", what, s.N, s.W, s.Trials, s.KShown, want.N, want.W)
	}
	if len(s.Bars) != trials+1 || len(want.PMF) != trials+1 {
		t.Fatalf("%s: %d bars, the pmf has %d values, want %d", what, len(s.Bars), len(want.PMF), trials+1)
	}
	for k, bar := range s.Bars {
		if bar.K != k || math.Abs(bar.P-want.PMF[k]) > 1e-12 {
			t.Errorf("%s: bar %d is k=%d p=%v, bayes has p=%v", what, k, bar.K, bar.P, want.PMF[k])
		}
		inside := k >= want.Interval.Lo && k <= want.Interval.Hi
		if (bar.Class == "bar-in") != inside {
			t.Errorf("%s: bar %d is %q, the interval is %d to %d", what, k, bar.Class, want.Interval.Lo, want.Interval.Hi)
		}
	}
	shownAs(t, what+": mean", s.Mean, &want.Mean)
	if got := fmt.Sprintf("%d – %d", want.Interval.Lo, want.Interval.Hi); s.Interval != got {
		t.Errorf("%s: #pred-interval = %q, want %q", what, s.Interval, got)
	}
	if got := fmt.Sprintf("%.0f%% interval", want.Interval.Prob*100); s.IntervalLabel != got {
		t.Errorf("%s: #pred-interval-label = %q, want %q", what, s.IntervalLabel, got)
	}
	mode := 0
	for k, p := range want.PMF {
		if p > want.PMF[mode] {
			mode = k
		}
	}
	if k, _, _ := strings.Cut(s.Mode, " "); k != strconv.Itoa(mode) {
		t.Errorf("%s: #pred-mode = %q, the pmf is largest at %d", what, s.Mode, mode)
	}
}

// piCheck checks the summary's percentile interval against the model's
// answer; a bayes whose answer has none leaves the row hidden.
func piCheck(t *testing.T, b *browserRun, bayes *proc, model string) {
	t.Helper()
	var m struct {
		PI *struct {
			Prob float64 `json:"prob"`
			Lo   float64 `json:"lo"`
			Hi   float64 `json:"hi"`
		} `json:"pi"`
	}
	if code := call(t, http.MethodGet, bayes.url("/models/"+model), "", &m); code != http.StatusOK {
		t.Fatalf("GET /models/%s: %d", model, code)
	}
	hidden := b.eval(`String(document.getElementById("pi-row").hidden)`)
	if m.PI == nil {
		t.Logf("GET /models/%s has no pi yet: the page hides its row", model)
		if hidden != "true" {
			t.Errorf("#pi-row is shown, but the model's answer has no pi")
		}
		return
	}
	if hidden != "false" {
		t.Fatalf("#pi-row is hidden, but the model's answer has pi %+v", *m.PI)
	}
	lo, hi, ok := strings.Cut(b.text("pi"), " – ")
	if !ok {
		t.Fatalf("#pi = %q", b.text("pi"))
	}
	shownAs(t, "pi lo", lo, &m.PI.Lo)
	shownAs(t, "pi hi", hi, &m.PI.Hi)
	if got, want := b.text("pi-label"), fmt.Sprintf("%.0f%% PI", m.PI.Prob*100); got != want {
		t.Errorf("#pi-label = %q, want %q", got, want)
	}
}

// linkCheck fetches the link id of the page (as the browser resolves its
// href) and checks its download name, status, Content-Type and the start
// of its body.
func linkCheck(t *testing.T, b *browserRun, id, download, contentType string, prefix []byte) {
	t.Helper()
	href := b.eval(fmt.Sprintf(`document.getElementById(%q).href`, id))
	if got := b.eval(fmt.Sprintf(`document.getElementById(%q).download`, id)); got != download {
		t.Errorf("#%s downloads as %q, want %q", id, got, download)
	}
	resp, err := client.Get(href)
	if err != nil {
		t.Fatalf("#%s: GET %s: %v", id, href, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != contentType || !bytes.HasPrefix(body, prefix) {
		t.Errorf("#%s: GET %s: %s, Content-Type %q, body %.60q; want 200, %q, starting %q",
			id, href, resp.Status, resp.Header.Get("Content-Type"), body, contentType, prefix)
	}
}

// apiObservationPosts is how many POSTs of observations the api has
// answered, whatever the answer, from its request counter.
func apiObservationPosts(t *testing.T, api *proc) float64 {
	t.Helper()
	resp, err := client.Get(api.url("/metrics"))
	if err != nil {
		t.Fatalf("GET /metrics on the api: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "edb_api_http_requests_total{") ||
			!strings.Contains(line, `method="POST"`) || !strings.Contains(line, `route="/models/:name/observations"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}
