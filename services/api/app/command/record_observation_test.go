package command_test

import (
	"context"
	"errors"
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
				want := events.Event{Trial: tt.trial.String(), PublishedAt: fixed, Source: events.SourceAPI}
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
