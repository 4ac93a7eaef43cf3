package apidocs_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

const spec = `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{}}`

func newDocs(t *testing.T) *apidocs.Docs {
	t.Helper()
	d, err := apidocs.New(`t <&> "docs"`, apidocs.SpecPath, []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// serve runs one request against a handler the way the services mount it.
func serve(h http.HandlerFunc, method, target string, header http.Header) *http.Response {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The embedded renderer is exactly the npm package the lock file pins:
// update-assets.sh records the lock file's integrity (npm ci checked the
// tarball against it) and the sha256 of every file it copied; the files
// served must have those hashes, and the lock file the same version and
// integrity, so neither a file edited by hand nor a lock file moved without
// `make docs-assets` goes unnoticed.
func TestAssetsAreThePinnedNPMPackage(t *testing.T) {
	var manifest struct {
		Package, Version, Integrity string
		SHA256                      map[string]string
	}
	readJSON(t, "assets/manifest.json", &manifest)
	var lock struct {
		Packages map[string]struct{ Version, Integrity string }
	}
	readJSON(t, "package-lock.json", &lock)
	var pkg struct{ Dependencies map[string]string }
	readJSON(t, "package.json", &pkg)

	locked := lock.Packages["node_modules/"+manifest.Package]
	if locked.Version != manifest.Version || locked.Integrity != manifest.Integrity || manifest.Integrity == "" {
		t.Errorf("package-lock.json has %s %s %s, assets/ were copied from %s %s: run make docs-assets",
			manifest.Package, locked.Version, locked.Integrity, manifest.Version, manifest.Integrity)
	}
	if got := pkg.Dependencies[manifest.Package]; got != manifest.Version {
		t.Errorf("package.json asks for %s %q, want the exact version %s", manifest.Package, got, manifest.Version)
	}
	d := newDocs(t)
	for name, want := range manifest.SHA256 {
		resp := serve(d.Asset, http.MethodGet, apidocs.AssetPrefix+name, nil)
		b := body(t, resp)
		sum := sha256.Sum256(b)
		if resp.StatusCode != http.StatusOK || hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s: %d, sha256 %x, want the npm package's %s", name, resp.StatusCode, sum, want)
		}
	}
	for _, name := range []string{"swagger-ui-bundle.js", "swagger-ui.css"} {
		if _, ok := manifest.SHA256[name]; !ok || !slices.Contains(apidocs.AssetNames(), name) {
			t.Errorf("%s is not both in the manifest and served", name)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The page loads only files of its own origin, runs no inline script, and
// says so in its CSP; the title is escaped.
func TestPage(t *testing.T) {
	resp := serve(newDocs(t).Page, http.MethodGet, apidocs.PagePath, nil)
	page := string(body(t, resp))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /docs: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != apidocs.CSP {
		t.Errorf("CSP %q, want %q", got, apidocs.CSP)
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self';", "img-src 'self' data:;"} {
		if !strings.Contains(apidocs.CSP, want) {
			t.Errorf("CSP %q lacks %q", apidocs.CSP, want)
		}
	}
	if strings.Contains(apidocs.CSP, "unsafe") || strings.Contains(apidocs.CSP, "http") {
		t.Errorf("CSP %q allows unsafe or remote sources", apidocs.CSP)
	}
	if !strings.Contains(page, `data-spec-url="/openapi.json"`) || !strings.Contains(page, "<title>t &lt;&amp;&gt; &#34;docs&#34;</title>") {
		t.Errorf("the page lacks its spec URL or its escaped title:\n%s", page)
	}
	scripts := regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1)
	if len(scripts) != 2 {
		t.Errorf("want the bundle and docs.js, got %q", scripts)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	for _, m := range refs {
		ref := m[1]
		switch {
		case ref == "data:," || ref == apidocs.SpecPath:
		case strings.HasPrefix(ref, apidocs.AssetPrefix) && slices.Contains(apidocs.AssetNames(), strings.TrimPrefix(ref, apidocs.AssetPrefix)):
		default:
			t.Errorf("the page refers to %q, which is not one of its assets", ref)
		}
	}
	for _, s := range scripts {
		if !strings.Contains(s, `src="`) {
			t.Errorf("inline script %q: the CSP would refuse it", s)
		}
	}
}

// Every asset is served with its type, gzipped when the client takes it,
// with an ETag that makes a repeat a 304; another name is a 404 problem.
func TestAssets(t *testing.T) {
	d := newDocs(t)
	for _, name := range apidocs.AssetNames() {
		target := apidocs.AssetPrefix + name
		plain := serve(d.Asset, http.MethodGet, target, nil)
		raw := body(t, plain)
		if plain.StatusCode != http.StatusOK || len(raw) == 0 || plain.Header.Get("Content-Encoding") != "" {
			t.Fatalf("GET %s: %d, %d bytes, encoding %q", target, plain.StatusCode, len(raw), plain.Header.Get("Content-Encoding"))
		}
		wantType := "text/plain; charset=utf-8"
		switch path.Ext(name) {
		case ".js":
			wantType = "text/javascript; charset=utf-8"
		case ".css":
			wantType = "text/css; charset=utf-8"
		}
		if got := plain.Header.Get("Content-Type"); got != wantType || plain.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: Content-Type %q, want %q, with nosniff", target, got, wantType)
		}

		zipped := serve(d.Asset, http.MethodGet, target, http.Header{"Accept-Encoding": {"br, gzip;q=0.5"}})
		zb := body(t, zipped)
		if len(raw) >= 1024 {
			if zipped.Header.Get("Content-Encoding") != "gzip" || zipped.Header.Get("ETag") == plain.Header.Get("ETag") {
				t.Fatalf("GET %s accepting gzip: encoding %q, ETag %q (plain %q)", target, zipped.Header.Get("Content-Encoding"),
					zipped.Header.Get("ETag"), plain.Header.Get("ETag"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(zb))
			if err != nil {
				t.Fatal(err)
			}
			if unzipped, err := io.ReadAll(zr); err != nil || !bytes.Equal(unzipped, raw) {
				t.Errorf("GET %s: the gzip copy is not the file (%v)", target, err)
			}
		}
		refused := serve(d.Asset, http.MethodGet, target, http.Header{"Accept-Encoding": {"gzip;q=0"}})
		if refused.Header.Get("Content-Encoding") != "" {
			t.Errorf("GET %s with gzip;q=0: encoded %q", target, refused.Header.Get("Content-Encoding"))
		}

		again := serve(d.Asset, http.MethodGet, target, http.Header{"If-None-Match": {plain.Header.Get("ETag")}})
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", target, again.StatusCode)
		}
	}
	for _, target := range []string{apidocs.AssetPrefix + "nope.js", apidocs.AssetPrefix + "..%2fpage.html", "/elsewhere/docs.js"} {
		resp := serve(d.Asset, http.MethodGet, target, nil)
		var p problem.Details
		if err := json.Unmarshal(body(t, resp), &p); err != nil || resp.StatusCode != http.StatusNotFound ||
			resp.Header.Get("Content-Type") != problem.ContentType || p.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d %q %+v %v, want a 404 problem", target, resp.StatusCode, resp.Header.Get("Content-Type"), p, err)
		}
	}
}

// The document is served as given, as JSON; New refuses what is not one.
func TestSpec(t *testing.T) {
	resp := serve(newDocs(t).Spec, http.MethodGet, apidocs.SpecPath, nil)
	if b := body(t, resp); resp.StatusCode != http.StatusOK || string(b) != spec || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /openapi.json: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	head := serve(newDocs(t).Spec, http.MethodHead, apidocs.SpecPath, nil)
	if b := body(t, head); head.StatusCode != http.StatusOK || len(b) != 0 {
		t.Errorf("HEAD /openapi.json: %d with %d bytes", head.StatusCode, len(b))
	}
	for _, bad := range []string{``, `[]`, `{"swagger":"2.0"}`, `{"openapi":3.1}`} {
		if _, err := apidocs.New("t", apidocs.SpecPath, []byte(bad)); err == nil {
			t.Errorf("New accepted %q", bad)
		}
	}
}
