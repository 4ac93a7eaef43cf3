package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/telemetry"
)

type myError struct{}

func (myError) Error() string { return "mine" }

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("XADD: %w", context.DeadlineExceeded), "timeout"},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, "timeout"},
		{context.Canceled, "canceled"},
		{fmt.Errorf("wrapped: %w", myError{}), "github.com/event-driven-bayes/event-driven-bayes/services/platform/telemetry_test.myError"},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, "*net.OpError"},
	} {
		if got := telemetry.ErrorType(tc.err); string(got.Key) != "error.type" || got.Value.AsString() != tc.want {
			t.Errorf("ErrorType(%v) = %v=%q, want error.type=%q", tc.err, got.Key, got.Value.AsString(), tc.want)
		}
	}
}

// A Redis error reply is named by its code.
func TestErrorTypeOfARedisReply(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	err := rdb.Do(context.Background(), "NOSUCHCOMMAND").Err()
	if got := telemetry.ErrorType(fmt.Errorf("sending: %w", err)).Value.AsString(); got != "ERR" {
		t.Fatalf("ErrorType(%v) = %q, want ERR", err, got)
	}
}
