package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/access"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs/openapicheck"
)

// The tokens of the tests: one with every scope, one per scope.
const (
	tokAll     = "all-scopes-0123456789abcdef"
	tokObserve = "observe-only-0123456789abcdef"
	tokDefine  = "define-only-0123456789abcdef"
	tokAdmin   = "admin-only-0123456789abcdef"
	tokUnknown = "not-configured-0123456789abcdef"
)

const tokensFile = "# test tokens\n" +
	"all observe,define,admin " + tokAll + "\n" +
	"observer observe " + tokObserve + "\n" +
	"definer define " + tokDefine + "\n" +
	"admin admin " + tokAdmin + "\n"

func testTokens(t testing.TB) *access.Tokens {
	t.Helper()
	ts, err := access.Parse(strings.NewReader(tokensFile))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func newAuth(t testing.TB, legacyOpen bool, reg prometheus.Registerer) *httpapi.Auth {
	t.Helper()
	a, err := httpapi.NewAuth(testTokens(t), legacyOpen, reg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// writing is every writing endpoint, with a body it takes and the scope
// it needs, and a token with every scope but that one.
var writing = []struct {
	method, path, body string
	scope              access.Scope
	without            string
}{
	{"GET", "/update_model/w", "", access.Observe, tokDefine},
	{"POST", "/update_model/l", "", access.Observe, tokAdmin},
	{"POST", "/models/ab/observations", `{"trial":"w"}`, access.Observe, tokDefine},
	{"PUT", "/models/ab", `{"prior":"uniform","grid_points":50}`, access.Define, tokObserve},
	{"DELETE", "/models/ab", "", access.Admin, tokObserve},
	{"POST", "/models/ab/reset", "", access.Admin, tokDefine},
}

// tokenFor is a token with exactly scope.
func tokenFor(s access.Scope) string {
	return map[access.Scope]string{access.Observe: tokObserve, access.Define: tokDefine, access.Admin: tokAdmin}[s]
}

// exchange sends one request with the Authorization header authz (none
// when empty), checks the answer against the OpenAPI document when it is a
// refusal, and returns it.
func exchange(t *testing.T, f *fiber.App, doc *openapicheck.Doc, method, path, body, authz string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := f.Test(req, 5000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	if r.status == 401 || r.status == 403 {
		checkProblem(t, r)
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		for _, msg := range doc.Exchange(req, []byte(body), resp) {
			t.Error(msg)
		}
	}
	for _, secret := range []string{tokAll, tokObserve, tokDefine, tokAdmin, tokUnknown} {
		if strings.Contains(r.raw, secret) || strings.Contains(r.header.Get("WWW-Authenticate"), secret) {
			t.Errorf("%s %s: the answer quotes a token: %v %s", method, path, r.header, r.raw)
		}
	}
	return r
}

func apiDoc(t *testing.T) *openapicheck.Doc {
	t.Helper()
	d, err := openapicheck.Load("api openapi.json", httpapi.OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Every writing endpoint by every kind of credential: none (401), a
// malformed or unknown one (401 invalid_token), a known token without the
// endpoint's scope (403 naming the token's name and the scope), and a
// token with the scope, alone or among others (through to the handler).
func TestTokensGuardEveryWritingEndpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newModelServer(t, &fakePublisher{}, specStore{"ab": {Prior: "uniform", GridPoints: 50}}, httpapi.Options{Auth: newAuth(t, false, reg)})
	doc := apiDoc(t)
	var missing, invalid, forbidden float64
	for _, w := range writing {
		what := w.method + " " + w.path
		r := exchange(t, f, doc, w.method, w.path, w.body, "")
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="event-driven-bayes"` ||
			!strings.Contains(detail(r), "Authorization: Bearer <token>") || !strings.Contains(detail(r), string(w.scope)) {
			t.Errorf("%s without a token: %d %v %s", what, r.status, r.header, r.raw)
		}
		missing++
		for _, bad := range []string{
			"Bearer " + tokUnknown, "Bearer " + tokAll[:len(tokAll)-1], "Bearer " + tokAll + "x",
			"Bearer", "Bearer ", "Bearer  ", "Bearer" + tokAll, "Token " + tokAll, tokAll,
			"Basic " + tokAll, "Bearer " + tokAll + " " + tokAll, "Bearer " + strings.Repeat("t", 257),
			"Bearer \x01" + tokAll,
		} {
			r := exchange(t, f, doc, w.method, w.path, w.body, bad)
			if r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="event-driven-bayes", error="invalid_token"` {
				t.Errorf("%s with Authorization %.40q: %d %v %s", what, bad, r.status, r.header, r.raw)
			}
			invalid++
		}
		r = exchange(t, f, doc, w.method, w.path, w.body, "Bearer "+w.without)
		wantDetail := `lacks the scope "` + string(w.scope) + `" that ` + w.method + " "
		if r.status != 403 || !strings.Contains(detail(r), wantDetail) ||
			r.header.Get("WWW-Authenticate") != `Bearer realm="event-driven-bayes", error="insufficient_scope", scope="`+string(w.scope)+`"` {
			t.Errorf("%s with a token lacking %s: %d %v %s", what, w.scope, r.status, r.header, r.raw)
		}
		forbidden++
		for _, ok := range []string{"Bearer " + tokenFor(w.scope), "Bearer " + tokAll, "bearer " + tokAll, "BEARER   " + tokenFor(w.scope)} {
			if r := exchange(t, f, doc, w.method, w.path, w.body, ok); r.status == 401 || r.status == 403 {
				t.Errorf("%s with Authorization %.20q…: %d %s", what, ok, r.status, r.raw)
			}
		}
	}
	want := map[string]float64{httpapi.ReasonMissing: missing, httpapi.ReasonInvalid: invalid, httpapi.ReasonForbidden: forbidden}
	if got := refusals(t, reg); !maps.Equal(got, want) {
		t.Errorf("edb_api_auth_refusals_total = %v, want %v", got, want)
	}
}

// detail is the detail of a problem answer, "" for anything else.
func detail(r response) string {
	d, _ := r.body["detail"].(string)
	return d
}

// refusals are the values of edb_api_auth_refusals_total by reason.
func refusals(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "edb_api_auth_refusals_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}

// Every spelling Fiber routes to a writing route is guarded: the check is
// the route's handler, not a match on the path.
func TestTokensGuardEverySpelling(t *testing.T) {
	f := newModelServer(t, &fakePublisher{}, specStore{}, httpapi.Options{Auth: newAuth(t, false, nil)})
	doc := apiDoc(t)
	for _, p := range []string{"/UPDATE_MODEL/w", "/update_model/w/", "/Update_Model/l", "/models/ab/observations/", "/MODELS/ab/OBSERVATIONS"} {
		if r := exchange(t, f, doc, "POST", p, `{"trial":"w"}`, ""); r.status != 401 {
			t.Errorf("POST %s without a token: %d %s", p, r.status, r.raw)
		}
	}
}

// Reading needs no token: probes, metrics and the documentation stay open,
// and a 404 or 405 near a guarded route is answered as without tokens.
func TestTokensLeaveReadsOpen(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newModelServer(t, &fakePublisher{}, specStore{}, httpapi.Options{
		Auth: newAuth(t, false, reg), MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	})
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/healthz", 200}, {"HEAD", "/healthz", 200}, {"GET", "/readyz", 200},
		{"GET", "/metrics", 200}, {"GET", "/openapi.json", 200}, {"GET", "/docs", 200},
		{"GET", "/models/ab", 405}, {"HEAD", "/update_model/w", 405}, {"GET", "/update_model/x/y", 404},
	} {
		resp, err := f.Test(httptest.NewRequest(tc.method, tc.path, nil), 5000)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s without a token: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

// LEGACY_OPEN=1 keeps the original's endpoint open to anyone, tokens or
// not, while every other writing endpoint still needs its scope.
func TestLegacyOpen(t *testing.T) {
	pub := &fakePublisher{}
	f := newModelServer(t, pub, specStore{}, httpapi.Options{Auth: newAuth(t, true, nil)})
	doc := apiDoc(t)
	for _, authz := range []string{"", "Bearer " + tokUnknown, "Bearer " + tokDefine, "garbage"} {
		for _, m := range []string{"GET", "POST"} {
			if r := exchange(t, f, doc, m, "/update_model/w", "", authz); r.status != 201 {
				t.Errorf("%s /update_model/w with %q under LEGACY_OPEN: %d %s", m, authz, r.status, r.raw)
			}
		}
	}
	if got := len(pub.published()); got != 8 {
		t.Errorf("%d observations published, want 8", got)
	}
	for _, w := range writing[2:] {
		if r := exchange(t, f, doc, w.method, w.path, w.body, ""); r.status != 401 {
			t.Errorf("%s %s without a token under LEGACY_OPEN: %d, want 401", w.method, w.path, r.status)
		}
	}
}

// Tokens off (no Auth): an Authorization header, however odd, is ignored.
func TestTokensOffIgnoreAuthorization(t *testing.T) {
	f := newModelServer(t, &fakePublisher{}, specStore{}, httpapi.Options{})
	for _, authz := range []string{"", "Bearer " + tokUnknown, "Basic Zm9vOmJhcg==", "nonsense"} {
		if r := send(t, f, "POST", "/models/ab/observations", `{"w":1,"l":2}`, "Authorization", authz); r.status != 201 {
			t.Errorf("tokens off, Authorization %q: %d %s", authz, r.status, r.raw)
		}
	}
}

// A header beyond the server's read buffer gets Fiber's 431, as a problem
// like every other error, whether tokens are on or off. (app.Test reports
// that one as an error: it is answered while fasthttp reads the request.)
func TestHugeAuthorizationIsAProblem431(t *testing.T) {
	for name, opts := range map[string]httpapi.Options{"off": {}, "on": {Auth: newAuth(t, false, nil)}} {
		addr := serve(t, newModelServer(t, &fakePublisher{}, specStore{}, opts))
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		// Written alongside the read: the server answers, and may close,
		// before it has read it all.
		go func() {
			_, _ = io.WriteString(conn, "POST /models/ab/observations HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer "+
				strings.Repeat("t", 16<<10)+"\r\nContent-Length: 13\r\n\r\n{\"trial\":\"w\"}")
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("tokens %s: %v", name, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
		if r.status != fiber.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("tokens %s: %d %s, want 431", name, r.status, r.raw)
		}
		checkProblem(t, r)
	}
}

// A browser on another origin may send the Authorization header.
func TestCORSAllowsAuthorization(t *testing.T) {
	f := newModelServer(t, &fakePublisher{}, specStore{}, httpapi.Options{
		CORSOrigins: []string{"http://localhost:8001"}, Auth: newAuth(t, false, nil),
	})
	r := send(t, f, "OPTIONS", "/models/ab/observations", "",
		"Origin", "http://localhost:8001", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
	if r.status != 204 || !strings.Contains(strings.ToLower(r.header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}
}

// Spans carry no credential: otelfiber records the user of a Basic header
// as enduser.id, so the api drops Basic credentials before it (a token sent
// as curl -u TOKEN: must not reach a trace), and nothing records a Bearer
// token.
func TestSpansCarryNoCredentials(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})
	basic := "Basic " + "YWxsLXNjb3Blcy0wMTIzNDU2Nzg5YWJjZGVmOg==" // base64("all-scopes-0123456789abcdef:")
	for name, opts := range map[string]httpapi.Options{"off": {Tracing: true}, "on": {Tracing: true, Auth: newAuth(t, false, nil)}} {
		f := newModelServer(t, &fakePublisher{}, specStore{}, opts)
		for _, authz := range []string{basic, "Bearer " + tokAll, "Bearer " + tokUnknown} {
			send(t, f, "POST", "/models/ab/observations", `{"trial":"w"}`, "Authorization", authz)
		}
		if len(rec.Ended()) == 0 {
			t.Fatalf("tokens %s: no span recorded", name)
		}
	}
	for _, s := range rec.Ended() {
		for _, kv := range s.Attributes() {
			v := kv.Value.Emit()
			if kv.Key == "enduser.id" || strings.Contains(v, "0123456789abcdef") || strings.Contains(v, "YWxsLXNj") {
				t.Errorf("span %s has %s=%q", s.Name(), kv.Key, v)
			}
		}
		for _, e := range s.Events() {
			for _, kv := range e.Attributes {
				if strings.Contains(kv.Value.Emit(), "0123456789abcdef") {
					t.Errorf("span %s event %s has %s=%q", s.Name(), e.Name, kv.Key, kv.Value.Emit())
				}
			}
		}
	}
}

// NewAuth refuses to guard with no token at all.
func TestNewAuthNeedsTokens(t *testing.T) {
	if _, err := httpapi.NewAuth(nil, false, nil); err == nil {
		t.Fatal("no error for nil tokens")
	}
}

// The status of a request with a valid token is what it is without
// tokens: the guard adds nothing to the answer.
func TestGuardedAnswerIsTheHandlers(t *testing.T) {
	plain := newModelServer(t, &fakePublisher{}, specStore{}, httpapi.Options{})
	guarded := newModelServer(t, &fakePublisher{}, specStore{}, httpapi.Options{Auth: newAuth(t, false, nil)})
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/models/ab/observations", `{"w":3}`},
		{"POST", "/models/ab/observations", `{"trial":"x"}`},
		{"PUT", "/models/ab", `{"prior":"uniform","grid_points":50}`},
		{"GET", "/update_model/x", ""},
	} {
		a := send(t, plain, tc.method, tc.path, tc.body)
		b := send(t, guarded, tc.method, tc.path, tc.body, "Authorization", "Bearer "+tokAll)
		if a.status != b.status || a.body["detail"] != b.body["detail"] {
			t.Errorf("%s %s: %d %s without tokens, %d %s with", tc.method, tc.path, a.status, a.raw, b.status, b.raw)
		}
	}
}
