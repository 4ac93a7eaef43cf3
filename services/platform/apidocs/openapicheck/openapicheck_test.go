package openapicheck_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs/openapicheck"
)

const doc = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/things/{name}": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-z]+$"}}],
      "get": {
        "operationId": "getThing",
        "parameters": [{"name": "prob", "in": "query", "schema": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}],
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
          "404": {"$ref": "#/components/responses/Problem"}
        }
      },
      "put": {
        "operationId": "putThing",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}, "additionalProperties": false}}}},
        "responses": {"204": {"description": "stored"}, "400": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/feed": {
      "get": {"operationId": "feed", "responses": {"200": {"description": "events", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}
    }
  },
  "components": {
    "schemas": {
      "Thing": {"type": "object", "required": ["name", "x"], "properties": {
        "name": {"type": "string"}, "x": {"type": ["number", "null"]}}, "additionalProperties": false}
    },
    "responses": {
      "Problem": {"description": "a problem", "content": {"application/problem+json": {"schema": {"type": "object"}}}}
    }
  }
}`

func load(t *testing.T) *openapicheck.Doc {
	t.Helper()
	d, err := openapicheck.Load("test.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// answer is what a service answered.
func answer(status int, contentType, body string) *http.Response {
	rec := httptest.NewRecorder()
	if contentType != "" {
		rec.Header().Set("Content-Type", contentType)
	}
	rec.WriteHeader(status)
	_, _ = io.WriteString(rec, body)
	return rec.Result()
}

const notFound = `{"type":"about:blank","title":"Not Found","status":404,"detail":"no thing","error":"no thing"}`

func TestExchange(t *testing.T) {
	d := load(t)
	for _, tc := range []struct {
		name         string
		method, url  string
		reqBody      string
		reqType      string
		resp         *http.Response
		wantProblems []string // substrings, one per problem; none: a clean exchange
	}{
		{name: "documented answer", method: "GET", url: "/things/ab?prob=0.5",
			resp: answer(200, "application/json", `{"name":"ab","x":null}`)},
		{name: "member missing", method: "GET", url: "/things/ab",
			resp: answer(200, "application/json", `{"name":"ab"}`), wantProblems: []string{"not what the document says"}},
		{name: "member the document does not have", method: "GET", url: "/things/ab",
			resp: answer(200, "application/json", `{"name":"ab","x":1,"y":2}`), wantProblems: []string{"not what the document says"}},
		{name: "undocumented status", method: "GET", url: "/things/ab",
			resp:         answer(503, "application/problem+json", `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"down","error":"down"}`),
			wantProblems: []string{"not what the document says"}},
		{name: "undocumented content type", method: "GET", url: "/things/ab",
			resp: answer(200, "text/plain", `ab`), wantProblems: []string{"not what the document says"}},
		{name: "documented problem", method: "GET", url: "/things/zz", resp: answer(404, "application/problem+json", notFound)},
		{name: "error that is not a problem", method: "GET", url: "/things/zz",
			resp:         answer(404, "application/json", `{"error":"no thing"}`),
			wantProblems: []string{"error answer of type", "not what the document says"}},
		{name: "problem with the wrong title", method: "GET", url: "/things/zz",
			resp: answer(404, "application/problem+json", strings.Replace(notFound, "Not Found", "Gone", 1)), wantProblems: []string{"want type"}},
		{name: "problem with a member too many", method: "GET", url: "/things/zz",
			resp: answer(404, "application/problem+json", strings.Replace(notFound, `"status"`, `"extra":1,"status"`, 1)), wantProblems: []string{"unknown field"}},
		{name: "refused by both", method: "GET", url: "/things/AB",
			resp: answer(400, "application/problem+json", strings.NewReplacer("Not Found", "Bad Request", "404", "400").Replace(notFound))},
		{name: "bad query refused by both", method: "GET", url: "/things/ab?prob=2",
			resp: answer(400, "application/problem+json", strings.NewReplacer("Not Found", "Bad Request", "404", "400").Replace(notFound))},
		{name: "accepted by the service, refused by the document", method: "GET", url: "/things/ab?prob=2",
			resp: answer(200, "application/json", `{"name":"ab","x":1}`), wantProblems: []string{"the document refuses this request"}},
		{name: "unknown path accepted", method: "GET", url: "/nope", resp: answer(200, "application/json", `{}`),
			wantProblems: []string{"the document refuses this request"}},
		{name: "unknown method refused", method: "DELETE", url: "/things/ab",
			resp: answer(405, "application/problem+json", strings.NewReplacer("Not Found", "Method Not Allowed", "404", "405").Replace(notFound))},
		{name: "body", method: "PUT", url: "/things/ab", reqBody: `{"n":3}`, reqType: "application/json", resp: answer(204, "", "")},
		{name: "bad body accepted", method: "PUT", url: "/things/ab", reqBody: `{"n":"x"}`, reqType: "application/json",
			resp: answer(204, "", ""), wantProblems: []string{"the document refuses this request"}},
		{name: "event stream: type and status only", method: "GET", url: "/feed", resp: answer(200, "text/event-stream", "event: x\ndata: not JSON\n\n")},
		{name: "event stream with another type", method: "GET", url: "/feed",
			resp: answer(200, "application/json", "{}"), wantProblems: []string{"not what the document says"}},
		{name: "HEAD mirrors GET", method: "HEAD", url: "/things/ab", resp: answer(200, "application/json", "")},
		{name: "HEAD refused", method: "HEAD", url: "/things/ab", resp: answer(405, "application/problem+json", "")},
		{name: "HEAD with an undocumented status", method: "HEAD", url: "/things/ab", resp: answer(201, "application/json", ""),
			wantProblems: []string{"not what the document says"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.reqBody))
			if tc.reqType != "" {
				req.Header.Set("Content-Type", tc.reqType)
			}
			got := d.Exchange(req, []byte(tc.reqBody), tc.resp)
			if len(got) != len(tc.wantProblems) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.wantProblems), strings.Join(got, "\n"))
			}
			for i, want := range tc.wantProblems {
				if !strings.Contains(got[i], want) {
					t.Errorf("problem %q lacks %q", got[i], want)
				}
			}
		})
	}
}

// A preflight is the CORS middleware's, not the API's.
func TestCORSPreflightIsNotChecked(t *testing.T) {
	req := httptest.NewRequest(http.MethodOptions, "/things/ab", nil)
	req.Header.Set("Access-Control-Request-Method", "PUT")
	if got := load(t).Exchange(req, nil, answer(204, "", "")); len(got) != 0 {
		t.Errorf("a preflight was checked: %q", got)
	}
}

// The body of an ordinary answer is still readable after the check.
func TestExchangeKeepsTheBody(t *testing.T) {
	resp := answer(200, "application/json", `{"name":"ab","x":1}`)
	if got := load(t).Exchange(httptest.NewRequest("GET", "/things/ab", nil), nil, resp); len(got) != 0 {
		t.Fatal(got)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != `{"name":"ab","x":1}` {
		t.Errorf("body after the check: %q", b)
	}
}

func TestOperations(t *testing.T) {
	got := load(t).Operations()
	want := []openapicheck.Operation{{"GET", "/things/{name}"}, {"PUT", "/things/{name}"}, {"GET", "/feed"}}
	if !slices.Equal(got, want) {
		t.Errorf("Operations() = %v, want %v", got, want)
	}
}

// Load refuses what is not a valid OpenAPI 3.1 document.
func TestLoadRefuses(t *testing.T) {
	for name, bad := range map[string]string{
		"not JSON":               `{`,
		"OpenAPI 3.0":            strings.Replace(doc, `"3.1.0"`, `"3.0.3"`, 1),
		"a $ref to nowhere":      strings.Replace(doc, `#/components/schemas/Thing`, `#/components/schemas/Nothing`, 1),
		"no responses":           strings.Replace(doc, `"get": {"operationId": "feed", "responses": {"200": {"description": "events", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}`, `"get": {"summary": 3}`, 1),
		"a parameter without in": strings.Replace(doc, `"in": "query", `, ``, 1),
	} {
		if bad == doc {
			t.Fatalf("%s: the mutation did not apply", name)
		}
		if _, err := openapicheck.Load("bad.json", []byte(bad)); err == nil {
			t.Errorf("%s: Load accepted it", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestLint(t *testing.T) {
	if got := load(t).Lint(); len(got) != 0 {
		t.Errorf("Lint() = %q", got)
	}
	bad := strings.Replace(doc, `"application/problem+json": {"schema": {"type": "object"}}`, `"application/json": {"schema": {"type": "object"}}`, 1)
	bad = strings.Replace(bad, `"responses": {"204": {"description": "stored"}, `, `"responses": {`, 1)
	bad = strings.Replace(bad, `"operationId": "feed", `, ``, 1)
	d, err := openapicheck.Load("bad.json", []byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(d.Lint(), "\n")
	for _, want := range []string{"GET /things/{name}: 404 answers [application/json], want application/problem+json only",
		"PUT /things/{name}: no success answer", "GET /feed: no operationId"} {
		if !strings.Contains(got, want) {
			t.Errorf("Lint() = %q, lacks %q", got, want)
		}
	}
}

func TestCheckSchema(t *testing.T) {
	d := load(t)
	if got := d.CheckSchema("Thing", []byte(`{"name":"a","x":0.5}`)); len(got) != 0 {
		t.Errorf("a Thing: %q", got)
	}
	for _, bad := range []string{`{"name":"a"}`, `{"name":"a","x":"0.5"}`, `{"name":"a","x":1,"y":2}`, `[]`} {
		if got := d.CheckSchema("Thing", []byte(bad)); len(got) != 1 {
			t.Errorf("%s: %q, want one problem", bad, got)
		}
	}
	if got := d.CheckSchema("Nothing", []byte(`{}`)); len(got) != 1 {
		t.Errorf("no such schema: %q", got)
	}
}
