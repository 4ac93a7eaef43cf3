package httpapi_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// checkProblem fails t unless resp and its body are exactly the problem of
// the status (every member, in order) with a detail, and returns the
// detail.
func checkProblem(t *testing.T, what string, resp *http.Response, body string) string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("%s: %s Content-Type %q, want %q", what, resp.Status, ct, problem.ContentType)
	}
	var got problem.Details
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%s: %s body %q is not a problem: %v", what, resp.Status, body, err)
	}
	want, _ := json.Marshal(problem.New(resp.StatusCode, got.Detail))
	if strings.TrimSpace(body) != string(want) || got.Detail == "" {
		t.Errorf("%s: body %s, want %s with a detail", what, body, want)
	}
	return got.Detail
}

// Every error status bayes answers is a problem: its own (400, 404, 503,
// before a feed starts too) and the ones net/http writes in plain text (a
// missing static file, "GET *").
func TestEveryErrorIsAProblem(t *testing.T) {
	store := &liveStore{counts: model.Counts{W: 1, N: 2}}
	srv, _ := liveServer(t, store, "") // no plots
	for _, tc := range []struct {
		method, path string
		status       int
		says         string
	}{
		{"GET", "/models/a.b", 400, "model name"},
		{"GET", "/models/globe/predictive?trials=x", 400, "trials="},
		{"GET", "/compare?models=globe", 400, "model names"},
		{"GET", "/models/nope/events", 404, "nope"},
		{"GET", "/models/zz", 404, "zz"},
		{"GET", "/nope", 404, "no route for GET /nope"},
		{"POST", "/model", 404, "no route for POST /model"},
		{"GET", "/models/globe/plot.png", 404, "plots are not served"},
		{"GET", "/static/", 404, "no route for GET /static/"},
		{"GET", "/static/nope.js", 404, "no route for GET /static/nope.js"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := tc.method + " " + tc.path
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %s, want %d", what, resp.Status, b, tc.status)
			continue
		}
		if d := checkProblem(t, what, resp, string(b)); !strings.Contains(d, tc.says) {
			t.Errorf("%s: detail %q, want it to say %q", what, d, tc.says)
		}
	}

	// The mux's own answer to a request for "*" other than OPTIONS is an
	// empty 400.
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET * HTTP/1.1\r\nHost: bayes\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET *: %s %s", resp.Status, b)
	}
	checkProblem(t, "GET *", resp, string(b))

	// 503 while Redis is down, without its internals.
	store.fail(errors.New("dial tcp 10.0.0.7:6379: connection refused"))
	for _, path := range []string{"/models/globe", "/models", "/compare?models=globe,default"} {
		resp, body := fetch(t, srv.URL+path)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s with Redis down: %s %s", path, resp.Status, body)
			continue
		}
		if d := checkProblem(t, "GET "+path, resp, body); strings.Contains(d, "10.0.0.7") {
			t.Errorf("GET %s: detail %q leaks the cause", path, d)
		}
	}
}
