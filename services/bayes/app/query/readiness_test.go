package query_test

import (
	"context"
	"errors"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

// Ready only when every Redis answers: a replica reads every shard.
func TestReadinessAsksEveryPinger(t *testing.T) {
	if _, err := query.NewReadinessHandler(); err == nil {
		t.Error("no pinger accepted")
	}
	if _, err := query.NewReadinessHandler(pinger{}, nil); err == nil {
		t.Error("a nil pinger accepted")
	}
	ok, _ := query.NewReadinessHandler(pinger{}, pinger{}, pinger{})
	if err := ok.Handle(context.Background()); err != nil {
		t.Fatalf("all answer: %v", err)
	}
	down := errors.New("redis serving update_model:2: connection refused")
	h, _ := query.NewReadinessHandler(pinger{}, pinger{}, pinger{err: down})
	err := h.Handle(context.Background())
	if !errors.Is(err, down) || apperr.KindOf(err) != apperr.Unavailable {
		t.Fatalf("one shard down: %v", err)
	}
}
