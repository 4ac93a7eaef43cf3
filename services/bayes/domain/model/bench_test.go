package model_test

import (
	"fmt"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

var sinkPost []float64
var sinkSummary model.Summary

// BenchmarkObserve measures one Observe. It is O(1): the sub-benchmarks
// preset n to very different sizes and should cost the same.
func BenchmarkObserve(b *testing.B) {
	for _, n := range []int64{0, 10_000, 1_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m := mustModel(b, 120, model.DefaultPrior())
			if err := m.SetCounts(model.Counts{W: n / 2, N: n}); err != nil {
				b.Fatal(err)
			}
			tr := model.Water
			for b.Loop() {
				m.Observe(tr)
			}
			if m.Counts().N <= n {
				b.Fatal("no observation counted")
			}
		})
	}
}

// BenchmarkPosterior derives the normalised posterior from the counts:
// O(grid points).
func BenchmarkPosterior(b *testing.B) {
	for _, points := range []int{120, 1000} {
		b.Run(fmt.Sprintf("points=%d", points), func(b *testing.B) {
			m := mustModel(b, points, model.DefaultPrior())
			if err := m.SetCounts(model.Counts{W: 7_000, N: 10_000}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				sinkPost = m.Posterior()
			}
		})
	}
}

// BenchmarkSummarize is mean, sd, MAP and the 89% HPDI on 120 points.
func BenchmarkSummarize(b *testing.B) {
	m := mustModel(b, 120, model.DefaultPrior())
	if err := m.SetCounts(model.Counts{W: 7, N: 10}); err != nil {
		b.Fatal(err)
	}
	grid, post := m.Grid(), m.Posterior()
	for b.Loop() {
		sinkSummary = model.Summarize(grid, post, model.DefaultHPDIProb)
	}
}
