package query_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// store holds models in memory and counts the names it was asked for.
type store struct {
	models map[string]query.StoredModel
	err    error
	asked  int
}

func (s *store) Models(_ context.Context, names ...string) ([]query.StoredModel, error) {
	if s.err != nil {
		return nil, s.err
	}
	s.asked += len(names)
	out := make([]query.StoredModel, len(names))
	for i, n := range names {
		out[i] = s.models[n]
		out[i].Name = n
	}
	return out, nil
}

func (s *store) ModelNames(context.Context) ([]string, error) {
	var names []string
	for n := range s.models {
		names = append(names, n)
	}
	slices.Sort(names) // as the interface promises
	return names, s.err
}

var defaults = events.ModelSpec{Prior: "uniform", GridPoints: 120}

func newModels(t *testing.T, s *store) *query.Models {
	t.Helper()
	m, err := query.NewModels(defaults, s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGet(t *testing.T) {
	s := &store{models: map[string]query.StoredModel{
		"ab": {Counts: model.Counts{W: 7, N: 10}, Spec: events.ModelSpec{Prior: "beta:2,2", GridPoints: 11}, Exists: true},
		// The default model's counts from before specs were stored.
		"default": {Counts: model.Counts{W: 7, N: 10}, Exists: true},
	}}
	m := newModels(t, s)
	v, err := m.Get(context.Background(), "ab", model.DefaultHPDIProb)
	if err != nil || v.PriorSpec != "beta:2,2" || v.GridPoints != 11 || len(v.Posterior) != 11 {
		t.Fatalf("ab = %+v, %v", v, err)
	}
	v, err = m.Get(context.Background(), "default", model.DefaultHPDIProb)
	if err != nil || v.PriorSpec != "uniform" || v.GridPoints != 120 || v.N != 10 {
		t.Fatalf("default without a stored spec = %+v, %v", v, err)
	}
	if _, err := m.Get(context.Background(), "nope", model.DefaultHPDIProb); apperr.KindOf(err) != apperr.NotFound {
		t.Fatalf("unknown model: %v", err)
	}
	if _, err := m.Get(context.Background(), "a/b", model.DefaultHPDIProb); apperr.KindOf(err) != apperr.IncorrectInput {
		t.Fatalf("bad name: %v", err)
	}
	empty := newModels(t, &store{})
	if v, err := empty.Get(context.Background(), "default", model.DefaultHPDIProb); err != nil || v.N != 0 || v.GridPoints != 120 {
		t.Fatalf("the default model exists before its first observation: %+v, %v", v, err)
	}
	// The intervals hold the mass asked for; the rest of the view does not
	// depend on it.
	narrow, _ := m.Get(context.Background(), "ab", model.DefaultHPDIProb)
	wide, err := m.Get(context.Background(), "ab", 0.99)
	if err != nil || wide.HPDI.Prob != 0.99 || wide.PI.Prob != 0.99 || narrow.PI.Prob != 0.89 || wide.Mean != narrow.Mean ||
		!(wide.PI.Lo < narrow.PI.Lo && narrow.PI.Hi < wide.PI.Hi) || !(wide.HPDI.Lo < narrow.HPDI.Lo && narrow.HPDI.Hi <= wide.HPDI.Hi) {
		t.Fatalf("at 0.99: HPDI %+v PI %+v, %v; at 0.89: HPDI %+v PI %+v", wide.HPDI, wide.PI, err, narrow.HPDI, narrow.PI)
	}
	for _, prob := range []float64{0, 1, -0.5, 1.5} {
		if _, err := m.Get(context.Background(), "ab", prob); apperr.KindOf(err) != apperr.IncorrectInput {
			t.Errorf("prob %v: %v", prob, err)
		}
	}
	down := newModels(t, &store{err: errors.New("connection refused")})
	if _, err := down.Get(context.Background(), "ab", model.DefaultHPDIProb); apperr.KindOf(err) != apperr.Unavailable || strings.Contains(apperr.PublicMessage(err), "refused") {
		t.Fatalf("redis down: %v (public %q)", err, apperr.PublicMessage(err))
	}
}

func TestListAndFirst(t *testing.T) {
	s := &store{models: map[string]query.StoredModel{}}
	for _, n := range []string{"zz", "ab", "default", "mm"} {
		s.models[n] = query.StoredModel{Counts: model.Counts{W: 1, N: 2}, Spec: defaults, Exists: true}
	}
	m := newModels(t, s)
	l, err := m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range l {
		names = append(names, x.Name)
	}
	if strings.Join(names, ",") != "default,ab,mm,zz" {
		t.Fatalf("List order %v", names)
	}
	s.asked = 0
	views, total, err := m.First(context.Background(), 2)
	if err != nil || total != 4 || len(views) != 2 || views[0].Name != "default" || views[1].Name != "ab" {
		t.Fatalf("First(2) = %v models of %d, %v", len(views), total, err)
	}
	if s.asked != 2 {
		t.Fatalf("First(2) read %d models, want only the 2 it returns", s.asked)
	}
	if views, total, err := m.First(context.Background(), 0); err != nil || total != 4 || len(views) != 0 {
		t.Fatalf("First(0) = %v, %d, %v", views, total, err)
	}
	if views, _, _ := m.First(context.Background(), 100); len(views) != 4 {
		t.Fatalf("First(100) gave %d models", len(views))
	}
}

func TestPredictiveQuery(t *testing.T) {
	s := &store{models: map[string]query.StoredModel{"ab": {Counts: model.Counts{W: 7, N: 10}, Spec: defaults, Exists: true}}}
	m := newModels(t, s)
	p, err := m.Predictive(context.Background(), "ab", 9, model.DefaultHPDIProb)
	if err != nil || p.Trials != 9 || len(p.PMF) != 10 || p.N != 10 {
		t.Fatalf("predictive = %+v, %v", p, err)
	}
	for _, k := range []int{0, 1001} {
		if _, err := m.Predictive(context.Background(), "ab", k, model.DefaultHPDIProb); apperr.KindOf(err) != apperr.IncorrectInput {
			t.Errorf("trials %d: %v", k, err)
		}
	}
	if _, err := m.Predictive(context.Background(), "nope", 3, model.DefaultHPDIProb); apperr.KindOf(err) != apperr.NotFound {
		t.Errorf("unknown model: %v", err)
	}
	wide, err := m.Predictive(context.Background(), "ab", 9, 0.99)
	if err != nil || wide.Interval.Prob != 0.99 || wide.Interval.Lo > p.Interval.Lo || wide.Interval.Hi < p.Interval.Hi {
		t.Fatalf("at 0.99: %+v, %v; at 0.89: %+v", wide.Interval, err, p.Interval)
	}
	for _, prob := range []float64{0, 1} {
		if _, err := m.Predictive(context.Background(), "ab", 9, prob); apperr.KindOf(err) != apperr.IncorrectInput {
			t.Errorf("prob %v: %v", prob, err)
		}
	}
}

// A model with Jeffreys' prior, whose density is infinite at both ends,
// has a prior and a posterior on every grid point, both proper.
func TestJeffreysPriorModel(t *testing.T) {
	s := &store{models: map[string]query.StoredModel{
		"j": {Counts: model.Counts{W: 0, N: 4}, Spec: events.ModelSpec{Prior: "beta:0.5,0.5", GridPoints: 101}, Exists: true},
	}}
	v, err := newModels(t, s).Get(context.Background(), "j", model.DefaultHPDIProb)
	if err != nil {
		t.Fatal(err)
	}
	var sp, spost float64
	for i := range v.Grid {
		sp += v.Prior[i]
		spost += v.Posterior[i]
	}
	// Four losses: the posterior is Beta(0.5, 4.5), mean 0.1, and p = 0
	// (the cell [0, 0.005]) keeps the most mass.
	if math.Abs(sp-1) > 1e-12 || math.Abs(spost-1) > 1e-12 || v.MAP != 0 || math.Abs(v.Mean-0.1) > 0.005 || v.PI.Lo != 0 {
		t.Fatalf("prior sums to %v, posterior to %v; MAP %v, mean %v, PI %+v", sp, spost, v.MAP, v.Mean, v.PI)
	}
}

func TestNewModelsRejects(t *testing.T) {
	if _, err := query.NewModels(defaults, nil); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := query.NewModels(events.ModelSpec{Prior: "normal", GridPoints: 10}, &store{}); err == nil {
		t.Error("bad default spec accepted")
	}
}
