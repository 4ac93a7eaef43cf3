package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The live page in a real browser: Debian's chromium, headless, driven over
// the DevTools protocol. The page is served by bayes and sends observations
// to the api, another origin, as it does in production.
func TestBrowserLivePage(t *testing.T) {
	chrome := chromiumPath(t)

	api, bayes, diagnose := startPageSystem(t)

	// Some knowledge already, so the posterior has a shape worth drawing.
	mustCall(t, http.MethodPost, api.url("/models/default/observations"), `{"w":6,"l":3}`, http.StatusCreated)
	waitForN(t, bayes, 9)

	b, console := openBrowser(t, chrome, diagnose)

	b.do(chromedp.EmulateViewport(1100, 900), chromedp.Navigate(bayes.url("/?model=default")))
	b.until(`document.getElementById("plot").dataset.n === "9"`, "the page shows the model with n = 9")
	n0 := b.text("n")
	curve0 := b.eval(`document.getElementById("posterior-line").getAttribute("d")`)
	mean0 := b.float(`document.getElementById("plot").dataset.mean`)

	for range 3 {
		b.do(chromedp.Click(chromedp.ID("btn-w")))
	}
	b.until(`document.getElementById("n").textContent === "12"`, fmt.Sprintf("n goes from %s to 12 after three clicks on w", n0))
	if w := b.text("w"); w != "9" {
		t.Errorf("#w = %q after 6 + 3 waters", w)
	}
	if curve := b.eval(`document.getElementById("posterior-line").getAttribute("d")`); curve == curve0 || curve == "" {
		t.Errorf("the posterior curve did not change: %.80q", curve)
	}
	if mean := b.float(`document.getElementById("plot").dataset.mean`); !(mean > mean0) {
		t.Errorf("the posterior mean went from %g to %g after three waters", mean0, mean)
	}
	if status := b.text("status"); !strings.HasPrefix(status, "recorded w for default") {
		t.Errorf("#status = %q", status)
	}

	b.fits800("the page", "live-page-800px.png")

	// Defining a model from the page: accepted, the same again, a conflict.
	b.do(chromedp.SetValue(chromedp.ID("new-name"), "variant-b"),
		chromedp.SetValue(chromedp.ID("new-prior"), "beta:2,2"),
		chromedp.SetValue(chromedp.ID("new-grid"), "200"),
		chromedp.Click(chromedp.ID("new-submit")))
	b.until(`document.getElementById("new-status").textContent.startsWith("202")`, "202 for a new model")
	b.until(`document.getElementById("model-name").textContent === "variant-b" && document.getElementById("plot").dataset.n === "0"`,
		"the page follows the new model once bayes has created it")
	b.do(chromedp.Click(chromedp.ID("new-submit")))
	b.until(`document.getElementById("new-status").textContent.startsWith("200")`, "200 for the same definition")
	b.do(chromedp.SetValue(chromedp.ID("new-prior"), "uniform"), chromedp.Click(chromedp.ID("new-submit")))
	b.until(`document.getElementById("new-status").textContent.startsWith("409")`, "409 for another definition")
	b.do(chromedp.Click(chromedp.ID("btn-l")))
	b.until(`document.getElementById("n").textContent === "1" && document.getElementById("w").textContent === "0"`, "an l for variant-b")
	mustCall(t, http.MethodPost, api.url("/models/variant-b/observations"), `{"w":4,"l":9}`, http.StatusCreated)

	// Back to the default model through the list, on a fresh page, for the
	// screenshot.
	b.do(chromedp.Navigate(bayes.url("/#default")))
	b.until(`document.getElementById("plot").dataset.n === "12" && document.querySelectorAll("#models tr").length === 2 && document.getElementById("models").textContent.includes("14")`,
		"the default model and both rows of the list")
	png := b.screenshot()
	saveArtifact(t, "live-page.png", png)
	if os.Getenv("EDB_UPDATE_SCREENSHOT") == "1" {
		docs := filepath.Join("..", "..", "docs", "live-page.png")
		if err := os.MkdirAll(filepath.Dir(docs), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docs, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", docs)
	}

	// Read before bayes is stopped below: the page's feed then retries, and
	// its refused connection is what the stop causes, not a fault of the
	// page (which of the two came first was a race).
	if bad := console.problems(); len(bad) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(bad, "\n"))
	}

	// An open page must not hold up a stop: its feed ends when bayes
	// shuts down. Were it held up, the HTTP server's Shutdown would run out
	// of its time (half of SHUTDOWN_TIMEOUT, 10 s by default) and bayes
	// would exit 1: the exit status tells, not a bound on how long the stop
	// took, which a loaded machine once overran.
	took, err := bayes.terminate(8 * time.Second)
	if err != nil {
		t.Errorf("SIGTERM with the page open: bayes exited after %s: %v%s", took, err, diagnose())
	}
}

// chromiumPath finds Debian's chromium. Without one the test is skipped,
// unless EDB_REQUIRE_BROWSER=1 (CI) makes that a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("EDB_REQUIRE_BROWSER") == "1" {
		t.Fatal("EDB_REQUIRE_BROWSER=1 but there is no chromium (apt-get install chromium)")
	}
	t.Skip("no chromium; set EDB_REQUIRE_BROWSER=1 to make this a failure")
	return ""
}

// saveArtifact writes a screenshot where CI collects it (EDB_ARTIFACTS_DIR)
// or to the test's temporary directory, and names it in the test output.
func saveArtifact(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("EDB_ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// checkCORS asks the api what a browser asks before the page's POST, so a
// missing CORS setting fails here with a plain message rather than as a
// page that never updates.
func checkCORS(t *testing.T, api *proc, origin string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, api.url("/models/default/observations"), nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	allowed := resp.Header.Get("Access-Control-Allow-Origin")
	if allowed != origin && allowed != "*" {
		t.Fatalf("the api does not allow the page's origin %s (CORS_ALLOW_ORIGINS): preflight %s, Access-Control-Allow-Origin %q",
			origin, resp.Status, allowed)
	}
}

// openBrowser starts a headless chromium for the test (newBrowser) with its
// console watched; the run's failures print the console and diagnose.
func openBrowser(t *testing.T, exe string, diagnose func() string) (*browserRun, *consoleLog) {
	t.Helper()
	ctx := newBrowser(t, exe)
	console := watchConsole(t, ctx)
	return &browserRun{t: t, ctx: ctx, diagnose: func() string { return console.String() + diagnose() }}, console
}

// newBrowser starts a headless chromium for the test and returns the
// context of its one tab; the browser ends with the test.
func newBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelTab)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel)
	// Start the browser now, so that a browser that cannot start fails here.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx
}

// consoleLog keeps what the page wrote to the console, its uncaught
// exceptions and the browser's log (where CSP violations go).
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func watchConsole(t *testing.T, ctx context.Context) *consoleLog {
	t.Helper()
	c := &consoleLog{}
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		chromedp.Cancel(ctx) //nolint:errcheck // the browser is going away anyway
		<-done
	})
	return c
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	b.WriteString("\n--- browser console:\n")
	for _, m := range c.msgs {
		fmt.Fprintf(&b, "%s (%s:%d)\n", m, m.URL, m.Line)
	}
	return b.String()
}

// problems are exceptions and errors, except the ones the test causes on
// purpose: the api's 409 and bayes' 404 for a model being created, and
// any message containing one of expected (e.g. "400 (Bad Request)" for a
// test that sends what the api refuses).
func (c *consoleLog) problems(expected ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m.Type != chromedp.ConsoleException && m.Type != chromedp.ConsoleError {
			continue
		}
		if strings.Contains(m.Text, "409 (Conflict)") || strings.Contains(m.Text, "404 (Not Found)") ||
			slices.ContainsFunc(expected, func(e string) bool { return strings.Contains(m.Text, e) }) {
			continue
		}
		out = append(out, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
	}
	return out
}

// browserRun runs actions in the tab and fails the test, with the logs,
// when one fails.
type browserRun struct {
	t        *testing.T
	ctx      context.Context
	diagnose func() string
}

func (b *browserRun) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v%s", err, b.diagnose())
	}
}

func (b *browserRun) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v%s", expr, err, b.diagnose())
	}
	return v
}

func (b *browserRun) text(id string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

func (b *browserRun) float(expr string) float64 {
	b.t.Helper()
	s := b.eval(expr)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		b.t.Fatalf("%s = %q: not a number", expr, s)
	}
	return f
}

// until polls a JavaScript condition in the page until it holds, for at
// most 30 s; on a timeout it shows what the page says.
func (b *browserRun) until(cond, what string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](
			`["n", "w", "conn", "status", "new-status", "models-status"].map(id => id + ": " + document.getElementById(id)?.textContent).join("\n")`))
		b.t.Fatalf("waiting for %s: %v\n--- page:\n%s%s", what, err, page, b.diagnose())
	}
}

// fits800 checks that the page, showing what, fits an 800 px wide window
// (no horizontal scrolling), saves a screenshot of it as artifact, and
// returns to the 1100 px window the tests use.
func (b *browserRun) fits800(what, artifact string) {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(800, 900))
	if b.eval(`String(document.documentElement.scrollWidth <= innerWidth)`) != "true" {
		b.t.Errorf("%s is wider than an 800 px window: %s", what, b.eval(`String(document.documentElement.scrollWidth)`))
	}
	saveArtifact(b.t, artifact, b.screenshot())
	b.do(chromedp.EmulateViewport(1100, 900))
}

func (b *browserRun) screenshot() []byte {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	return png
}
