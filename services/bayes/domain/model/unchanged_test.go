package model_test

import (
	"fmt"
	"hash/fnv"
	"math"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// Every prior that was valid before Beta priors with A < 1 or B < 1 were
// added gives bit for bit the numbers it gave then: grid, prior, posterior
// and summary, on grids from 3 to 10,000 points and counts up to a million.
// The hashes were taken from the code before that change; a change in the
// last bit of any number fails this test.
func TestExistingPriorsGiveTheSameNumbers(t *testing.T) {
	for _, tc := range []struct {
		spec string
		hash uint64
	}{
		{"step:0.1", 0xca2783f63f37dc56},
		{"step:0", 0x8b7fd8066d0882b3},
		{"step:0.5", 0x82cb43efdb093ee2},
		{"uniform", 0xb3ce481f17ec826b},
		{"beta:1,1", 0xb3ce481f17ec826b},
		{"beta:2,2", 0xb9cf17a3906df049},
		{"beta:3,1", 0x12ff1517d042b940},
		{"beta:1,5", 0x02b528854cb68860},
		{"beta:2.5,7.25", 0x6e1f6aacebfd02c0},
		{"beta:30,30", 0xcc11cc853dbc1a20},
		{"beta:1e300,1", 0x09b12bb31b671663},
		{"beta:1.0000001,1", 0xc7e0d7d077f0be19},
	} {
		if got := numbersHash(t, tc.spec); got != tc.hash {
			t.Errorf("%s: the numbers hash to %#016x, were %#016x", tc.spec, got, tc.hash)
		}
	}
}

// numbersHash is FNV-1a over the bits of every number the model of spec
// gives on a set of grids and counts (a grid the prior does not cover
// contributes its error text).
func numbersHash(t *testing.T, spec string) uint64 {
	t.Helper()
	p, err := model.ParsePrior(spec)
	if err != nil {
		t.Fatal(err)
	}
	h := fnv.New64a()
	for _, points := range []int{3, 4, 50, 101, 999, 10000} {
		m, err := model.New(points, p)
		if err != nil {
			fmt.Fprintf(h, "err %v;", err)
			continue
		}
		for _, c := range []model.Counts{{}, {W: 7, N: 10}, {W: 1, N: 1}, {W: 0, N: 3}, {W: 333, N: 1000}, {W: 999_999, N: 1_000_000}} {
			if err := m.SetCounts(c); err != nil {
				t.Fatal(err)
			}
			for _, xs := range [][]float64{m.Grid(), m.PriorMass(), m.Posterior()} {
				for _, x := range xs {
					fmt.Fprintf(h, "%x,", math.Float64bits(x))
				}
			}
			s := model.Summarize(m.Grid(), m.Posterior(), 0.89)
			fmt.Fprintf(h, "%x %x %x %x %x;", math.Float64bits(s.Mean), math.Float64bits(s.SD), math.Float64bits(s.MAP), math.Float64bits(s.HPDI.Lo), math.Float64bits(s.HPDI.Hi))
		}
	}
	return h.Sum64()
}
