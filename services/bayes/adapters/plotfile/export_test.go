package plotfile

import "time"

// The counters the tests read to see what the pool and the renderer did;
// the metrics count renders through the render function's decorator
// (adapters/metrics) instead.

// WithImage replaces the PNG encoder: the tests of the pool count, hold or
// fail draws there, and a cheap image lets ten thousand models be drawn in
// a test through the real files, state file and retention.
func WithImage(f func(Snapshot) ([]byte, error)) Option {
	return func(m *Models) { m.image = f }
}

// Draw is the real encoder, for a WithImage that wraps it.
var Draw = draw

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
