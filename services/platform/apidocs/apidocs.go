// Package apidocs serves a service's OpenAPI document and a page that
// renders it in the browser: GET /openapi.json, GET /docs and the page's
// files under /docs/. The renderer is Swagger UI (swagger-ui-dist from the
// npm registry, pinned in package-lock.json, copied into assets/ by
// update-assets.sh) embedded in the binary, so the page needs nothing from a
// CDN and runs under a Content-Security-Policy that allows scripts, styles
// and connections from the service's own origin only.
//
// The handlers are plain net/http; the api (Fiber) mounts them through
// Fiber's adaptor, as it does its metrics.
package apidocs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// The paths the services serve; the page refers to its files and to the
// document by these absolute paths, like the live page does.
const (
	// SpecPath is where the OpenAPI document is served.
	SpecPath = "/openapi.json"
	// PagePath is where the docs page is served.
	PagePath = "/docs"
	// AssetPrefix is the path under which the page's files are served:
	// AssetPrefix + a name of AssetNames.
	AssetPrefix = "/docs/"
)

// CSP is the page's Content-Security-Policy: nothing from elsewhere, no
// inline script and no eval. Swagger UI runs under it as it is: its styles
// are one file, the few style values React sets go through the CSSOM (which
// CSP does not govern), its icons are inline SVG and its images data: URIs
// (img-src data:), it fetches the document and "Try it out" requests from
// this origin (connect-src 'self'), and validatorUrl: null keeps it from
// fetching a badge from validator.swagger.io. It needs no font-src (its
// style sheet names system fonts only); font-src 'self' is kept so that a
// renderer upgrade bringing fonts along is refused loudly only if they come
// from elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// files are the page's template, its own script and style sheet (web/) and
// the renderer's files (assets/, verbatim from the npm package).
//
//go:embed web/page.html web/docs.js web/docs.css
//go:embed assets/swagger-ui-bundle.js assets/swagger-ui.css
//go:embed assets/swagger-ui-bundle.js.LICENSE.txt assets/LICENSE assets/NOTICE
var files embed.FS

var pageTemplate = template.Must(template.ParseFS(files, "web/page.html"))

// assetFiles maps each name served under AssetPrefix to its embedded file.
// The renderer's licence files are served too: the bundle's first line
// points to its LICENSE.txt, and the licence asks that it go with the code.
var assetFiles = map[string]string{
	"docs.js":                          "web/docs.js",
	"docs.css":                         "web/docs.css",
	"swagger-ui-bundle.js":             "assets/swagger-ui-bundle.js",
	"swagger-ui.css":                   "assets/swagger-ui.css",
	"swagger-ui-bundle.js.LICENSE.txt": "assets/swagger-ui-bundle.js.LICENSE.txt",
	"LICENSE":                          "assets/LICENSE",
	"NOTICE":                           "assets/NOTICE",
}

// AssetNames are the names of the page's files, sorted: each is served at
// AssetPrefix + name. The OpenAPI documents list them.
func AssetNames() []string {
	names := make([]string, 0, len(assetFiles))
	for n := range assetFiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// content is one answer body, ready to serve: its bytes, a gzip copy made
// on first demand, and their entity tags.
type content struct {
	name, contentType string
	body              []byte
	etag              string

	gzipOnce sync.Once
	gzipped  []byte
}

func newContent(name, contentType string, body []byte) *content {
	sum := sha256.Sum256(body)
	return &content{name: name, contentType: contentType, body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// serve answers r with c: 304 to a matching If-None-Match, a gzip copy to a
// client that takes one (Swagger UI's bundle is 1.7 MB, 0.5 MB gzipped),
// HEAD and ranges as net/http does. Embedded files have no modification
// time, so Cache-Control: no-cache with the ETag makes a browser revalidate
// and never keep an old release's file.
func (c *content) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", c.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	body, etag := c.body, c.etag
	if len(c.body) >= 1024 && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		c.gzipOnce.Do(func() { c.gzipped = gzipBytes(c.body) })
		body, etag = c.gzipped, strings.TrimSuffix(c.etag, `"`)+`-gzip"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, c.name, time.Time{}, bytes.NewReader(body))
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(b)                                       // a bytes.Buffer does not fail
	_ = zw.Close()
	return buf.Bytes()
}

// acceptsGzip reports whether an Accept-Encoding header value lists gzip
// without refusing it (q=0).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
			return err == nil && v > 0
		}
		return true
	}
	return false
}

// assets holds every asset, built once: the embedded files do not change.
var assets = sync.OnceValue(func() map[string]*content {
	out := make(map[string]*content, len(assetFiles))
	for name, file := range assetFiles {
		b, err := files.ReadFile(file)
		if err != nil {
			panic(fmt.Sprintf("apidocs: %s is not embedded: %v", file, err)) // the embed patterns list every file
		}
		out[name] = newContent(name, contentTypeOf(name), b)
	}
	return out
})

func contentTypeOf(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	default:
		return "text/plain; charset=utf-8"
	}
}

// Docs serves one service's OpenAPI document and its docs page.
type Docs struct {
	page, spec *content
}

// New returns the docs of the OpenAPI document spec, served at specURL
// (SpecPath where the service serves it), with the page titled title. spec
// must be a JSON object: it is embedded in the service, so an error here is
// a build mistake that the service's tests catch.
func New(title, specURL string, spec []byte) (*Docs, error) {
	var doc map[string]any
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("apidocs: the OpenAPI document is not a JSON object: %w", err)
	}
	if _, ok := doc["openapi"].(string); !ok {
		return nil, fmt.Errorf("apidocs: the OpenAPI document has no openapi version")
	}
	var page bytes.Buffer
	err := pageTemplate.Execute(&page, struct{ Title, SpecURL, Assets string }{title, specURL, AssetPrefix})
	if err != nil {
		return nil, fmt.Errorf("apidocs: rendering the page: %w", err)
	}
	return &Docs{
		page: newContent("docs.html", "text/html; charset=utf-8", page.Bytes()),
		spec: newContent("openapi.json", "application/json", spec),
	}, nil
}

// Must is New for a document embedded in the binary: it panics on an error,
// as template.Must does for an embedded template.
func Must(d *Docs, err error) *Docs {
	if err != nil {
		panic(err)
	}
	return d
}

// Spec serves the OpenAPI document (GET SpecPath).
func (d *Docs) Spec(w http.ResponseWriter, r *http.Request) {
	d.spec.serve(w, r)
}

// Page serves the docs page (GET PagePath) with the strict CSP.
func (d *Docs) Page(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("Referrer-Policy", "no-referrer")
	d.page.serve(w, r)
}

// Asset serves the page's file named by the last segment of the path (GET
// AssetPrefix + name), or a 404 problem for a name that is not one.
func (d *Docs) Asset(w http.ResponseWriter, r *http.Request) {
	c, ok := assets()[path.Base(r.URL.Path)]
	if !ok || !strings.HasPrefix(r.URL.Path, AssetPrefix) {
		problem.Write(w, http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path)
		return
	}
	c.serve(w, r)
}
