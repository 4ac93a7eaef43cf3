package plotfile

import (
	"fmt"
	"sync"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// SnapshotFunc returns a function that turns counts into a Snapshot on a
// grid of points with prior. The model is built (and its parameters
// validated) once, here, so a bad configuration fails at start-up rather
// than on every render; the returned function is safe for concurrent use.
func SnapshotFunc(points int, prior model.Prior) (func(model.Counts) (Snapshot, error), error) {
	m, err := model.New(points, prior)
	if err != nil {
		return nil, fmt.Errorf("building plot model: %w", err)
	}
	// The model is reused (its log tables cost O(points) to build) and
	// SetCounts mutates it, hence the lock.
	var mu sync.Mutex
	grid, priorMass := m.Grid(), m.PriorMass()
	return func(c model.Counts) (Snapshot, error) {
		mu.Lock()
		defer mu.Unlock()
		if err := m.SetCounts(c); err != nil {
			return Snapshot{}, fmt.Errorf("snapshot: %w", err)
		}
		// Grid and prior never change; each Snapshot gets its own copy so a
		// caller may keep or change it freely.
		return Snapshot{
			Counts:     c,
			GridPoints: points,
			Grid:       append([]float64(nil), grid...),
			Prior:      append([]float64(nil), priorMass...),
			Posterior:  m.Posterior(),
		}, nil
	}, nil
}
