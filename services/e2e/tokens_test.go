package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// apiTokens are the tokens of a test: one per scope and one with all of
// them, random per test.
type apiTokens struct {
	all, observe, define, admin string
	file                        string // the tokens file, for API_TOKENS_FILE
}

func (k apiTokens) list() []string { return []string{k.all, k.observe, k.define, k.admin} }

// forScope is the token with exactly scope s; without is one that lacks it.
func (k apiTokens) forScope(s string) string {
	return map[string]string{"observe": k.observe, "define": k.define, "admin": k.admin}[s]
}

func (k apiTokens) without(s string) (token, name string) {
	if s == "observe" {
		return k.define, "definer"
	}
	return k.observe, "observer"
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "tok-" + hex.EncodeToString(b)
}

func writeTokens(t *testing.T) apiTokens {
	t.Helper()
	k := apiTokens{all: randomToken(t), observe: randomToken(t), define: randomToken(t), admin: randomToken(t)}
	k.file = filepath.Join(t.TempDir(), "tokens")
	content := "# the e2e tokens: one per scope and one with all\n\n" +
		"root observe,define,admin " + k.all + "\n" +
		"observer observe " + k.observe + "\n" +
		"definer\tdefine\t" + k.define + "\n" +
		"adminonly admin " + k.admin + "\n"
	if err := os.WriteFile(k.file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// answer is what authCall got: status, headers and, for an error, the
// problem's detail.
type authAnswer struct {
	status int
	header http.Header
	detail string
	raw    string
}

// authCall sends method url with body and, when not empty, authz as the
// Authorization header, through the suite's client (so the exchange is
// checked against the api's OpenAPI document); an error answer must be a
// problem.
func authCall(t *testing.T, method, url, body, authz string) authAnswer {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := authAnswer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if a.status >= 400 {
		if msg := notAProblem(a.status, resp.Header.Get("Content-Type"), raw); msg != "" {
			t.Errorf("%s %s: %d: %s", method, url, a.status, msg)
		}
		var p struct{ Detail string }
		_ = json.Unmarshal(raw, &p)
		a.detail = p.Detail
	}
	return a
}

// startTokenSystem starts redis, one bayes and an api with the tokens of k
// (and extra env), both exporting their spans to rec.
func startTokenSystem(t *testing.T, k apiTokens, rec *otlpReceiver, apiEnv ...string) (*system, *proc) {
	t.Helper()
	srv := redistest.Start(t, redistest.WithAOF())
	s := &system{redis: srv, rdb: srv.Client(), graphs: t.TempDir()}
	env := append([]string{"REDIS_URL=" + srv.URL(), "API_TOKENS_FILE=" + k.file, "LOG_LEVEL=debug"}, otelEnv(rec, "api")...)
	s.api = startProc(t, "api", "api", append(env, apiEnv...)...)
	bayes := s.bayes(t, "a", otelEnv(rec, "bayes")...)
	return s, bayes
}

// Every writing endpoint, with every kind of credential: none (401 with
// the Bearer challenge), a token the api does not have and a malformed
// header (401 invalid_token), a token without the endpoint's scope (403
// naming the token's name and the scope, never the token), and a token with
// it (through, 2xx). Refused requests store nothing: the counts are those
// of the accepted ones. Reads stay open. The refusals are counted by
// reason in /metrics; no token appears in the api's logs, its /metrics or
// any span either service exported.
func TestTokenScopesOnEveryWritingEndpoint(t *testing.T) {
	k := writeTokens(t)
	rec := startOTLPReceiver(t)
	s, bayes := startTokenSystem(t, k, rec)
	const model = "tok-a"

	type endpoint struct {
		method, path, body, scope string
		ok                        int
		after                     func() // once accepted: wait for bayes to apply it
	}
	endpoints := []endpoint{
		{"PUT", "/models/" + model, `{"prior":"beta:2,2","grid_points":50}`, "define", 202, func() {
			eventually(t, 30*time.Second, model+" defined", func() (bool, string) {
				_, err := getModelAt(bayes, "/models/"+model)
				return err == nil, fmt.Sprint(err)
			})
		}},
		{"POST", "/models/" + model + "/observations", `{"w":3,"l":4}`, "observe", 201, func() { waitModel(t, bayes, model, 7) }},
		{"GET", "/update_model/w", "", "observe", 201, nil},
		{"POST", "/update_model/l", "", "observe", 201, func() { waitForN(t, bayes, 2) }},
		{"POST", "/models/" + model + "/reset", "", "admin", 202, func() {
			eventually(t, 30*time.Second, model+" reset", func() (bool, string) {
				v, err := getModelAt(bayes, "/models/"+model)
				return err == nil && v.N == 0 && v.PriorSpec == "beta:2,2", fmt.Sprint(v.N, v.PriorSpec, err)
			})
		}},
		{"DELETE", "/models/" + model, "", "admin", 202, func() {
			eventually(t, 30*time.Second, model+" deleted", func() (bool, string) {
				return statusOf(bayes.url("/models/"+model)) == http.StatusNotFound, ""
			})
		}},
	}
	refusals := map[string]int{}
	for _, e := range endpoints {
		what := e.method + " " + e.path
		url := s.api.url(e.path)
		a := authCall(t, e.method, url, e.body, "")
		if a.status != 401 || a.header.Get("WWW-Authenticate") != `Bearer realm="event-driven-bayes"` || !strings.Contains(a.detail, e.scope) {
			t.Errorf("%s without a token: %d %v %s", what, a.status, a.header.Get("WWW-Authenticate"), a.raw)
		}
		refusals["missing"]++
		for _, bad := range []string{"Bearer " + randomToken(t), "Bearer " + k.all[:len(k.all)-1], "Basic " + k.all, "Bearer " + strings.Repeat("x", 300)} {
			a := authCall(t, e.method, url, e.body, bad)
			if a.status != 401 || a.header.Get("WWW-Authenticate") != `Bearer realm="event-driven-bayes", error="invalid_token"` {
				t.Errorf("%s with a wrong token: %d %v %s", what, a.status, a.header.Get("WWW-Authenticate"), a.raw)
			}
			refusals["invalid"]++
		}
		tok, name := k.without(e.scope)
		a = authCall(t, e.method, url, e.body, "Bearer "+tok)
		if a.status != 403 || !strings.Contains(a.detail, `"`+name+`"`) || !strings.Contains(a.detail, `"`+e.scope+`"`) ||
			a.header.Get("WWW-Authenticate") != `Bearer realm="event-driven-bayes", error="insufficient_scope", scope="`+e.scope+`"` {
			t.Errorf("%s with the token %s, which lacks %s: %d %v %s", what, name, e.scope, a.status, a.header.Get("WWW-Authenticate"), a.raw)
		}
		refusals["forbidden"]++
		// The token with exactly the scope; for the observations, the
		// token with every scope too (the counts below allow for it).
		if a := authCall(t, e.method, url, e.body, "Bearer "+k.forScope(e.scope)); a.status != e.ok {
			t.Fatalf("%s with a token of scope %s: %d %s, want %d", what, e.scope, a.status, a.raw, e.ok)
		}
		if e.after != nil {
			e.after()
		}
	}
	// Refused requests stored nothing: the default model has exactly the
	// two accepted observations, and the deleted model is gone.
	if v := waitForN(t, bayes, 2); v.W != 1 {
		t.Errorf("default model w=%d n=%d, want the accepted w and l only", v.W, v.N)
	}
	// Reads need no token.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"} {
		if st := statusOf(s.api.url(path)); st != 200 {
			t.Errorf("GET %s without a token: %d", path, st)
		}
	}
	// The refusals by reason, in the api's metrics.
	metrics := getText(t, s.api.url("/metrics"))
	for reason, n := range refusals {
		want := fmt.Sprintf(`edb_api_auth_refusals_total{reason=%q} %d`, reason, n)
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// No token anywhere: logs, metrics, spans. The start-up log names the
	// tokens, which shows the log checked is the right one.
	eventually(t, 10*time.Second, "the api's spans exported", func() (bool, string) {
		n := 0
		for _, sp := range rec.all() {
			if sp.service == "api" && strings.Contains(sp.attr("http.target"), model) {
				n++
			}
		}
		return n >= len(endpoints), fmt.Sprint(n, " spans")
	})
	noTokens(t, k, map[string]string{"api log": s.api.logs(), "bayes log": bayes.logs(), "/metrics": metrics, "spans": spanText(rec)})
	if log := s.api.logs(); !strings.Contains(log, `"api_tokens"`) || !strings.Contains(log, `"observer"`) {
		t.Errorf("the api's start-up log does not name its tokens:\n%s", log)
	}
}

// LEGACY_OPEN=1 keeps the original's /update_model open to anyone, as the
// original's clients use it, while every other writing endpoint still
// needs its token.
func TestTokenLegacyOpen(t *testing.T) {
	k := writeTokens(t)
	rec := startOTLPReceiver(t)
	s, bayes := startTokenSystem(t, k, rec, "LEGACY_OPEN=1")
	for _, m := range []string{"GET", "POST"} {
		for _, authz := range []string{"", "Bearer " + randomToken(t)} {
			if a := authCall(t, m, s.api.url("/update_model/w"), "", authz); a.status != 201 {
				t.Errorf("%s /update_model/w with %.12q under LEGACY_OPEN=1: %d %s", m, authz, a.status, a.raw)
			}
		}
	}
	waitForN(t, bayes, 4)
	for _, e := range []struct{ method, path, body, scope string }{
		{"POST", "/models/legacy/observations", `{"trial":"w"}`, "observe"},
		{"PUT", "/models/legacy", `{"prior":"uniform","grid_points":20}`, "define"},
		{"POST", "/models/default/reset", "", "admin"},
		{"DELETE", "/models/legacy", "", "admin"},
	} {
		if a := authCall(t, e.method, s.api.url(e.path), e.body, ""); a.status != 401 {
			t.Errorf("%s %s without a token under LEGACY_OPEN=1: %d %s", e.method, e.path, a.status, a.raw)
		}
	}
	if a := authCall(t, "POST", s.api.url("/models/legacy/observations"), `{"trial":"w"}`, "Bearer "+k.observe); a.status != 201 {
		t.Errorf("with the observe token: %d %s", a.status, a.raw)
	}
	waitModel(t, bayes, "legacy", 1)
	noTokens(t, k, map[string]string{"api log": s.api.logs(), "/metrics": getText(t, s.api.url("/metrics")), "spans": spanText(rec)})
}

// An api whose tokens file is unreadable or invalid does not start, and
// says why naming the variable and the line, never a token.
func TestTokenFileRefusedAtStartup(t *testing.T) {
	k := writeTokens(t)
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("root observe,define,admin "+k.all+"\nci observe,write "+k.observe+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ file, want string }{
		"unknown scope": {bad, "line 2: the scopes"},
		"missing file":  {filepath.Join(t.TempDir(), "none"), "no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			cmd := exec.Command(filepath.Join(binDir, "api"))
			cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(redistest.FreePort(t)), "REDIS_URL="+srv.URL(), "API_TOKENS_FILE="+tc.file)
			out, err := cmd.CombinedOutput()
			if err == nil || cmd.ProcessState.ExitCode() != 2 {
				t.Fatalf("the api started (or failed otherwise): %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "API_TOKENS_FILE=") || !strings.Contains(string(out), tc.want) {
				t.Errorf("start-up error %q does not name API_TOKENS_FILE and %q", out, tc.want)
			}
			noTokens(t, k, map[string]string{"start-up error": string(out)})
		})
	}
}

// noTokens fails t if any of the texts holds one of k's tokens.
func noTokens(t *testing.T, k apiTokens, texts map[string]string) {
	t.Helper()
	for what, text := range texts {
		if text == "" && what != "start-up error" {
			t.Errorf("%s is empty: nothing was checked", what)
		}
		for _, tok := range k.list() {
			if strings.Contains(text, tok) || strings.Contains(text, tok[4:20]) {
				t.Errorf("%s holds a token", what)
			}
		}
	}
}

// spanText is every attribute and event of every span received, as text.
func spanText(rec *otlpReceiver) string {
	var b strings.Builder
	for _, s := range rec.all() {
		fmt.Fprintf(&b, "%s %s", s.service, s.Name)
		for _, kv := range s.Attributes {
			fmt.Fprintf(&b, " %s=%s", kv.Key, anyString(kv.Value))
		}
		for _, e := range s.Events {
			fmt.Fprintf(&b, " event %s", e.Name)
			for _, kv := range e.Attributes {
				fmt.Fprintf(&b, " %s=%s", kv.Key, anyString(kv.Value))
			}
		}
		if s.Status != nil {
			fmt.Fprintf(&b, " status=%s", s.Status.Message)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// statusOf is the status of GET url, 0 when there is no answer.
func statusOf(url string) int {
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// getText is the body of GET url.
func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
