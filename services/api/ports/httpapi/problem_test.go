package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// wantContentType is the media type of an answer with status: JSON, and a
// problem for every error.
func wantContentType(status int) string {
	if status >= 400 {
		return problem.ContentType
	}
	return "application/json"
}

// checkProblem fails t unless r is exactly the problem of its status (every
// member, in order) with a detail, and returns the detail.
func checkProblem(t *testing.T, r response) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("%d: Content-Type %q, want %q", r.status, ct, problem.ContentType)
	}
	var got problem.Details
	if err := json.Unmarshal([]byte(r.raw), &got); err != nil {
		t.Fatalf("%d: body %q is not a problem: %v", r.status, r.raw, err)
	}
	want, _ := json.Marshal(problem.New(r.status, got.Detail))
	if strings.TrimSpace(r.raw) != string(want) || got.Detail == "" {
		t.Errorf("%d: body %s, want %s with a detail", r.status, r.raw, want)
	}
	return got.Detail
}

// Every error status the api answers is a problem, whether an app error
// (400, 404, 409, 503), Fiber's own (404, 405, 413) or the rate limit's
// (429), and the headers that go with some of them stay.
func TestEveryErrorIsAProblem(t *testing.T) {
	specs := specStore{"old": {Prior: "beta:2,2", GridPoints: 200}}
	f := newModelServer(t, &fakePublisher{}, specs, httpapi.Options{})
	for _, tc := range []struct {
		method, path, body string
		status             int
		header             string // a header the answer must have
	}{
		{"POST", "/models/ab/observations", `{"trial":"x"}`, 400, ""},
		{"BREW", "/update_model/w", "", 400, ""},
		{"GET", "/update_model/x", "", 404, ""},
		{"GET", "/nope", "", 404, ""},
		{"DELETE", "/update_model/w", "", 405, "Allow"},
		{"PUT", "/models/old", `{"prior":"uniform","grid_points":200}`, 409, ""},
	} {
		r := send(t, f, tc.method, tc.path, tc.body)
		if r.status != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.raw, tc.status)
			continue
		}
		// send has checked that the answer is a problem.
		if tc.header != "" && r.header.Get(tc.header) == "" {
			t.Errorf("%s %s: %d without %s", tc.method, tc.path, r.status, tc.header)
		}
	}

	// 413: refused while fasthttp reads the body, before any route.
	r := post(t, serve(t, newServerWith(t, &fakePublisher{}, fakePinger{}, httpapi.Options{Stream: "update_model"})),
		"/update_model/w", httpapi.DefaultMaxBodyBytes+1, httpapi.DefaultMaxBodyBytes)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d %s", r.status, r.raw)
	}
	checkProblem(t, r)

	// 429, with the Retry-After the client needs.
	limited := newServerWith(t, &fakePublisher{}, fakePinger{}, httpapi.Options{Stream: "update_model", Limits: httpapi.Limits{RatePerSecond: 1, Burst: 1}})
	for range 10 {
		if r = do(t, limited, http.MethodGet, "/update_model/w"); r.status != http.StatusCreated {
			break
		}
	}
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the rate limit: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	checkProblem(t, r)

	// 503, with Retry-After, and not a word of the cause.
	r = do(t, newServer(t, &fakePublisher{err: errors.New("dial tcp: secret")}, fakePinger{}), http.MethodGet, "/update_model/w")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
		t.Fatalf("store down: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	if d := checkProblem(t, r); strings.Contains(d, "secret") {
		t.Errorf("503 detail %q leaks the cause", d)
	}
}
