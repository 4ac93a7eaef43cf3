package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// listed is the names of the live page's list of models, in order.
const listed = `[...document.querySelectorAll("#models tr")].map((tr) => tr.dataset.name).join(",")`

// The live page's list of models in a real browser, with more models than
// a page: the first page (default first, then by name), more pages on
// "more", a search by prefix, a search the page refuses, a model chosen
// from a search; then the notices of the followed model deleted, created
// again and reset.
func TestBrowserModelListPages(t *testing.T) {
	chrome := chromiumPath(t)
	api, bayes, diagnose := startPageSystem(t)

	// 120 models m000..m119 and two that sort before them; the page shows
	// 50 rows at a time.
	var all []string
	for _, n := range []string{"alpha", "beta"} {
		mustCall(t, http.MethodPost, api.url("/models/"+n+"/observations"), `{"w":1,"l":1}`, http.StatusCreated)
		all = append(all, n)
	}
	for i := range 120 {
		n := fmt.Sprintf("m%03d", i)
		mustCall(t, http.MethodPost, api.url("/models/"+n+"/observations"), fmt.Sprintf(`{"w":%d,"l":1}`, i%5), http.StatusCreated)
		all = append(all, n)
	}
	waitModel(t, bayes, "m119", 5) // one bayes applies the stream in order
	order := append([]string{"default"}, all...)

	b, console := openBrowser(t, chrome, diagnose)
	b.do(chromedp.EmulateViewport(1100, 900), chromedp.Navigate(bayes.url("/?model=default")))

	b.until(fmt.Sprintf(`%s === %q && !document.getElementById("models-more").hidden`, listed, strings.Join(order[:50], ",")),
		"the first page: default, alpha, beta, m000 to m046, and a more button")
	if got := b.text("models-count"); got != "50 models, more after these" {
		t.Errorf("#models-count = %q", got)
	}
	b.do(chromedp.Click(chromedp.ID("models-more")))
	b.until(fmt.Sprintf(`%s === %q`, listed, strings.Join(order[:100], ",")), "two pages after one click on more")
	b.do(chromedp.Click(chromedp.ID("models-more")))
	b.until(fmt.Sprintf(`%s === %q && document.getElementById("models-more").hidden`, listed, strings.Join(order, ",")),
		"every model after two clicks, and no more button")
	if got := b.text("models-count"); got != "123 models" {
		t.Errorf("#models-count = %q with every model shown", got)
	}
	// The list refreshes itself (every 4 s) with every row it shows: a new
	// count reaches the row of the last page.
	mustCall(t, http.MethodPost, api.url("/models/m118/observations"), `{"w":7,"l":0}`, http.StatusCreated)
	b.until(`document.querySelector('#models tr[data-name="m118"] td:nth-child(2)')?.textContent === "11"`,
		"m118's new n in the list, on its third page")
	if got := b.eval(listed); got != strings.Join(order, ",") {
		t.Errorf("after a refresh the list is %.200s…", got)
	}

	// A search: the names that start with it, from bayes (prefix=).
	search := func(text string) {
		b.eval(`document.getElementById("models-search").value = ""`)
		b.do(chromedp.SendKeys(chromedp.ID("models-search"), text))
	}
	search("m11")
	b.until(fmt.Sprintf(`%s === %q && document.getElementById("models-more").hidden`, listed,
		"m110,m111,m112,m113,m114,m115,m116,m117,m118,m119"), "the models starting with m11")
	if got := b.text("models-count"); got != `10 models starting with "m11"` {
		t.Errorf("#models-count = %q", got)
	}
	if got := b.eval(`[...document.querySelectorAll("#compare-picks input")].map((i) => i.value).join(",")`); !strings.HasPrefix(got, "m110,m111") {
		t.Errorf("the comparison's picker offers %q, not the models found", got)
	}
	search("de")
	b.until(fmt.Sprintf(`%s === "default"`, listed), "default alone starts with de")
	search("nothing")
	b.until(`document.getElementById("models-count").textContent === 'no model starting with "nothing"' && document.querySelectorAll("#models tr").length === 0`,
		"no model starts with nothing")
	search("a b")
	b.until(`document.getElementById("models-status").dataset.kind === "error" && document.getElementById("models-status").textContent.includes("1 to 64 letters")`,
		"the page refuses a search no name can match")
	search("m11")
	b.until(fmt.Sprintf(`%s.startsWith("m110,") && document.getElementById("models-status").textContent === ""`, listed), "the search fixed")

	// A model found by the search is followed like any other.
	b.do(chromedp.Click(chromedp.CSS(`#models a[href="?model=m115"]`)))
	b.until(`document.getElementById("model-name").textContent === "m115" && document.getElementById("plot").dataset.n === "1"`,
		"m115 followed, chosen from the search")
	b.fits800("the page with a searched list", "live-page-search-800px.png")

	// The followed model deleted: a notice, the view emptied; created
	// again by an observation: the page follows it again.
	mustCall(t, http.MethodDelete, api.url("/models/m115"), "", http.StatusAccepted)
	b.until(`!document.getElementById("model-notice").hidden && document.getElementById("model-notice").dataset.kind === "deleted" && document.getElementById("model-notice").textContent.includes("model deleted") && document.getElementById("n").textContent === "–"`,
		"the notice that m115 was deleted")
	saveArtifact(t, "live-page-deleted.png", b.screenshot())
	b.until(fmt.Sprintf(`%s === %q`, listed, "m110,m111,m112,m113,m114,m116,m117,m118,m119"), "m115 gone from the list")
	mustCall(t, http.MethodPost, api.url("/models/m115/observations"), `{"w":2,"l":2}`, http.StatusCreated)
	b.until(`document.getElementById("model-notice").dataset.kind === "created" && document.getElementById("n").textContent === "4" && document.getElementById("conn").dataset.state === "live"`,
		"m115 created again, n = 4")
	// Reset: a notice, and the counts back to 0.
	mustCall(t, http.MethodPost, api.url("/models/m115/reset"), "", http.StatusAccepted)
	b.until(`document.getElementById("model-notice").dataset.kind === "reset" && document.getElementById("model-notice").textContent.includes("model reset") && document.getElementById("n").textContent === "0"`,
		"the notice that m115 was reset, n = 0")

	if bad := console.problems(); len(bad) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(bad, "\n"))
	}
}

// The live page with API tokens on: a write without a token is answered
// 401 and the page asks for one (a form, not a dialog), sends the write
// again with it, keeps it in sessionStorage for the tab's other writes;
// a token without the scope gets the api's 403 detail shown; a token the
// api does not know is forgotten and asked for again.
func TestBrowserAPIToken(t *testing.T) {
	chrome := chromiumPath(t)
	const (
		writer = "w-token-0123456789abcdef"
		admin  = "a-token-0123456789abcdef"
	)
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# the page's tokens\npage observe,define "+writer+"\nops admin "+admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api, bayes, diagnose := startPageSystemWith(t, "API_TOKENS_FILE="+file)

	b, console := openBrowser(t, chrome, diagnose)
	b.do(chromedp.EmulateViewport(1100, 900), chromedp.Navigate(bayes.url("/?model=default")))
	b.until(`document.getElementById("plot").dataset.n === "0" && document.getElementById("token-form").hidden && document.getElementById("token-state").hidden`,
		"the page, with no token and no form")

	// A batch without a token: 401, the form.
	b.do(chromedp.SetValue(chromedp.ID("batch-w"), "3"), chromedp.SetValue(chromedp.ID("batch-l"), "1"),
		chromedp.Click(chromedp.ID("batch-submit")))
	b.until(`!document.getElementById("token-form").hidden && document.getElementById("status").textContent.startsWith("the api needs a token to record w=3 l=1") && document.activeElement?.id === "token-input"`,
		"the token form after the api's 401")
	if why := b.text("token-why"); !strings.Contains(why, "Authorization: Bearer") {
		t.Errorf("#token-why = %q: not the api's problem detail", why)
	}
	b.fits800("the page asking for a token", "live-page-token-800px.png")

	// A token without the observe scope: kept, the write sent again with
	// it, and the api's 403 detail shown.
	b.do(chromedp.SendKeys(chromedp.ID("token-input"), admin), chromedp.Click(chromedp.ID("token-submit")))
	b.until(`document.getElementById("token-form").hidden && !document.getElementById("token-state").hidden && document.getElementById("status").textContent.startsWith("the api refused w=3 l=1: 403 ")`,
		"the api's 403 for a token without the observe scope")
	if st := b.text("status"); !strings.Contains(st, "observe") {
		t.Errorf("#status = %q: the 403 detail does not name the scope", st)
	}

	// Forgotten; a token the api does not know: 401 again, and the page
	// says the api refused it.
	b.do(chromedp.Click(chromedp.ID("token-forget")))
	b.until(`document.getElementById("token-state").hidden && sessionStorage.getItem("edb-api-token") === null`, "the token forgotten")
	b.do(chromedp.Click(chromedp.ID("btn-w")))
	b.until(`!document.getElementById("token-form").hidden`, "the form again")
	b.do(chromedp.SendKeys(chromedp.ID("token-input"), "not-a-known-token-at-all"), chromedp.Click(chromedp.ID("token-submit")))
	b.until(`!document.getElementById("token-form").hidden && document.getElementById("token-why").textContent.startsWith("The api refused the token") && sessionStorage.getItem("edb-api-token") === null`,
		"an unknown token refused and forgotten")

	// The right token: the w recorded, the token kept for the next writes.
	b.do(chromedp.SendKeys(chromedp.ID("token-input"), writer), chromedp.Click(chromedp.ID("token-submit")))
	b.until(`document.getElementById("n").textContent === "1" && document.getElementById("status").textContent.startsWith("recorded w for default")`,
		"the w recorded with the token")
	b.do(chromedp.SetValue(chromedp.ID("batch-w"), "3"), chromedp.SetValue(chromedp.ID("batch-l"), "1"),
		chromedp.Click(chromedp.ID("batch-submit")))
	b.until(`document.getElementById("n").textContent === "5" && document.getElementById("token-form").hidden`, "a batch with the kept token")
	if got := b.eval(`sessionStorage.getItem("edb-api-token")`); got != writer {
		t.Errorf("sessionStorage holds %q", got)
	}
	// A definition goes with the token too.
	b.do(chromedp.SetValue(chromedp.ID("new-name"), "tokened"), chromedp.SetValue(chromedp.ID("new-prior"), "uniform"),
		chromedp.SetValue(chromedp.ID("new-grid"), "50"), chromedp.Click(chromedp.ID("new-submit")))
	b.until(`document.getElementById("new-status").textContent.startsWith("202")`, "a definition accepted with the token")
	waitModel(t, bayes, "tokened", 0)

	// The token is never shown: not in the page's text, not in the console.
	if text := b.eval(`document.body.innerText`); strings.Contains(text, writer) || strings.Contains(text, admin) {
		t.Errorf("the page shows a token")
	}
	if logs := console.String(); strings.Contains(logs, writer) || strings.Contains(logs, admin) {
		t.Errorf("the console shows a token")
	}
	if strings.Contains(api.logs(), writer) || strings.Contains(api.logs(), admin) {
		t.Errorf("the api's log shows a token")
	}
	if bad := console.problems("401 (Unauthorized)", "403 (Forbidden)"); len(bad) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(bad, "\n"))
	}
}

// startPageSystemWith is startPageSystem with more of the api's
// environment (e.g. API_TOKENS_FILE).
func startPageSystemWith(t *testing.T, apiEnv ...string) (api, bayes *proc, diagnose func() string) {
	t.Helper()
	srv := redistest.Start(t, redistest.WithAOF())
	apiPort, bayesPort := redistest.FreePort(t), redistest.FreePort(t)
	for apiPort == bayesPort {
		bayesPort = redistest.FreePort(t)
	}
	apiURL := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	pageOrigin := "http://127.0.0.1:" + strconv.Itoa(bayesPort)
	api = startProcAt(t, "api", "api", apiPort, append([]string{"REDIS_URL=" + srv.URL(), "CORS_ALLOW_ORIGINS=" + pageOrigin}, apiEnv...)...)
	bayes = startProcAt(t, "bayes-browser", "bayes", bayesPort,
		"REDIS_URL="+srv.URL(), "GRAPHS_DIR="+t.TempDir(), "CONSUMER_NAME=browser", "PRIOR=uniform",
		"API_PUBLIC_URL="+apiURL, "LIVE_POLL_INTERVAL=100ms", "LOG_LEVEL=debug")
	checkCORS(t, api, pageOrigin)
	return api, bayes, func() string {
		return "\n--- api log:\n" + api.logs() + "\n--- bayes log:\n" + bayes.logs()
	}
}
