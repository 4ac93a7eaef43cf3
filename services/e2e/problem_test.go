package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// answerType is the media type both services answer with status: JSON,
// and for every error a problem (RFC 9457).
func answerType(status int) string {
	if status >= 400 {
		return problem.ContentType
	}
	return "application/json"
}

// notAProblem says what is wrong with an error answer of status with
// Content-Type ctype and body raw, or is "" when it is the problem of its
// status with a detail, the "error" member the same.
func notAProblem(status int, ctype string, raw []byte) string {
	var p problem.Details
	switch {
	case ctype != problem.ContentType:
		return fmt.Sprintf("Content-Type %q, want %q", ctype, problem.ContentType)
	case json.Unmarshal(raw, &p) != nil:
		return fmt.Sprintf("body %.200q is not a problem", raw)
	case p != problem.New(status, p.Detail) || p.Detail == "":
		return fmt.Sprintf("body %.200s, want the problem of %d %s with a detail", raw, status, http.StatusText(status))
	}
	return ""
}
