package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs/openapicheck"
)

func loadOpenAPI(t *testing.T) *openapicheck.Doc {
	t.Helper()
	d, err := openapicheck.Load("bayes openapi.json", httpapi.OpenAPIDocument)
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

// Every route registered in the port's source (the patterns of every
// mux.Handle and mux.HandleFunc) is in the document, and every operation of
// the document is served by the route of the same path: each is requested
// with the document's example values, and the route the mux matched (what
// the request metrics see) must be the document's path. Each exchange must
// also be what the document says.
func TestOpenAPIDocumentHasEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := doc.Operations()

	registered := registeredPatterns(t, "server.go", "docs.go")
	if len(registered) < 15 {
		t.Fatalf("found only %d route patterns in the source: %q", len(registered), registered)
	}
	for _, p := range registered {
		if op := patternOperation(p); !slices.Contains(documented, op) {
			t.Errorf("route %q is served but %s is not in openapi.json", p, op)
		}
	}

	srv, routes := docServer(t)
	for _, op := range documented {
		target := exampleTarget(t, doc.Model(), op)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, op.Method, srv.URL+target, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", op, err)
		}
		for _, msg := range doc.Exchange(req, nil, resp) {
			t.Error(msg)
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
			t.Errorf("%s as %s %s: %s %s", op, op.Method, target, resp.Status, b)
		}
		if resp.Header.Get("Content-Type") == "text/event-stream" {
			// The document names the schema of each event's data.
			event, data := firstEvent(t, resp.Body)
			schema := map[string]string{"model": "Model", "compare": "Compare", "error": "FeedError"}[event]
			for _, msg := range doc.CheckSchema(schema, data) {
				t.Errorf("%s: event %q: %s", op, event, msg)
			}
		}
		cancel() // ends an event stream
		resp.Body.Close()
		if got := routes.next(t); patternOperation(op.Method+" "+got) != op {
			t.Errorf("%s %s was served by the route %q, not %s", op.Method, target, got, op.Path)
		}
	}
}

// GET /openapi.json serves the embedded document; the docs assets the
// document lists are the ones apidocs serves.
func TestOpenAPIServed(t *testing.T) {
	srv, _ := docServer(t)
	resp, err := srv.Client().Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(b, httpapi.OpenAPIDocument) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /openapi.json: %q, %d bytes, not the embedded document", resp.Header.Get("Content-Type"), len(b))
	}

	var doc struct {
		Paths map[string]struct {
			Parameters []struct{ Schema struct{ Enum []string } }
		}
	}
	if err := json.Unmarshal(httpapi.OpenAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if ps := doc.Paths["/docs/{asset}"].Parameters; len(ps) != 1 || !slices.Equal(ps[0].Schema.Enum, apidocs.AssetNames()) {
		t.Errorf("openapi.json lists the docs assets %+v, apidocs serves %q", ps, apidocs.AssetNames())
	}
}

// firstEvent reads a Server-Sent Events stream up to its first event and
// returns the event's name and data.
func firstEvent(t *testing.T, r io.Reader) (event string, data []byte) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: ")...)
		case line == "" && event != "":
			return event, data
		}
	}
	t.Fatalf("the stream ended before its first event: %v", sc.Err())
	return "", nil
}

// registeredPatterns reads the patterns given to mux.Handle and
// mux.HandleFunc as string literals in the port's files.
func registeredPatterns(t *testing.T, files ...string) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "mux" {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				p, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, p)
			}
			return true
		})
	}
	return out
}

// patternOperation is the document's operation for a net/http pattern:
// "GET /{$}" is GET /, and a subtree "GET /static/" is GET /static/{file}.
func patternOperation(pattern string) openapicheck.Operation {
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.TrimSuffix(path, "{$}")
	if path != "/" && strings.HasSuffix(path, "/") {
		path += "{file}"
	}
	return openapicheck.Operation{Method: method, Path: path}
}

// exampleTarget is op's path with its parameters' example values (or the
// first of their enum) and every required query parameter's, plus every
// optional one that has an example, so that the example request succeeds.
func exampleTarget(t *testing.T, m *v3.Document, op openapicheck.Operation) string {
	t.Helper()
	item := m.Paths.PathItems.GetOrZero(op.Path)
	operation, _ := item.GetOperations().Get(strings.ToLower(op.Method))
	params := slices.Concat(item.Parameters, operation.Parameters)
	path, query := op.Path, url.Values{}
	for _, p := range params {
		v := exampleValue(p)
		if v == "" {
			if p.Required != nil && *p.Required {
				t.Fatalf("%s: parameter %s has no example", op, p.Name)
			}
			continue
		}
		switch p.In {
		case "path":
			path = strings.ReplaceAll(path, "{"+p.Name+"}", url.PathEscape(v))
		case "query":
			query.Set(p.Name, v)
		}
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return path
}

func exampleValue(p *v3.Parameter) string {
	var v any
	switch {
	case p.Example != nil:
		if err := p.Example.Decode(&v); err != nil {
			return ""
		}
	case p.Schema != nil && len(p.Schema.Schema().Enum) > 0:
		_ = p.Schema.Schema().Enum[0].Decode(&v)
	default:
		return ""
	}
	if list, ok := v.([]any); ok { // style form, explode false
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

// docServer serves bayes' routes over a store in which every model name
// exists, with metrics and plots on, and records the route of every
// request.
func docServer(t *testing.T) (*httptest.Server, *routeLog) {
	t.Helper()
	store := everyModel{}
	models, err := query.NewModels(events.ModelSpec{Prior: "uniform", GridPoints: 21}, store)
	if err != nil {
		t.Fatal(err)
	}
	ready, err := query.NewReadinessHandler(store)
	if err != nil {
		t.Fatal(err)
	}
	routes := &routeLog{routes: make(chan string, 100)}
	a := app.Application{Queries: app.Queries{Models: models, Readiness: ready}}
	h := httpapi.NewHandler(a, httpapi.Options{
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = io.WriteString(w, "up 1\n")
		}),
		Requests: routes,
		Plots:    pngWriter{},
		LivePoll: 10 * time.Millisecond,
	}, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, routes
}

// everyModel is a model store in which every name is a model with 6 water
// in 9 trials on a beta:2,2 prior.
type everyModel struct{}

func (everyModel) Models(_ context.Context, names ...string) ([]query.StoredModel, error) {
	out := make([]query.StoredModel, len(names))
	for i, n := range names {
		out[i] = query.StoredModel{Name: n, Counts: model.Counts{W: 6, N: 9}, Exists: true,
			Spec: events.ModelSpec{Prior: "beta:2,2", GridPoints: 21}}
	}
	return out, nil
}

func (everyModel) ModelPage(_ context.Context, after, prefix string, limit int) ([]string, bool, error) {
	names, more := pageOf([]string{"a", "b"}, after, prefix, limit)
	return names, more, nil
}
func (everyModel) ModelCount(context.Context) (int, error) { return 2, nil }
func (everyModel) Ping(context.Context) error              { return nil }

// pngWriter draws the smallest PNG there is: its signature.
type pngWriter struct{}

func (pngWriter) WritePNG(_ context.Context, w io.Writer, _ query.ModelView) error {
	_, err := w.Write([]byte("\x89PNG\r\n\x1a\n"))
	return err
}

// routeLog is a RequestMetrics that passes on the route of every request.
type routeLog struct{ routes chan string }

func (l *routeLog) Observe(route, _ string, _ int, _ time.Duration) { l.routes <- route }

// next is the route of the next request to end (the middleware observes a
// request when its handler returns, which may be after the client has the
// answer).
func (l *routeLog) next(t *testing.T) string {
	t.Helper()
	select {
	case r := <-l.routes:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no request was observed")
		return ""
	}
}
