package events_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

func toMap(fields []string) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	in := events.Event{
		Trial:       events.TrialWater,
		PublishedAt: time.UnixMicro(1_700_000_000_123_456),
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		TraceState:  "congo=t61rcWkgMzE",
		Source:      events.SourceAPI,
	}
	out, err := events.Decode(toMap(in.Fields()))
	if err != nil {
		t.Fatal(err)
	}
	if !out.PublishedAt.Equal(in.PublishedAt) || out.Trial != in.Trial || out.TraceParent != in.TraceParent ||
		out.TraceState != in.TraceState || out.Source != in.Source {
		t.Fatalf("round trip changed the event: %+v -> %+v", in, out)
	}
}

// TestWireNames pins the field names: bayes, redis-cli users and any other
// producer depend on them, so renaming one must fail a test.
func TestWireNames(t *testing.T) {
	got := strings.Join(events.Event{Trial: "l", PublishedAt: time.UnixMicro(5), Source: "api",
		TraceParent: "tp", TraceState: "ts"}.Fields(), " ")
	want := "trial l ts 5 source api traceparent tp tracestate ts"
	if got != want {
		t.Fatalf("fields = %q, want %q", got, want)
	}
	if got := (events.Event{Trial: "w"}).Fields(); len(got) != 2 {
		t.Fatalf("optional fields written when empty: %q", got)
	}
}

func TestDecodeManualXADD(t *testing.T) {
	// redis-cli XADD update_model '*' trial w
	o, err := events.Decode(map[string]any{"trial": "w"})
	if err != nil || o.Trial != "w" || !o.PublishedAt.IsZero() {
		t.Fatalf("Decode = %+v, %v", o, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		code   string
		reason string
	}{
		"missing trial":   {map[string]any{"x": "w"}, events.CodeMissingTrial, `missing field "trial"`},
		"unknown trial":   {map[string]any{"trial": "water"}, events.CodeInvalidTrial, `trial "water" is neither`},
		"empty trial":     {map[string]any{"trial": ""}, events.CodeInvalidTrial, `trial "" is neither`},
		"upper case":      {map[string]any{"trial": "W"}, events.CodeInvalidTrial, `trial "W"`},
		"bad timestamp":   {map[string]any{"trial": "w", "ts": "yesterday"}, events.CodeInvalidTimestamp, `field "ts" is "yesterday"`},
		"negative ts":     {map[string]any{"trial": "w", "ts": "-5"}, events.CodeInvalidTimestamp, `field "ts"`},
		"non-string":      {map[string]any{"trial": 7}, events.CodeInvalidType, `has type int`},
		"huge is clipped": {map[string]any{"trial": strings.Repeat("x", 10000)}, events.CodeInvalidTrial, "…"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := events.Decode(tc.values)
			var me *events.MalformedError
			if !errors.Is(err, events.ErrMalformed) || !errors.As(err, &me) || me.Code != tc.code {
				t.Fatalf("err = %v, want ErrMalformed with code %s", err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.reason)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("reason is %d bytes long", len(err.Error()))
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("w", "123")
	f.Add("l", "")
	f.Add("\xff", "9999999999999999999999")
	f.Fuzz(func(t *testing.T, trial, ts string) {
		o, err := events.Decode(map[string]any{"trial": trial, "ts": ts})
		if err == nil && !events.ValidTrial(o.Trial) {
			t.Fatalf("accepted trial %q", o.Trial)
		}
	})
}

func BenchmarkFields(b *testing.B) {
	o := events.Event{Trial: "w", PublishedAt: time.Now(), Source: events.SourceAPI,
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	for b.Loop() {
		_ = o.Fields()
	}
}

func BenchmarkDecode(b *testing.B) {
	v := map[string]any{"trial": "w", "ts": "1700000000123456", "source": "api",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	for b.Loop() {
		if _, err := events.Decode(v); err != nil {
			b.Fatal(err)
		}
	}
}
