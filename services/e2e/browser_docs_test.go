package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The API docs pages in a real browser: /docs on api and on bayes renders
// the service's own OpenAPI document with the embedded Swagger UI, every
// path and operation of the document is on the page and opens with its
// parameters and answers, "Try it out" reaches the service (connect-src
// 'self'), and the console has no error, so no Content-Security-Policy
// violation either.
func TestBrowserDocs(t *testing.T) {
	chrome := chromiumPath(t)
	api, bayes, diagnose := startPageSystem(t)
	docs, err := openAPIDocs()
	if err != nil {
		t.Fatal(err)
	}

	b, console := openBrowser(t, chrome, diagnose)
	b.do(chromedp.EmulateViewport(1200, 900))

	for _, svc := range []struct {
		bin   string
		p     *proc
		title string
	}{
		{"api", api, "event-driven-bayes api"},
		{"bayes", bayes, "event-driven-bayes bayes"},
	} {
		// The document served is the one in the source tree (and the
		// transport checks this exchange against it, too).
		served := getBody(t, svc.p.url("/openapi.json"))
		source, err := os.ReadFile(filepath.Join("..", svc.bin, "ports", "httpapi", "openapi.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(served, source) {
			t.Errorf("%s serves a /openapi.json of %d bytes that is not its source's %d", svc.bin, len(served), len(source))
		}

		ops := docs[svc.bin].Operations()
		var paths []string
		for _, op := range ops {
			if !slices.Contains(paths, op.Path) {
				paths = append(paths, op.Path)
			}
		}
		b.do(chromedp.Navigate(svc.p.url("/docs")))
		b.until(fmt.Sprintf(`document.querySelectorAll(".opblock").length === %d`, len(ops)),
			fmt.Sprintf("Swagger UI shows the %d operations of %s's document", len(ops), svc.bin))
		if got := b.eval(`document.querySelector(".info .title")?.textContent ?? ""`); !strings.HasPrefix(got, svc.title) {
			t.Errorf("%s /docs: title %q, want %q", svc.bin, got, svc.title)
		}
		var shown []string
		if err := json.Unmarshal([]byte(b.eval(`JSON.stringify([...document.querySelectorAll(".opblock-summary-path")].map((e) => e.dataset.path))`)), &shown); err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if !slices.Contains(shown, p) {
				t.Errorf("%s /docs does not show the path %s (shown: %q)", svc.bin, p, shown)
			}
		}
		for _, op := range ops {
			sel := fmt.Sprintf(`.opblock-%s .opblock-summary-path[data-path=%q]`, strings.ToLower(op.Method), op.Path)
			if b.eval(fmt.Sprintf(`String(document.querySelector(%q) !== null)`, sel)) != "true" {
				t.Errorf("%s /docs does not show the operation %s", svc.bin, op)
			}
		}

		// Every operation opened: its parameters, answers and schemas are
		// rendered, which is where a renderer meets the document's JSON
		// Schema 2020-12 (type arrays, const, oneOf).
		b.eval(`document.querySelectorAll(".opblock-summary-control").forEach((c) => c.click()); "opened"`)
		b.until(fmt.Sprintf(`document.querySelectorAll(".opblock.is-open .responses-wrapper").length === %d`, len(ops)),
			fmt.Sprintf("every operation of %s open with its answers", svc.bin))

		// "Try it out" on GET /healthz: the page calls the service itself.
		b.eval(`document.querySelector("#operations-operations-healthz .try-out__btn").click(); "try"`)
		b.until(`document.querySelector("#operations-operations-healthz .execute") !== null`, "the Execute button")
		b.eval(`document.querySelector("#operations-operations-healthz .execute").click(); "execute"`)
		b.until(`document.querySelector("#operations-operations-healthz .live-responses-table tbody .response-col_status")?.textContent.trim() === "200"`,
			fmt.Sprintf("Try it out: GET /healthz on %s answers 200 in the page", svc.bin))

		saveArtifact(t, "docs-"+svc.bin+".png", b.screenshot())
	}

	if bad := console.problems(); len(bad) > 0 {
		t.Errorf("the docs pages reported problems:\n%s", strings.Join(bad, "\n"))
	}
	if all := console.String(); strings.Contains(all, "Content Security Policy") || strings.Contains(all, "Content-Security-Policy") {
		t.Errorf("the docs pages ran into their CSP:%s", all)
	}
}

// getBody reads url and fails the test unless the answer is 200.
func getBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return b
}
