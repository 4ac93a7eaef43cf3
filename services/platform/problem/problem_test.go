package problem_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// The JSON is exactly the contract's: every member, in order, the title
// the status's text and the error member the same as the detail.
func TestNewEncodesTheContract(t *testing.T) {
	for _, tc := range []struct {
		status int
		detail string
		want   string
	}{
		{404, "model zz not found", `{"type":"about:blank","title":"Not Found","status":404,"detail":"model zz not found","error":"model zz not found"}`},
		{503, "redis is unavailable", `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"redis is unavailable","error":"redis is unavailable"}`},
		{413, "", `{"type":"about:blank","title":"Request Entity Too Large","status":413,"detail":"","error":""}`},
	} {
		b, err := json.Marshal(problem.New(tc.status, tc.detail))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("New(%d, %q) = %s, want %s", tc.status, tc.detail, b, tc.want)
		}
	}
}

// Write sets the media type and the status, keeps the headers set before
// and writes the problem.
func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Retry-After", "1")
	problem.Write(rec, http.StatusServiceUnavailable, "shutting down")
	if rec.Code != 503 || rec.Header().Get("Content-Type") != problem.ContentType || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
	}
	var got problem.Details
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got != problem.New(503, "shutting down") {
		t.Errorf("body %+v", got)
	}
}
