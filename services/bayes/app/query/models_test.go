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

// store holds models in memory and counts the names it was asked for. Its
// index (ModelPage, ModelCount) is the models that exist, as the ledger's
// sorted set is; gone, when set, is what a deletion removed from the models
// after the index was read.
type store struct {
	models map[string]query.StoredModel
	gone   map[string]bool
	err    error
	asked  int
	pages  int
}

func (s *store) Models(_ context.Context, names ...string) ([]query.StoredModel, error) {
	if s.err != nil {
		return nil, s.err
	}
	s.asked += len(names)
	out := make([]query.StoredModel, len(names))
	for i, n := range names {
		if !s.gone[n] {
			out[i] = s.models[n]
		}
		out[i].Name = n
	}
	return out, nil
}

func (s *store) index() []string {
	var names []string
	for n, sm := range s.models {
		if sm.Exists {
			names = append(names, n)
		}
	}
	slices.Sort(names) // byte order, as ZRANGEBYLEX gives it
	return names
}

func (s *store) ModelPage(_ context.Context, after, prefix string, limit int) ([]string, bool, error) {
	if s.err != nil {
		return nil, false, s.err
	}
	s.pages++
	var out []string
	for _, n := range s.index() {
		if n != events.DefaultModel && n > after && strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (s *store) ModelCount(context.Context) (int, error) { return len(s.index()), s.err }

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

// listAll walks the list a page of limit rows at a time, with prefix, and
// returns every name in the order visited and the number of pages.
func listAll(t *testing.T, m *query.Models, prefix string, limit int) ([]string, int) {
	t.Helper()
	var names []string
	q := query.ListQuery{Prefix: prefix, Limit: limit}
	for pages := 1; ; pages++ {
		l, err := m.List(context.Background(), q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		if len(l.Models) > limit {
			t.Fatalf("List(%+v) gave %d rows", q, len(l.Models))
		}
		for _, x := range l.Models {
			names = append(names, x.Name)
		}
		if l.Next == "" {
			return names, pages
		}
		// The cursor moves on (default sorts first, apart from the rest).
		if q.After != "" && q.After != events.DefaultModel && l.Next <= q.After {
			t.Fatalf("List(%+v): next %q does not move on", q, l.Next)
		}
		if pages > 100 {
			t.Fatalf("List(%+v): no end after 100 pages", q)
		}
		q.After = l.Next
	}
}

func TestListPages(t *testing.T) {
	s := &store{models: map[string]query.StoredModel{}}
	// Byte order: capitals, digits, '-' and '_' sort where ASCII puts them.
	all := []string{"zz", "ab", "default", "mm", "Zed", "de", "defaults", "a-1", "a_1", "9"}
	for i, n := range all {
		s.models[n] = query.StoredModel{Counts: model.Counts{W: int64(i % 3), N: 3}, Spec: defaults, Exists: true}
	}
	m := newModels(t, s)
	want := "default,9,Zed,a-1,a_1,ab,de,defaults,mm,zz"
	for limit := 1; limit <= 11; limit++ {
		got, pages := listAll(t, m, "", limit)
		if strings.Join(got, ",") != want {
			t.Errorf("limit %d: visited %v, want %s", limit, got, want)
		}
		if wantPages := (len(all) + limit - 1) / limit; pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, wantPages)
		}
	}
	for prefix, want := range map[string]string{
		"d": "default,de,defaults", "de": "default,de,defaults", "default": "default,defaults",
		"defaults": "defaults", "a": "a-1,a_1,ab", "a_": "a_1", "Z": "Zed", "z": "zz", "x": "",
	} {
		for _, limit := range []int{1, 2, 100} {
			if got, _ := listAll(t, m, prefix, limit); strings.Join(got, ",") != want {
				t.Errorf("prefix %q, limit %d: %v, want %s", prefix, limit, got, want)
			}
		}
	}

	// A page reads as many models as it shows, with one read of names.
	s.asked, s.pages = 0, 0
	l, err := m.List(context.Background(), query.ListQuery{Limit: 3})
	if err != nil || len(l.Models) != 3 || l.Next != "Zed" || s.asked != 3 || s.pages != 1 {
		t.Fatalf("first page of 3: %+v, %v; read %d models in %d pages", l, err, s.asked, s.pages)
	}
	// Each row's mean is the one GET /models/{name} gives.
	for _, r := range l.Models {
		v, err := m.Get(context.Background(), r.Name, model.DefaultHPDIProb)
		if err != nil || r.Mean != v.Mean || r.N != v.N || r.W != v.W || r.PriorSpec != v.PriorSpec || r.GridPoints != v.GridPoints {
			t.Errorf("row %+v, view %+v, %v", r, v, err)
		}
	}
	// The default model's cursor goes on with the others from the start.
	l, err = m.List(context.Background(), query.ListQuery{After: "default", Limit: 2})
	if err != nil || len(l.Models) != 2 || l.Models[0].Name != "9" || l.Next != "Zed" {
		t.Fatalf("after default: %+v, %v", l, err)
	}
	// A name that is no model is a place in the order all the same.
	l, err = m.List(context.Background(), query.ListQuery{After: "b", Limit: 100})
	if err != nil || len(l.Models) != 4 || l.Models[0].Name != "de" || l.Next != "" {
		t.Fatalf("after b: %+v, %v", l, err)
	}
}

// The default model is listed before its first observation, with n = 0
// and the default spec, and counted by First.
func TestListDefaultFirst(t *testing.T) {
	s := &store{models: map[string]query.StoredModel{
		"ab": {Counts: model.Counts{W: 1, N: 2}, Spec: events.ModelSpec{Prior: "beta:2,2", GridPoints: 11}, Exists: true},
	}}
	m := newModels(t, s)
	l, err := m.List(context.Background(), query.ListQuery{Limit: 1})
	if err != nil || len(l.Models) != 1 || l.Models[0].Name != "default" || l.Models[0].N != 0 ||
		l.Models[0].GridPoints != defaults.GridPoints || l.Next != "default" {
		t.Fatalf("first page of 1: %+v, %v", l, err)
	}
	l, err = m.List(context.Background(), query.ListQuery{After: l.Next, Limit: 1})
	if err != nil || len(l.Models) != 1 || l.Models[0].Name != "ab" || l.Next != "" {
		t.Fatalf("second page of 1: %+v, %v", l, err)
	}
	empty := newModels(t, &store{})
	if l, err := empty.List(context.Background(), query.ListQuery{Limit: 100}); err != nil || len(l.Models) != 1 || l.Next != "" {
		t.Fatalf("no models at all: %+v, %v", l, err)
	}
	if l, err := empty.List(context.Background(), query.ListQuery{Limit: 1}); err != nil || len(l.Models) != 1 || l.Next != "" {
		t.Fatalf("no models at all, limit 1: %+v, %v", l, err)
	}
	for limit, want := range map[int]int{0: 2, 1: 2, 5: 2} {
		views, total, err := m.First(context.Background(), limit)
		if err != nil || total != want || len(views) != min(limit, 2) {
			t.Errorf("First(%d) = %d views of %d, %v", limit, len(views), total, err)
		}
	}
}

// A model deleted between the read of the names and the read of the models
// is left out of its page; the cursor still moves on.
func TestListSkipsADeletedModel(t *testing.T) {
	s := &store{models: map[string]query.StoredModel{}, gone: map[string]bool{"b": true, "c": true}}
	for _, n := range []string{"a", "b", "c", "d"} {
		s.models[n] = query.StoredModel{Spec: defaults, Exists: true}
	}
	m := newModels(t, s)
	l, err := m.List(context.Background(), query.ListQuery{After: "a", Limit: 2})
	if err != nil || len(l.Models) != 0 || l.Next != "c" {
		t.Fatalf("a page of deleted models: %+v, %v", l, err)
	}
	if got, _ := listAll(t, m, "", 2); strings.Join(got, ",") != "default,a,d" {
		t.Fatalf("walk: %v", got)
	}
	var walked []string
	if err := m.Walk(context.Background(), func(sm query.StoredModel) error {
		walked = append(walked, sm.Name)
		return nil
	}); err != nil || strings.Join(walked, ",") != "default,a,d" {
		t.Fatalf("Walk: %v, %v", walked, err)
	}
}

func TestListRefusesBadPages(t *testing.T) {
	m := newModels(t, &store{})
	for _, q := range []query.ListQuery{
		{Limit: 0}, {Limit: -1}, {Limit: query.MaxListLimit + 1},
		{Limit: 10, After: "a/b"}, {Limit: 10, After: strings.Repeat("a", 65)}, {Limit: 10, After: " "},
		{Limit: 10, Prefix: "a b"}, {Limit: 10, Prefix: strings.Repeat("a", 65)}, {Limit: 10, Prefix: "é"},
	} {
		_, err := m.List(context.Background(), q)
		if apperr.KindOf(err) != apperr.IncorrectInput {
			t.Errorf("List(%+v): %v", q, err)
			continue
		}
		param := map[bool]string{true: "limit="}[q.Limit < 1 || q.Limit > query.MaxListLimit]
		if param == "" && q.After != "" {
			param = "after="
		} else if param == "" {
			param = "prefix="
		}
		if msg := apperr.PublicMessage(err); !strings.HasPrefix(msg, param) {
			t.Errorf("List(%+v): %q does not name %s", q, msg, param)
		}
	}
	down := newModels(t, &store{err: errors.New("connection refused")})
	if _, err := down.List(context.Background(), query.ListQuery{Limit: 10}); apperr.KindOf(err) != apperr.Unavailable {
		t.Fatalf("redis down: %v", err)
	}
}

func TestFirst(t *testing.T) {
	s := &store{models: map[string]query.StoredModel{}}
	for _, n := range []string{"zz", "ab", "default", "mm"} {
		s.models[n] = query.StoredModel{Counts: model.Counts{W: 1, N: 2}, Spec: defaults, Exists: true}
	}
	m := newModels(t, s)
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

// Models of one spec share its grid and prior (Build), never their counts:
// each is what a model built on its own gives.
func TestBuildSharesTheSpecNotTheCounts(t *testing.T) {
	m := newModels(t, &store{})
	spec := events.ModelSpec{Prior: "beta:2,2", GridPoints: 31}
	a, _, err := m.Build(query.StoredModel{Name: "a", Counts: model.Counts{W: 1, N: 2}, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	before := a.Posterior()
	b, _, err := m.Build(query.StoredModel{Name: "b", Counts: model.Counts{W: 9, N: 10}, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	prior, _ := model.ParsePrior(spec.Prior)
	alone, _ := model.New(spec.GridPoints, prior)
	if err := alone.SetCounts(model.Counts{W: 9, N: 10}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Posterior(), alone.Posterior()) || !slices.Equal(a.Posterior(), before) || a.Counts().N != 2 {
		t.Fatalf("models of one spec mixed: a %v, b %v", a.Counts(), b.Counts())
	}
	if _, _, err := m.Build(query.StoredModel{Name: "c", Counts: model.Counts{W: 3, N: 2}, Spec: spec}); err == nil {
		t.Fatal("impossible counts built")
	}
}
