// Package problem is the error answer of both services' HTTP APIs: an RFC
// 9457 problem details object, which HTTP clients and tools recognise by
// its media type, with the "error" member the original's clients read kept
// beside "detail".
package problem

import (
	"encoding/json"
	"net/http"
)

// ContentType is the media type of a problem details answer.
const ContentType = "application/problem+json"

// Blank is the problem type of every answer: "about:blank" says the status
// code is all a client needs to know the kind of problem (RFC 9457 §4.2.1),
// and the title is that status's text.
const Blank = "about:blank"

// Details is a problem details object. The member order is the order of the
// JSON answer.
type Details struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Error repeats Detail for the clients written against the original's
	// {"error": "..."} answers.
	Error string `json:"error"`
}

// New returns the problem of an answer with status and a message for the
// client (never an internal cause).
func New(status int, detail string) Details {
	return Details{Type: Blank, Title: http.StatusText(status), Status: status, Detail: detail, Error: detail}
}

// Write answers w with the problem of status and detail. Headers set on w
// before (Retry-After, Allow) are kept.
func Write(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(New(status, detail))
}
