package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs"
)

// OpenAPIDocument is bayes' HTTP contract as an OpenAPI 3.1 document,
// written by hand next to the handlers it describes and served at
// GET /openapi.json. The port's tests check it against the routes in both
// directions, and the end-to-end tests validate every exchange against it.
//
//go:embed openapi.json
var OpenAPIDocument []byte

// handleDocs registers the OpenAPI document, the docs page that renders it
// and the page's files (package apidocs).
func handleDocs(mux *http.ServeMux) {
	d := apidocs.Must(apidocs.New("event-driven-bayes · bayes API", apidocs.SpecPath, OpenAPIDocument))
	mux.HandleFunc("GET /openapi.json", d.Spec)
	mux.HandleFunc("GET /docs", d.Page)
	mux.HandleFunc("GET /docs/{asset}", d.Asset)
}
