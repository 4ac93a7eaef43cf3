// Package clip shortens what a client sent before an error message quotes
// it, so that no input, however large, becomes a log line, a dead letter or
// a JSON answer of the same size. Both services use it for every value they
// quote back.
package clip

// The lengths values are clipped to.
const (
	// Field is for a stream entry's field, a model name or a spec: the
	// longest valid model name fits whole.
	Field = 64
	// Param is for a URL path segment or query parameter.
	Param = 32
)

// String returns s when it has at most max bytes, else its first max bytes
// followed by "…".
func String(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
