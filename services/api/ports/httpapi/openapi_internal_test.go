package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs/openapicheck"
)

func loadOpenAPI(t *testing.T) *openapicheck.Doc {
	t.Helper()
	d, err := openapicheck.Load("api openapi.json", OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The document is valid OpenAPI 3.1 (libopenapi builds its model without an
// error, every $ref resolves, and it passes the OpenAPI 3.1 schema), and
// keeps the contract's rules: every error body a problem, an operationId
// and a success answer per operation.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	for _, msg := range loadOpenAPI(t).Lint() {
		t.Error(msg)
	}
}

// The document and the route table list the same operations: a route added
// without its description, or a description of a route that is gone, fails
// here before any end-to-end test runs.
func TestOpenAPIDocumentHasEveryRoute(t *testing.T) {
	var served []openapicheck.Operation
	for _, r := range (server{}).routes(http.NotFoundHandler()).routes {
		for _, m := range r.methods {
			served = append(served, openapicheck.Operation{Method: m, Path: openAPIPath(r.path)})
		}
	}
	documented := loadOpenAPI(t).Operations()
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("%s is served but not in openapi.json", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("%s is in openapi.json but not served", op)
		}
	}
	if len(served) < 10 {
		t.Errorf("only %d operations served: %v", len(served), served)
	}

	var doc struct {
		Components struct {
			Parameters struct {
				DocsAsset struct {
					Schema struct{ Enum []string }
				}
			}
		}
	}
	if err := json.Unmarshal(OpenAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Components.Parameters.DocsAsset.Schema.Enum; !slices.Equal(got, apidocs.AssetNames()) {
		t.Errorf("openapi.json lists the docs assets %q, apidocs serves %q", got, apidocs.AssetNames())
	}
}

// openAPIPath is a Fiber pattern as an OpenAPI path: "/models/:name" is
// "/models/{name}".
func openAPIPath(fiberPath string) string {
	return regexp.MustCompile(`:([A-Za-z_]+)`).ReplaceAllString(fiberPath, "{$1}")
}

// GET /openapi.json serves the embedded document, and the docs routes
// answer as the document says (the end-to-end tests check the others).
func TestOpenAPIServed(t *testing.T) {
	doc := loadOpenAPI(t)
	f := New(app.Application{}, Options{}, nil)
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/openapi.json", http.StatusOK},
		{http.MethodGet, "/docs", http.StatusOK},
		{http.MethodGet, "/docs/swagger-ui.css", http.StatusOK},
		{http.MethodGet, "/docs/docs.js", http.StatusOK},
		{http.MethodGet, "/docs/nope.js", http.StatusNotFound},
		{http.MethodHead, "/openapi.json", http.StatusMethodNotAllowed},
		{http.MethodPost, "/docs", http.StatusMethodNotAllowed},
		{http.MethodGet, "/healthz", http.StatusOK},
		{http.MethodHead, "/healthz", http.StatusOK},
		{http.MethodGet, "/openapi.yaml", http.StatusNotFound},
	} {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		resp, err := f.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.target, resp.StatusCode, tc.want)
		}
		for _, msg := range doc.Exchange(req, nil, resp) {
			t.Error(msg)
		}
		if tc.target == "/openapi.json" && tc.method == http.MethodGet {
			b, _ := io.ReadAll(resp.Body)
			if !bytes.Equal(b, OpenAPIDocument) || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("GET /openapi.json: %q, %d bytes, not the embedded document", resp.Header.Get("Content-Type"), len(b))
			}
		}
		resp.Body.Close()
	}
}
