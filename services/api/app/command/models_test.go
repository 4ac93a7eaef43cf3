package command_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/observation"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// fakeCatalog is the store as the api sees it: specs by name, and the
// number of models. It counts the reads.
type fakeCatalog struct {
	mu      sync.Mutex
	specs   map[string]events.ModelSpec
	count   int64
	err     error
	gets    int // Spec calls
	lookups int // Lookup calls
}

func newCatalog(count int64, names ...string) *fakeCatalog {
	c := &fakeCatalog{specs: map[string]events.ModelSpec{}, count: count}
	for _, n := range names {
		c.specs[n] = events.ModelSpec{Prior: "uniform", GridPoints: 30}
	}
	return c
}

func (c *fakeCatalog) Spec(_ context.Context, name string) (events.ModelSpec, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	s, ok := c.specs[name]
	return s, ok, c.err
}

func (c *fakeCatalog) Lookup(_ context.Context, name string) (command.Lookup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lookups++
	if c.err != nil {
		return command.Lookup{}, c.err
	}
	s, ok := c.specs[name]
	return command.Lookup{Spec: s, Exists: ok, Count: c.count}, nil
}

func (c *fakeCatalog) reads() (gets, lookups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets, c.lookups
}

func capped(t *testing.T, pub command.Publisher, cat *fakeCatalog, limit int) (command.RecordObservationHandler, command.DefineModelHandler, *command.Models) {
	t.Helper()
	m, err := command.NewModels(cat, limit)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := command.NewRecordObservationHandler(pub, clock, command.WithModels(m))
	if err != nil {
		t.Fatal(err)
	}
	def, err := command.NewDefineModelHandler(pub, cat, clock, command.WithModels(m))
	if err != nil {
		t.Fatal(err)
	}
	return rec, def, m
}

const limitDetail = "model limit reached: %d models exist (MAX_MODELS=%d); delete one (DELETE /models/{name}) or raise MAX_MODELS"

func TestModelLimitRefusesANewModelAtTheCap(t *testing.T) {
	pub := &fakePublisher{id: "1-0"}
	cat := newCatalog(3, "default", "a", "b")
	rec, def, _ := capped(t, pub, cat, 3)
	ctx := context.Background()

	_, err := rec.Handle(ctx, command.RecordObservation{Model: "c", W: 1})
	if apperr.KindOf(err) != apperr.Conflict || apperr.PublicMessage(err) != fmt.Sprintf(limitDetail, 3, 3) {
		t.Fatalf("new model at the cap: %v (kind %v), want Conflict %q", err, apperr.KindOf(err), fmt.Sprintf(limitDetail, 3, 3))
	}
	_, err = def.Handle(ctx, command.DefineModel{Model: "c", Prior: "uniform", GridPoints: 30})
	if apperr.KindOf(err) != apperr.Conflict || apperr.PublicMessage(err) != fmt.Sprintf(limitDetail, 3, 3) {
		t.Fatalf("definition of a new model at the cap: %v, want the limit's Conflict", err)
	}
	// Over the cap (replicas raced, or MAX_MODELS was lowered): the count is
	// what exists, the limit what is configured.
	cat.count = 5
	if _, err = rec.Handle(ctx, command.RecordObservation{Model: "c", Trial: observation.Water}); apperr.PublicMessage(err) != fmt.Sprintf(limitDetail, 5, 3) {
		t.Fatalf("over the cap: %v", err)
	}
	if len(pub.got) != 0 {
		t.Fatalf("refused requests published %+v", pub.got)
	}

	// Existing models keep accepting observations, and definitions of
	// their own spec; the default model is never refused.
	for _, name := range []string{"a", "b", "default", ""} {
		if _, err := rec.Handle(ctx, command.RecordObservation{Model: name, W: 1}); err != nil {
			t.Errorf("observation of existing %q at the cap: %v", name, err)
		}
	}
	if res, err := def.Handle(ctx, command.DefineModel{Model: "a", Prior: "uniform", GridPoints: 30}); err != nil || res.Status != command.DefinitionExists {
		t.Errorf("same definition at the cap: %+v %v", res, err)
	}
	res, err := def.Handle(ctx, command.DefineModel{Model: "a", Prior: "beta:2,2", GridPoints: 30})
	if apperr.KindOf(err) != apperr.Conflict || apperr.PublicMessage(err) == fmt.Sprintf(limitDetail, 5, 3) {
		t.Errorf("other spec at the cap: %+v %v, want the spec's Conflict", res, err)
	}
	if len(pub.got) != 4 {
		t.Fatalf("published %d events, want the 4 observations", len(pub.got))
	}
}

func TestModelLimitBelowTheCap(t *testing.T) {
	pub := &fakePublisher{id: "1-0"}
	cat := newCatalog(1, "default")
	rec, def, _ := capped(t, pub, cat, 2)
	ctx := context.Background()
	for range 3 {
		if _, err := rec.Handle(ctx, command.RecordObservation{Model: "new", W: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// A model not yet created is not remembered: until bayes creates it,
	// each request checks again.
	if _, lookups := cat.reads(); lookups != 3 {
		t.Fatalf("%d lookups for 3 observations of a model not created yet, want 3", lookups)
	}
	if res, err := def.Handle(ctx, command.DefineModel{Model: "other", Prior: "uniform", GridPoints: 30}); err != nil || res.Status != command.DefinitionAccepted {
		t.Fatalf("definition below the cap: %+v %v", res, err)
	}
	if len(pub.got) != 4 {
		t.Fatalf("published %d, want 4", len(pub.got))
	}
}

// An observation of a model the api has seen existing costs no read.
func TestModelsSeenExistingAreNotReadAgain(t *testing.T) {
	pub := &fakePublisher{id: "1-0"}
	cat := newCatalog(2, "default", "a")
	rec, def, m := capped(t, pub, cat, 10)
	ctx := context.Background()
	for range 5 {
		if _, err := rec.Handle(ctx, command.RecordObservation{Model: "a", Trial: observation.Land}); err != nil {
			t.Fatal(err)
		}
	}
	if gets, lookups := cat.reads(); gets != 0 || lookups != 1 {
		t.Fatalf("5 observations of an existing model read %d specs and looked up %d times, want one lookup", gets, lookups)
	}
	// The default model is never checked at all.
	for range 3 {
		if _, err := rec.Handle(ctx, command.RecordObservation{Trial: observation.Water}); err != nil {
			t.Fatal(err)
		}
	}
	// A definition seen existing teaches the observations too.
	if _, err := def.Handle(ctx, command.DefineModel{Model: "b", Prior: "uniform", GridPoints: 30}); err != nil {
		t.Fatal(err)
	}
	cat.specs["b"] = events.ModelSpec{Prior: "uniform", GridPoints: 30}
	if _, err := def.Handle(ctx, command.DefineModel{Model: "b", Prior: "uniform", GridPoints: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Handle(ctx, command.RecordObservation{Model: "b", W: 2}); err != nil {
		t.Fatal(err)
	}
	if gets, lookups := cat.reads(); gets != 0 || lookups != 3 {
		t.Fatalf("reads %d gets, %d lookups; want 3 lookups (a once, b's two definitions)", gets, lookups)
	}
	// Forgotten (the api deleted it): read again.
	m.Forget("a")
	if _, err := rec.Handle(ctx, command.RecordObservation{Model: "a", W: 1}); err != nil {
		t.Fatal(err)
	}
	if _, lookups := cat.reads(); lookups != 4 {
		t.Fatalf("a forgotten model was not read again: %d lookups", lookups)
	}
}

func TestNoCapReadsNothingForObservations(t *testing.T) {
	pub := &fakePublisher{id: "1-0"}
	cat := newCatalog(1_000_000, "default")
	rec, def, m := capped(t, pub, cat, 0)
	ctx := context.Background()
	for _, name := range []string{"a", "b", "c"} {
		if _, err := rec.Handle(ctx, command.RecordObservation{Model: name, W: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := def.Handle(ctx, command.DefineModel{Model: "d", Prior: "uniform", GridPoints: 30}); err != nil || res.Status != command.DefinitionAccepted {
		t.Fatalf("definition without a cap: %+v %v", res, err)
	}
	// The definition reads the spec with one GET, as before the cap.
	if gets, lookups := cat.reads(); gets != 1 || lookups != 0 {
		t.Fatalf("without a cap: %d gets, %d lookups; want the definition's one GET", gets, lookups)
	}
	if m.KnownLen() != 0 {
		t.Fatalf("without a cap %d names remembered", m.KnownLen())
	}
}

func TestModelLimitStoreDown(t *testing.T) {
	down := errors.New("dial tcp: refused")
	pub := &fakePublisher{id: "1-0"}
	cat := newCatalog(0)
	cat.err = down
	rec, def, _ := capped(t, pub, cat, 5)
	ctx := context.Background()
	_, err := rec.Handle(ctx, command.RecordObservation{Model: "a", W: 1})
	if apperr.KindOf(err) != apperr.Unavailable || !errors.Is(err, down) {
		t.Fatalf("observation, store down: %v", err)
	}
	_, err = def.Handle(ctx, command.DefineModel{Model: "a", Prior: "uniform", GridPoints: 30})
	if apperr.KindOf(err) != apperr.Unavailable || !errors.Is(err, down) {
		t.Fatalf("definition, store down: %v", err)
	}
	if len(pub.got) != 0 {
		t.Fatalf("published %+v while the store was down", pub.got)
	}
}

// The names remembered are bounded by MAX_MODELS.
func TestModelsRememberedAreBounded(t *testing.T) {
	cat := newCatalog(3)
	for i := range 50 {
		cat.specs[fmt.Sprint("m", i)] = events.ModelSpec{Prior: "uniform", GridPoints: 30}
	}
	rec, _, m := capped(t, &fakePublisher{id: "1-0"}, cat, 10)
	for i := range 50 {
		if _, err := rec.Handle(context.Background(), command.RecordObservation{Model: fmt.Sprint("m", i), W: 1}); err != nil {
			t.Fatal(err)
		}
		if n := m.KnownLen(); n > 10 {
			t.Fatalf("%d names remembered with MAX_MODELS=10", n)
		}
	}
	if n := m.KnownLen(); n != 10 {
		t.Fatalf("%d names remembered after 50, want 10", n)
	}
}

func TestModelChanges(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		delete  bool
		model   string
		kind    apperr.Kind
		detail  string
		publish bool
	}{
		{name: "delete", delete: true, model: "a", publish: true},
		{name: "delete missing", delete: true, model: "gone", kind: apperr.NotFound, detail: `model "gone" does not exist`},
		{name: "delete default", delete: true, model: "default", kind: apperr.Conflict, detail: "the default model can be reset, not deleted; POST /models/default/reset"},
		{name: "delete bad name", delete: true, model: "a.b", kind: apperr.IncorrectInput},
		{name: "reset", model: "a", publish: true},
		{name: "reset default", model: "default", publish: true},
		{name: "reset missing", model: "gone", kind: apperr.NotFound, detail: `model "gone" does not exist`},
		{name: "reset bad name", model: "a b", kind: apperr.IncorrectInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{id: "5-0"}
			// The default model has no spec until its first observation:
			// it can be reset all the same.
			cat := newCatalog(2, "a")
			m, _ := command.NewModels(cat, 10)
			del, err := command.NewDeleteModelHandler(pub, m, clock)
			if err != nil {
				t.Fatal(err)
			}
			reset, err := command.NewResetModelHandler(pub, m, clock)
			if err != nil {
				t.Fatal(err)
			}
			var res command.ModelChanged
			kind := events.KindReset
			if tc.delete {
				kind = events.KindDelete
				res, err = del.Handle(ctx, command.DeleteModel{Model: tc.model})
			} else {
				res, err = reset.Handle(ctx, command.ResetModel{Model: tc.model})
			}
			if apperr.KindOf(err) != tc.kind || (err == nil) != (tc.kind == apperr.Unknown) {
				t.Fatalf("Handle = %+v, %v; want kind %v", res, err, tc.kind)
			}
			if tc.detail != "" && apperr.PublicMessage(err) != tc.detail {
				t.Errorf("detail %q, want %q", apperr.PublicMessage(err), tc.detail)
			}
			if (len(pub.got) == 1) != tc.publish {
				t.Fatalf("published %+v, want publish=%v", pub.got, tc.publish)
			}
			if !tc.publish {
				return
			}
			want := events.Event{Kind: kind, Model: tc.model, PublishedAt: fixed, Source: events.SourceAPI}
			if pub.got[0] != want {
				t.Errorf("published %+v, want %+v", pub.got[0], want)
			}
			if res != (command.ModelChanged{ID: "5-0", Model: tc.model, Action: kind}) {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// A deletion or reset through the api makes it forget the model: the next
// observation reads the store again.
func TestModelChangesForgetTheModel(t *testing.T) {
	ctx := context.Background()
	pub := &fakePublisher{id: "5-0"}
	cat := newCatalog(2, "a", "b")
	rec, _, m := capped(t, pub, cat, 10)
	del, _ := command.NewDeleteModelHandler(pub, m, clock)
	reset, _ := command.NewResetModelHandler(pub, m, clock)
	for _, name := range []string{"a", "b"} {
		if _, err := rec.Handle(ctx, command.RecordObservation{Model: name, W: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if m.KnownLen() != 2 {
		t.Fatalf("%d names remembered, want a and b", m.KnownLen())
	}
	if _, err := del.Handle(ctx, command.DeleteModel{Model: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reset.Handle(ctx, command.ResetModel{Model: "b"}); err != nil {
		t.Fatal(err)
	}
	if m.KnownLen() != 0 {
		t.Fatalf("%d names remembered after the deletion and the reset, want none", m.KnownLen())
	}
	// Even when the publish fails (it may have been stored all the same).
	if _, err := rec.Handle(ctx, command.RecordObservation{Model: "b", W: 1}); err != nil || m.KnownLen() != 1 {
		t.Fatalf("observation of b: %v, %d known", err, m.KnownLen())
	}
	pub.err = errors.New("timeout")
	if _, err := reset.Handle(ctx, command.ResetModel{Model: "b"}); apperr.KindOf(err) != apperr.Unavailable || m.KnownLen() != 0 {
		t.Fatalf("failed reset: %v, %d known; want Unavailable and b forgotten", err, m.KnownLen())
	}
}

func TestModelHandlersRejectNilDependencies(t *testing.T) {
	m, _ := command.NewModels(newCatalog(0), 1)
	pub := &fakePublisher{}
	if _, err := command.NewModels(nil, 1); err == nil {
		t.Error("NewModels: nil catalog accepted")
	}
	if _, err := command.NewModels(newCatalog(0), -1); err == nil {
		t.Error("NewModels: negative limit accepted")
	}
	if _, err := command.NewDeleteModelHandler(nil, m, clock); err == nil {
		t.Error("delete: nil publisher accepted")
	}
	if _, err := command.NewDeleteModelHandler(pub, nil, clock); err == nil {
		t.Error("delete: nil models accepted")
	}
	if _, err := command.NewResetModelHandler(pub, m, nil); err == nil {
		t.Error("reset: nil clock accepted")
	}
	if _, err := command.NewRecordObservationHandler(pub, clock, command.WithModels(nil)); err == nil {
		t.Error("record: WithModels(nil) accepted")
	}
	if _, err := command.NewDefineModelHandler(pub, newCatalog(0), clock, command.WithModels(nil)); err == nil {
		t.Error("define: WithModels(nil) accepted")
	}
	var zero command.ResetModelHandler
	if _, err := zero.Handle(context.Background(), command.ResetModel{Model: "a"}); err == nil {
		t.Error("zero reset handler returned no error")
	}
}
