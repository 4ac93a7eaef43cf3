package prior

import "testing"

// BenchmarkLogWeights is the cost of a prior's weights on the largest grid
// (10,000 points): the textbook density, and the cell masses of priors
// with A < 1 or B < 1 computed afresh (a model's first read) and from the
// cache (every later read).
func BenchmarkLogWeights(b *testing.B) {
	const points = 10_000
	for _, tc := range []struct {
		name, spec string
		cached     bool
	}{
		{"density/beta:2,2", "beta:2,2", false},
		{"cells/beta:0.5,0.5", "beta:0.5,0.5", false},
		{"cells/beta:0.2,3", "beta:0.2,3", false},
		{"cells/beta:0.01,0.01", "beta:0.01,0.01", false},
		{"cells-cached/beta:0.5,0.5", "beta:0.5,0.5", true},
	} {
		p, err := Parse(tc.spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if !tc.cached {
					cellWeights.mu.Lock()
					clear(cellWeights.m)
					cellWeights.mu.Unlock()
				}
				if w := p.LogWeights(points); len(w) != points {
					b.Fatalf("%d weights", len(w))
				}
			}
		})
	}
}
