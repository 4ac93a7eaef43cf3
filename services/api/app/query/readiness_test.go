package query_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

type pingFunc func(ctx context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

func TestReadiness(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		h, err := query.NewReadinessHandler(pingFunc(func(context.Context) error { return nil }), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Handle(context.Background()); err != nil {
			t.Fatalf("Handle: %v", err)
		}
	})
	t.Run("store down", func(t *testing.T) {
		down := errors.New("connection refused")
		h, _ := query.NewReadinessHandler(pingFunc(func(context.Context) error { return down }), time.Second)
		err := h.Handle(context.Background())
		if apperr.KindOf(err) != apperr.Unavailable || !errors.Is(err, down) {
			t.Fatalf("Handle = %v, want Unavailable wrapping %v", err, down)
		}
	})
	t.Run("ping is bounded by the timeout", func(t *testing.T) {
		var deadline time.Time
		var hasDeadline bool
		h, _ := query.NewReadinessHandler(pingFunc(func(ctx context.Context) error {
			deadline, hasDeadline = ctx.Deadline()
			return nil
		}), 50*time.Millisecond)
		start := time.Now()
		if err := h.Handle(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !hasDeadline || deadline.Sub(start) > time.Second {
			t.Fatalf("ping context deadline = %v (set %v), want within the 50ms timeout", deadline.Sub(start), hasDeadline)
		}
	})
	t.Run("constructor rejects bad dependencies", func(t *testing.T) {
		if _, err := query.NewReadinessHandler(nil, time.Second); err == nil {
			t.Error("nil pinger accepted")
		}
		if _, err := query.NewReadinessHandler(pingFunc(func(context.Context) error { return nil }), 0); err == nil {
			t.Error("zero timeout accepted")
		}
	})
}
