package redistest_test

import (
	"context"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

func TestAOFSurvivesKill(t *testing.T) {
	s := redistest.Start(t, redistest.WithAOF())
	ctx := context.Background()
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after SIGKILL and restart: %q, %v", got, err)
	}
}
