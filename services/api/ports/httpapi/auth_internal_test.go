package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/access"
)

// Every route that can change state has a scope, so a new writing route
// cannot be added open by forgetting one; every scope is one a token can
// grant; the legacy route is where LEGACY_OPEN looks for it.
func TestEveryWritingRouteHasAScope(t *testing.T) {
	legacy := false
	for _, r := range (server{}).routes(http.NotFoundHandler()).routes {
		reads := true
		for _, m := range r.methods {
			reads = reads && (m == fiber.MethodGet || m == fiber.MethodHead)
		}
		switch {
		case !reads && r.scope == "":
			t.Errorf("%v %s writes but has no scope", r.methods, r.path)
		case r.scope != "" && !slices.Contains(access.Scopes, r.scope):
			t.Errorf("%v %s has the scope %q, which no token can grant", r.methods, r.path, r.scope)
		}
		if r.path == legacyPath {
			legacy = true
			if r.scope != ScopeObserve {
				t.Errorf("%s has the scope %q, want observe", legacyPath, r.scope)
			}
		}
	}
	if !legacy {
		t.Errorf("no route %s: LEGACY_OPEN would open nothing", legacyPath)
	}
}

// guard wraps exactly the routes with a scope (and, under LEGACY_OPEN, not
// the legacy one), and leaves the table's derived lists as they were.
func TestGuardWrapsOnlyScopedRoutes(t *testing.T) {
	ts, err := access.Parse(strings.NewReader("a observe token-0123456789abcdef\n"))
	if err != nil {
		t.Fatal(err)
	}
	table := (server{}).routes(http.NotFoundHandler())
	for _, legacyOpen := range []bool{false, true} {
		a, err := NewAuth(ts, legacyOpen, nil)
		if err != nil {
			t.Fatal(err)
		}
		guarded := a.guard(table)
		if len(guarded.routes) != len(table.routes) || !slices.Equal(guarded.tracedPrefixes, table.tracedPrefixes) ||
			!slices.Equal(guarded.unlimitedPaths, table.unlimitedPaths) {
			t.Fatalf("guard changed the table's shape")
		}
		for i, r := range guarded.routes {
			wrapped := !sameFunc(r.handler, table.routes[i].handler)
			want := r.scope != "" && !(legacyOpen && r.path == legacyPath)
			if wrapped != want {
				t.Errorf("legacyOpen=%v: %v %s wrapped=%v, want %v", legacyOpen, r.methods, r.path, wrapped, want)
			}
		}
	}
}

// sameFunc reports whether two handlers are the same function value: a
// wrapped handler is a new closure.
func sameFunc(a, b fiber.Handler) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}

func TestDisplayPathAndBearer(t *testing.T) {
	for in, want := range map[string]string{"/models/:name": "/models/{name}", "/models/:name/reset": "/models/{name}/reset", "/healthz": "/healthz"} {
		if got := displayPath(in); got != want {
			t.Errorf("displayPath(%q) = %q", in, got)
		}
	}
	for in, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "BeArEr   abc": "abc",
		"Bearer": "", "Bearer ": "", "Bearerabc": "", "Bearer a b": "", "Basic abc": "", "Bear abc": "",
	} {
		tok, ok := bearerToken([]byte(in))
		if got := string(tok); (want != "") != ok || (ok && got != want) {
			t.Errorf("bearerToken(%q) = %q, %v", in, got, ok)
		}
	}
}

// The OpenAPI document says what the route table does: each writing
// operation is optional-or-bearer with the scope of its route and answers
// 401 and 403; a reading one has no security and no such answers.
func TestOpenAPISecurityIsTheRouteTables(t *testing.T) {
	type operation struct {
		Security  []map[string][]string      `json:"security"`
		Responses map[string]json.RawMessage `json:"responses"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"` // operations and parameters
		Components struct {
			SecuritySchemes map[string]struct{ Type, Scheme string } `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if s := doc.Components.SecuritySchemes["bearer"]; s.Type != "http" || s.Scheme != "bearer" {
		t.Fatalf("securitySchemes.bearer = %+v, want http bearer", s)
	}
	for _, r := range (server{}).routes(http.NotFoundHandler()).routes {
		for _, m := range r.methods {
			raw, ok := doc.Paths[displayPath(r.path)][strings.ToLower(m)]
			if !ok {
				continue // TestOpenAPIDocumentHasEveryRoute reports it
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", m, r.path, err)
			}
			_, has401 := op.Responses["401"]
			_, has403 := op.Responses["403"]
			what := m + " " + displayPath(r.path)
			if r.scope == "" {
				if op.Security != nil || has401 || has403 {
					t.Errorf("%s reads, but the document gives it security %v or a 401/403", what, op.Security)
				}
				continue
			}
			want := []map[string][]string{{}, {"bearer": {string(r.scope)}}}
			if len(op.Security) != 2 || len(op.Security[0]) != 0 || !slices.Equal(op.Security[1]["bearer"], want[1]["bearer"]) || len(op.Security[1]) != 1 {
				t.Errorf("%s: security %v, want %v (tokens optional, scope %s)", what, op.Security, want, r.scope)
			}
			if !has401 || !has403 {
				t.Errorf("%s needs a token but the document has no 401 or 403", what)
			}
		}
	}
}
