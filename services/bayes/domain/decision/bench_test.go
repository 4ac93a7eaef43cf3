package decision_test

import (
	"fmt"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/decision"
)

// The costs of an A/B comparison of two models at the grid sizes people
// use: the default 120 points, 1,001 (a step of 0.1%) and the largest.
// CompareBest, the uplift and Thompson grow with the grid; the difference
// with its square (every pair of points).
func BenchmarkCompare(b *testing.B) {
	for _, points := range []int{120, 1001, 10_000} {
		a := posterior(b, points, "uniform", 24, 400)
		v := posterior(b, points, "uniform", 38, 400)
		ds := []decision.Dist{a, v}
		b.Run(fmt.Sprintf("best/grid=%d", points), func(b *testing.B) {
			for b.Loop() {
				if _, err := decision.CompareBest(ds); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("difference/grid=%d", points), func(b *testing.B) {
			for b.Loop() {
				if _, err := decision.CompareDifference(a, v, 0.89); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("uplift/grid=%d", points), func(b *testing.B) {
			for b.Loop() {
				if _, err := decision.CompareUplift(a, v, 0.89); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("thompson-10000/grid=%d", points), func(b *testing.B) {
			for b.Loop() {
				if _, err := decision.Thompson(ds, decision.MaxDraws, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
