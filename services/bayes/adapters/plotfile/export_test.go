package plotfile

import "time"

// The counters the tests read to see what the coalescer and the renderer
// did; the metrics count renders through the render function's decorator
// (adapters/metrics) instead.

// CoalescerStats are the Coalescer's counters.
type CoalescerStats struct {
	Draws   int64 // render calls that succeeded
	Errors  int64 // render calls that failed
	Ignored int64 // Notify calls dropped as older than, or equal to, a state already seen
}

// Stats returns the coalescer's counters.
func (c *Coalescer) Stats() CoalescerStats {
	return CoalescerStats{Draws: c.draws.Load(), Errors: c.errs.Load(), Ignored: c.ignored.Load()}
}

// Stats are the Renderer's counters.
type Stats struct {
	Renders      int64         // images written successfully
	Failures     int64         // Render calls that returned an error
	LastDuration time.Duration // wall time of the last successful Render
}

// Stats returns the renderer's counters.
func (r *Renderer) Stats() Stats {
	return Stats{
		Renders:      r.renders.Load(),
		Failures:     r.failures.Load(),
		LastDuration: time.Duration(r.lastDur.Load()),
	}
}
