package query_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

type state struct {
	c   model.Counts
	err error
}

func (s state) State(context.Context) (model.Counts, error) { return s.c, s.err }

func TestViewIsTheContract(t *testing.T) {
	h, err := query.NewCurrentModelHandler("default", 120, model.UniformPrior(), state{c: model.Counts{W: 7, N: 10}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := h.Handle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "default" || v.W != 7 || v.N != 10 || len(v.Grid) != 120 || len(v.Prior) != 120 || len(v.Posterior) != 120 {
		t.Fatalf("view %+v", v)
	}
	var sp, sq float64
	for i := range v.Prior {
		sp += v.Prior[i]
		sq += v.Posterior[i]
	}
	if math.Abs(sp-1) > 1e-12 || math.Abs(sq-1) > 1e-12 {
		t.Fatalf("prior sums to %v, posterior to %v", sp, sq)
	}
	if math.Abs(v.Mean-0.6667) > 5e-4 || math.Abs(v.SD-0.131) > 5e-4 || v.HPDI.Prob != 0.89 {
		t.Fatalf("mean %v sd %v hpdi %+v", v.Mean, v.SD, v.HPDI)
	}
}

func TestStateFailureIsUnavailable(t *testing.T) {
	h, _ := query.NewCurrentModelHandler("default", 120, model.UniformPrior(), state{err: errors.New("i/o timeout")})
	if _, err := h.Handle(context.Background()); apperr.KindOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want kind unavailable", err)
	}
	bad, _ := query.NewCurrentModelHandler("default", 120, model.UniformPrior(), state{c: model.Counts{W: 3, N: 1}})
	if _, err := bad.Handle(context.Background()); err == nil {
		t.Fatal("impossible counts served")
	}
}

func TestConstructorChecksConfig(t *testing.T) {
	if _, err := query.NewCurrentModelHandler("default", 1, model.UniformPrior(), state{}); err == nil {
		t.Error("grid of 1 point accepted")
	}
	if _, err := query.NewCurrentModelHandler("default", 120, model.UniformPrior(), nil); err == nil {
		t.Error("nil state reader accepted")
	}
}
