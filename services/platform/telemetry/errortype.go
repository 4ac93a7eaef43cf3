package telemetry

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ErrorType is the error.type attribute (OpenTelemetry semantic
// conventions) of a span that failed with err: a short name, the same for
// every failure of a kind, so traces can be grouped by it. A deadline or a
// network timeout is "timeout", a cancelled context "canceled", a Redis
// error reply its code (NOPERM, OOM, READONLY: what the database
// conventions would put in db.response.status_code), anything else the Go
// type of err, as semconv.ErrorType names it.
func ErrorType(err error) attribute.KeyValue {
	var timeout interface{ Timeout() bool }
	var reply redis.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &timeout) && timeout.Timeout():
		return semconv.ErrorTypeKey.String("timeout")
	case errors.Is(err, context.Canceled):
		return semconv.ErrorTypeKey.String("canceled")
	case errors.As(err, &reply):
		if code, _, _ := strings.Cut(reply.Error(), " "); code != "" {
			return semconv.ErrorTypeKey.String(code)
		}
	}
	return semconv.ErrorType(err)
}
