package httpapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs"
)

// OpenAPIDocument is the api's HTTP contract as an OpenAPI 3.1 document,
// written by hand next to the handlers it describes and served at
// GET /openapi.json. It is not generated into handlers (oapi-codegen's Fiber
// target) because the hot path, /update_model/:trial, is hand-tuned for CPU
// (docs/performance.md); the port's tests check the document against the
// route table in both directions instead, and the end-to-end tests validate
// every exchange against it.
//
//go:embed openapi.json
var OpenAPIDocument []byte

// docsRoutes are GET /openapi.json, the docs page that renders it and the
// page's files (package apidocs, net/http handlers through Fiber's adaptor:
// none of them is on a hot path). GET only, as the contract says; they are
// neither traced nor exempt from the rate limit.
func docsRoutes() []route {
	d := apidocs.Must(apidocs.New("event-driven-bayes · api", apidocs.SpecPath, OpenAPIDocument))
	get := []string{fiber.MethodGet}
	return []route{
		{methods: get, path: apidocs.SpecPath, handler: adaptor.HTTPHandlerFunc(d.Spec)},
		{methods: get, path: apidocs.PagePath, handler: adaptor.HTTPHandlerFunc(d.Page)},
		{methods: get, path: apidocs.AssetPrefix + ":asset", handler: adaptor.HTTPHandlerFunc(d.Asset)},
	}
}
