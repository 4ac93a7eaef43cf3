package command_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/observation"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

type ctxKey struct{}

// fakePublisher records what it was given and answers as told.
type fakePublisher struct {
	id    string
	err   error
	got   []events.Event
	ctxOK bool
}

func (f *fakePublisher) Publish(ctx context.Context, o events.Event) (string, error) {
	f.got = append(f.got, o)
	f.ctxOK = ctx.Value(ctxKey{}) == "request"
	return f.id, f.err
}

var fixed = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

func clock() time.Time { return fixed }

func TestRecordObservation(t *testing.T) {
	storeDown := errors.New("dial tcp: connection refused")
	tests := []struct {
		name     string
		trial    observation.Trial
		pubErr   error
		wantKind apperr.Kind
		wantPub  bool
	}{
		{name: "water", trial: observation.Water, wantPub: true},
		{name: "land", trial: observation.Land, wantPub: true},
		{name: "publisher fails", trial: observation.Water, pubErr: storeDown, wantKind: apperr.Unavailable, wantPub: true},
		{name: "zero trial", trial: observation.Trial{}, wantKind: apperr.IncorrectInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{id: "1-0", err: tt.pubErr}
			h, err := command.NewRecordObservationHandler(pub, clock)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.WithValue(context.Background(), ctxKey{}, "request")
			res, err := h.Handle(ctx, command.RecordObservation{Trial: tt.trial})

			if tt.wantPub != (len(pub.got) == 1) {
				t.Fatalf("published %d events, want published=%v", len(pub.got), tt.wantPub)
			}
			if tt.wantPub {
				want := events.Event{Kind: events.KindObserve, Model: events.DefaultModel, Trial: tt.trial.String(), PublishedAt: fixed, Source: events.SourceAPI}
				if pub.got[0] != want {
					t.Errorf("published %+v, want %+v", pub.got[0], want)
				}
				if !pub.ctxOK {
					t.Error("the caller's context did not reach the publisher")
				}
			}
			if tt.wantKind != apperr.Unknown {
				if err == nil {
					t.Fatalf("Handle = %+v, want an error of kind %v", res, tt.wantKind)
				}
				if k := apperr.KindOf(err); k != tt.wantKind {
					t.Errorf("error kind = %v, want %v (err: %v)", k, tt.wantKind, err)
				}
				if tt.pubErr != nil && !errors.Is(err, tt.pubErr) {
					t.Errorf("error %v does not wrap the publisher's error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if res.ID != "1-0" || res.Trial != tt.trial || !res.PublishedAt.Equal(fixed) {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestNewRecordObservationHandlerRejectsNilDependencies(t *testing.T) {
	if _, err := command.NewRecordObservationHandler(nil, clock); err == nil {
		t.Error("nil publisher accepted")
	}
	if _, err := command.NewRecordObservationHandler(&fakePublisher{}, nil); err == nil {
		t.Error("nil clock accepted")
	}
	// A handler built without the constructor must fail, not panic.
	var zero command.RecordObservationHandler
	if _, err := zero.Handle(context.Background(), command.RecordObservation{Trial: observation.Water}); err == nil {
		t.Error("zero handler returned no error")
	}
}

func TestRecordCountsForANamedModel(t *testing.T) {
	pub := &fakePublisher{id: "7-0"}
	h, _ := command.NewRecordObservationHandler(pub, clock)
	res, err := h.Handle(context.Background(), command.RecordObservation{Model: "ab-1", W: 30, L: 70})
	if err != nil || res.ID != "7-0" || res.Model != "ab-1" || res.W != 30 || res.L != 70 {
		t.Fatalf("Handle = %+v, %v", res, err)
	}
	want := events.Event{Kind: events.KindObserve, Model: "ab-1", W: 30, L: 70, PublishedAt: fixed, Source: events.SourceAPI}
	if len(pub.got) != 1 || pub.got[0] != want {
		t.Fatalf("published %+v, want %+v", pub.got, want)
	}
	for name, cmd := range map[string]command.RecordObservation{
		"bad name":       {Model: "a/b", W: 1},
		"negative":       {Model: "ab", W: -1, L: 2},
		"nothing":        {Model: "ab"},
		"too many":       {Model: "ab", W: events.MaxCount + 1},
		"trial and more": {Model: "ab", Trial: observation.Water, W: 1},
	} {
		if _, err := h.Handle(context.Background(), cmd); apperr.KindOf(err) != apperr.IncorrectInput {
			t.Errorf("%s: err = %v, want IncorrectInput", name, err)
		}
	}
	if len(pub.got) != 1 {
		t.Fatalf("a refused command was published: %+v", pub.got[1:])
	}
}

type fakeSpecs struct {
	spec   events.ModelSpec
	exists bool
	err    error
}

func (f fakeSpecs) Spec(context.Context, string) (events.ModelSpec, bool, error) {
	return f.spec, f.exists, f.err
}

func TestDefineModel(t *testing.T) {
	beta := events.ModelSpec{Prior: "beta:2,2", GridPoints: 200}
	for _, tc := range []struct {
		name    string
		specs   fakeSpecs
		cmd     command.DefineModel
		kind    apperr.Kind
		status  string
		publish bool
	}{
		{"new model", fakeSpecs{}, command.DefineModel{Model: "ab", Prior: "BETA:2, 2", GridPoints: 200}, apperr.Unknown, command.DefinitionAccepted, true},
		{"same spec", fakeSpecs{spec: beta, exists: true}, command.DefineModel{Model: "ab", Prior: "beta:2,2", GridPoints: 200}, apperr.Unknown, command.DefinitionExists, false},
		{"other spec", fakeSpecs{spec: beta, exists: true}, command.DefineModel{Model: "ab", Prior: "uniform", GridPoints: 200}, apperr.Conflict, "", false},
		{"bad prior", fakeSpecs{}, command.DefineModel{Model: "ab", Prior: "normal", GridPoints: 200}, apperr.IncorrectInput, "", false},
		{"bad grid", fakeSpecs{}, command.DefineModel{Model: "ab", Prior: "uniform", GridPoints: 2}, apperr.IncorrectInput, "", false},
		{"no interior weight", fakeSpecs{}, command.DefineModel{Model: "ab", Prior: "step:0.9", GridPoints: 5}, apperr.IncorrectInput, "", false},
		{"bad name", fakeSpecs{}, command.DefineModel{Model: "a b", Prior: "uniform", GridPoints: 20}, apperr.IncorrectInput, "", false},
		{"redis down", fakeSpecs{err: errors.New("refused")}, command.DefineModel{Model: "ab", Prior: "uniform", GridPoints: 20}, apperr.Unavailable, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{id: "9-0"}
			h, err := command.NewDefineModelHandler(pub, tc.specs, clock)
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.Handle(context.Background(), tc.cmd)
			if apperr.KindOf(err) != tc.kind || (err == nil) != (tc.kind == apperr.Unknown) || res.Status != tc.status {
				t.Fatalf("Handle = %+v, %v; want kind %v status %q", res, err, tc.kind, tc.status)
			}
			if (len(pub.got) == 1) != tc.publish {
				t.Fatalf("published %+v, want publish=%v", pub.got, tc.publish)
			}
			if tc.publish {
				want := events.Event{Kind: events.KindDefine, Model: "ab", Spec: beta, PublishedAt: fixed, Source: events.SourceAPI}
				if pub.got[0] != want || res.ID != "9-0" || res.Spec != beta {
					t.Fatalf("published %+v (result %+v), want %+v", pub.got[0], res, want)
				}
			}
		})
	}
}

// An event stored but not replicated is a 503 for every command that
// publishes, whose public message says it may still be counted: the client
// must not take it for nothing recorded.
func TestNotReplicatedIsUnavailableAndSaysSo(t *testing.T) {
	notRepl := fmt.Errorf("XADD to stream %q: entry 1-0: %w", "update_model", &command.NotReplicatedError{Want: 1, Got: 0})
	if !errors.Is(notRepl, command.ErrNotReplicated) {
		t.Fatal("a NotReplicatedError does not match ErrNotReplicated")
	}
	pub := &fakePublisher{err: notRepl}
	cat := newCatalog(1, "ab")
	m, err := command.NewModels(cat, 10)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := command.NewRecordObservationHandler(pub, clock, command.WithModels(m))
	def, _ := command.NewDefineModelHandler(pub, cat, clock, command.WithModels(m))
	del, _ := command.NewDeleteModelHandler(pub, m, clock)
	reset, _ := command.NewResetModelHandler(pub, m, clock)
	ctx := context.Background()
	for name, handle := range map[string]func() error{
		"observe": func() error {
			_, err := rec.Handle(ctx, command.RecordObservation{Model: "ab", Trial: observation.Water})
			return err
		},
		"define": func() error {
			_, err := def.Handle(ctx, command.DefineModel{Model: "cd", Prior: "uniform", GridPoints: 20})
			return err
		},
		"delete": func() error { _, err := del.Handle(ctx, command.DeleteModel{Model: "ab"}); return err },
		"reset":  func() error { _, err := reset.Handle(ctx, command.ResetModel{Model: "ab"}); return err },
	} {
		err := handle()
		if apperr.KindOf(err) != apperr.Unavailable || !errors.Is(err, command.ErrNotReplicated) {
			t.Errorf("%s: %v (kind %v), want Unavailable wrapping ErrNotReplicated", name, err, apperr.KindOf(err))
			continue
		}
		const want = "the event was stored on the Redis master but not confirmed by 1 replica within the timeout (0 confirmed): it may still be counted, so a retry may count it twice"
		if msg := apperr.PublicMessage(err); msg != want {
			t.Errorf("%s: public message %q, want %q", name, msg, want)
		}
	}
	// Any other failure keeps the plain message.
	pub.err = errors.New("dial tcp: refused")
	if _, err := rec.Handle(ctx, command.RecordObservation{Model: "ab", Trial: observation.Water}); apperr.PublicMessage(err) != "the event store is unavailable, try again" {
		t.Errorf("plain failure: %q", apperr.PublicMessage(err))
	}
}
