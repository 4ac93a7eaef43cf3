package query

import (
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// specModels holds at most maxSpecPoints grid points, and a spec it built
// is served from it until it starts again.
func TestSpecModelsIsBounded(t *testing.T) {
	var c specModels
	for i := range 30 {
		spec := events.ModelSpec{Prior: "uniform", GridPoints: 9000 + i}
		m, err := c.get(spec)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := c.get(spec); again != m {
			t.Fatalf("spec %d built twice in a row", i)
		}
		if c.points > maxSpecPoints || len(c.m) == 0 {
			t.Fatalf("after %d specs: %d points in %d models", i+1, c.points, len(c.m))
		}
	}
	if _, err := c.get(events.ModelSpec{Prior: "nope", GridPoints: 10}); err == nil {
		t.Fatal("a bad prior built")
	}
}
