// Package openapicheck holds an OpenAPI 3.1 document to what a service
// does: it loads the document strictly (libopenapi's model built without an
// error, and the document valid against the OpenAPI 3.1 schema), lists its
// operations for the tests that compare them with the registered routes,
// and checks HTTP exchanges against it with libopenapi-validator.
//
// An exchange is checked in both directions. A request the document
// describes must get an answer the document describes: a documented status,
// content type, headers and a body that fits the schema. A request the
// document refuses (an unknown path or method, a bad parameter or body)
// must be refused by the service too, with a 4xx; otherwise the document
// is stricter than the service. Either way every 4xx and 5xx must be an
// RFC 9457 problem as the services' contract writes it.
//
// It is used by tests only (the ports' tests and services/e2e); it lives in
// platform, as redistest does, because both services and the end-to-end
// suite need the same rules.
package openapicheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// Doc is a loaded OpenAPI document. It is safe for concurrent use.
type Doc struct {
	name  string
	model *v3.Document
	v     validator.Validator
	opts  *config.ValidationOptions
}

// Operation is one method on one path of a document: Method in upper case
// ("GET"), Path as the document writes it ("/models/{name}").
type Operation struct {
	Method, Path string
}

func (o Operation) String() string { return o.Method + " " + o.Path }

// Load parses spec (named name in errors) and checks it: an OpenAPI 3.1
// document whose model libopenapi builds without an error (every $ref
// resolves) and that validates against the OpenAPI 3.1 schema.
func Load(name string, spec []byte) (*Doc, error) {
	// libopenapi's defaults (3.1's sibling $refs among them), without its
	// log: the errors are returned, and the log would only repeat them.
	cfg := datamodel.NewDocumentConfiguration()
	cfg.Logger = slog.New(slog.DiscardHandler)
	doc, err := libopenapi.NewDocumentWithConfiguration(spec, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: parsing: %w", name, err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		return nil, fmt.Errorf("%s: openapi %q, want 3.1.x", name, v)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("%s: building the model: %w", name, err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: making the validator: %w", name, errors.Join(errs...))
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("%s is not a valid OpenAPI 3.1 document:\n%s", name, describe(verrs))
	}
	return &Doc{name: name, model: &m.Model, v: v, opts: config.NewValidationOptions()}, nil
}

// Operations are every method on every path of the document, in the
// document's order.
func (d *Doc) Operations() []Operation {
	var out []Operation
	for path, item := range d.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().KeysFromOldest() {
			out = append(out, Operation{Method: strings.ToUpper(method), Path: path})
		}
	}
	return out
}

// Model is the document's high-level model, for tests that read its
// content (examples, enums).
func (d *Doc) Model() *v3.Document { return d.model }

// CheckSchema checks data, a JSON value, against the document's schema
// components/schemas/name: for what the document can describe only by name,
// such as the data of a Server-Sent Events feed's events.
func (d *Doc) CheckSchema(name string, data []byte) []string {
	proxy := d.model.Components.Schemas.GetOrZero(name)
	if proxy == nil {
		return []string{fmt.Sprintf("%s has no schema %q", d.name, name)}
	}
	sv := schema_validation.NewSchemaValidatorWithLogger(slog.New(slog.DiscardHandler))
	if ok, errs := sv.ValidateSchemaBytes(proxy.Schema(), data); !ok {
		return []string{fmt.Sprintf("%s (%s): not a %s:\n%s\ndata: %.600s", name, d.name, name, describe(errs), data)}
	}
	return nil
}

// Lint returns what the document says that the services' contract does
// not allow, which the OpenAPI schema cannot see: an error answer (4xx, 5xx)
// with a body that is not application/problem+json, an operation without a
// success answer or without an operationId, an operationId used twice.
func (d *Doc) Lint() []string {
	var bad []string
	ids := map[string]string{}
	for path, item := range d.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			where := strings.ToUpper(method) + " " + path
			switch prev, dup := ids[op.OperationId]; {
			case op.OperationId == "":
				bad = append(bad, where+": no operationId")
			case dup:
				bad = append(bad, fmt.Sprintf("%s: operationId %q is %s's too", where, op.OperationId, prev))
			}
			ids[op.OperationId] = where
			success := false
			for code, r := range op.Responses.Codes.FromOldest() {
				success = success || strings.HasPrefix(code, "2")
				if code < "4" || r.Content == nil || r.Content.Len() == 0 {
					continue
				}
				if types := slices.Collect(r.Content.KeysFromOldest()); !slices.Equal(types, []string{problem.ContentType}) {
					bad = append(bad, fmt.Sprintf("%s: %s answers %v, want %s only", where, code, types, problem.ContentType))
				}
			}
			if !success {
				bad = append(bad, where+": no success answer")
			}
		}
	}
	return bad
}

// Exchange checks one exchange and returns what is wrong with it, nothing
// when all is well. reqBody is the body req was sent with (req.Body is not
// read). resp.Body is read and replaced by a copy, except for an event
// stream, of which only the status and the content type are checked (it
// does not end).
//
// A CORS preflight (OPTIONS with Access-Control-Request-Method) is not the
// API's and is not checked. A HEAD on a path whose document has no head
// operation is checked as the GET it mirrors when it succeeds, and as a
// refusal otherwise.
func (d *Doc) Exchange(req *http.Request, reqBody []byte, resp *http.Response) []string {
	if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		return nil
	}
	what := req.Method + " " + req.URL.RequestURI() + " → " + resp.Status
	stream := mediaType(resp.Header.Get("Content-Type")) == "text/event-stream"
	var respBody []byte
	if !stream && resp.Body != nil {
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if err != nil {
			return []string{fmt.Sprintf("%s: reading the answer: %v", what, err)}
		}
		respBody = b
	}
	var bad []string
	fail := func(format string, args ...any) {
		bad = append(bad, fmt.Sprintf("%s (%s): %s", what, d.name, fmt.Sprintf(format, args...)))
	}

	// libopenapi-validator checks a HEAD as the GET it mirrors, without a
	// body, where the document has no head operation; a service may also
	// not take HEAD there, like any method the document does not list.
	mirroredHead := req.Method == http.MethodHead && !d.hasHead(req)
	vreq := cloneRequest(req, reqBody)
	reqOK, reqErrs := d.v.ValidateHttpRequestSync(vreq)

	if resp.StatusCode >= 400 && req.Method != http.MethodHead {
		if msg := checkProblem(resp, respBody); msg != "" {
			fail("%s", msg)
		}
	}
	switch {
	case !reqOK && resp.StatusCode < 400:
		fail("the document refuses this request, the service answered %d:\n%s", resp.StatusCode, describe(reqErrs))
		return bad
	case !reqOK:
		return bad // refused by both: the problem body was checked above
	case mirroredHead && resp.StatusCode >= 400:
		return bad
	}

	vresp := *resp
	vresp.Body = io.NopCloser(bytes.NewReader(respBody))
	if stream || req.Method == http.MethodHead {
		// The status, content type and headers: a HEAD has no body, and
		// a stream's does not end (nor has it a schema to check).
		vresp.Body = http.NoBody
	}
	if ok, errs := d.v.ValidateHttpResponse(vreq, &vresp); !ok {
		fail("the answer is not what the document says:\n%s\nbody: %.600s", describe(errs), respBody)
	}
	return bad
}

// hasHead reports whether the document has a head operation on the path of
// req.
func (d *Doc) hasHead(req *http.Request) bool {
	item, _, _ := paths.FindPath(req, d.model, d.opts)
	return item != nil && item.Head != nil
}

// checkProblem checks an error answer against the services' contract: an
// RFC 9457 problem with exactly the members type, title, status, detail
// and error, the status that of the answer, the title its text, error the
// same as detail.
func checkProblem(resp *http.Response, body []byte) string {
	if ct := mediaType(resp.Header.Get("Content-Type")); ct != problem.ContentType {
		return fmt.Sprintf("an error answer of type %q, want %s: %.300s", ct, problem.ContentType, body)
	}
	var p problem.Details
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Sprintf("the problem %.300s: %v", body, err)
	}
	want := problem.New(resp.StatusCode, p.Detail)
	if p != want || p.Detail == "" {
		return fmt.Sprintf("the problem %.300s, want type %q, title %q, status %d, a detail and the same error",
			body, want.Type, want.Title, want.Status)
	}
	return ""
}

// cloneRequest is req with a body of its own (body), for the validator,
// which reads it.
func cloneRequest(req *http.Request, body []byte) *http.Request {
	c := req.Clone(req.Context())
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.ContentLength = int64(len(body))
	c.GetBody = nil
	return c
}

// mediaType is the media type of a Content-Type value, without parameters,
// in lower case; "" when there is none.
func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(contentType))
	}
	return mt
}

// describe lists validation errors one per line, with the schema failures
// under each.
func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  - %s: %s", e.Message, e.Reason)
		if e.SpecLine > 0 {
			fmt.Fprintf(&b, " (document line %d)", e.SpecLine)
		}
		b.WriteByte('\n')
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "      %s %s: %s\n", s.FieldPath, s.KeywordLocation, s.Reason)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
