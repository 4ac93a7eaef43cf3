// Package logging builds the one JSON slog.Logger a service passes down.
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// Levels are the values LOG_LEVEL may take; configuration readers check
// against them so a typo is an error rather than a silent "info".
var Levels = []string{"debug", "info", "warn", "error"}

// New returns a JSON logger writing to w at the level named by level
// ("debug", "info", "warn", "error"; anything else means info) with the
// service name on every line, and trace_id and span_id on every line
// logged with a context that carries a span.
func New(w io.Writer, service, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})
	return slog.New(traceHandler{h}).With("service", service)
}
