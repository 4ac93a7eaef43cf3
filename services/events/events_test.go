package events_test

import (
	"cmp"
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

// FuzzDecode feeds Decode entries made of any subset of the contract's
// fields with any values. Whatever it accepts must pass Validate (so the api
// would have produced it) and survive Fields → Decode unchanged.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(0b0000100), "", "", "w", "", "", "", "", "123")
	f.Add(uint8(0b0000100), "", "", "l", "", "", "", "", "")
	f.Add(uint8(0b0000100), "", "", "\xff", "", "", "", "", "9999999999999999999999")
	f.Add(uint8(0b0011010), "", "ab-1", "", "30", "70", "", "", "")
	f.Add(uint8(0b1100011), "define", "ab", "", "", "", "beta:2,2", "200", "")
	f.Add(uint8(0b1100011), "define", "ab", "", "", "", "step:0.9", "4", "")
	f.Add(uint8(0b0011110), "", "x y", "w", "1", "-1", "", "", "")
	f.Fuzz(func(t *testing.T, mask uint8, kind, model, trial, w, l, prior, grid, ts string) {
		v := map[string]any{}
		for i, kv := range [][2]string{{"kind", kind}, {"model", model}, {"trial", trial}, {"w", w}, {"l", l},
			{"prior", prior}, {"grid_points", grid}, {"ts", ts}} {
			if mask&(1<<i) != 0 {
				v[kv[0]] = kv[1]
			}
		}
		o, err := events.Decode(v)
		if err != nil {
			var me *events.MalformedError
			if !errors.As(err, &me) || me.Code == "" {
				t.Fatalf("Decode error %v has no reason code", err)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("Decode accepted %v as %+v, which Validate refuses: %v", v, o, err)
		}
		again, err := events.Decode(toMap(o.Fields()))
		if err != nil || again != o {
			t.Fatalf("round trip of %+v gave %+v, %v", o, again, err)
		}
	})
}

func TestNamedModelsAndCounts(t *testing.T) {
	for name, tc := range map[string]struct {
		in   events.Event
		wire string
	}{
		"default model keeps the original entry": {events.Event{Trial: "w"}, "trial w"},
		"named trial":                            {events.Event{Model: "ab", Trial: "l"}, "model ab trial l"},
		"counts":                                 {events.Event{Model: "ab", W: 30, L: 70}, "model ab w 30 l 70"},
		"definition": {events.Event{Kind: events.KindDefine, Model: "ab", Spec: events.ModelSpec{Prior: "beta:2,2", GridPoints: 200}},
			"kind define model ab prior beta:2,2 grid_points 200"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := strings.Join(tc.in.Fields(), " "); got != tc.wire {
				t.Fatalf("fields = %q, want %q", got, tc.wire)
			}
			if err := tc.in.Validate(); err != nil {
				t.Fatal(err)
			}
			out, err := events.Decode(toMap(tc.in.Fields()))
			if err != nil || out.ModelName() != tc.in.ModelName() || out.W != tc.in.W || out.L != tc.in.L || out.Spec != tc.in.Spec || out.Trial != tc.in.Trial {
				t.Fatalf("Decode = %+v, %v", out, err)
			}
		})
	}
	for name, tc := range map[string]struct {
		values map[string]any
		code   string
	}{
		"bad model":        {map[string]any{"model": "a/b", "trial": "w"}, events.CodeInvalidModel},
		"empty model":      {map[string]any{"model": "", "trial": "w"}, events.CodeInvalidModel},
		"trial and counts": {map[string]any{"trial": "w", "w": "1"}, events.CodeInvalidCounts},
		"zero counts":      {map[string]any{"w": "0", "l": "0"}, events.CodeInvalidCounts},
		"negative":         {map[string]any{"w": "-1", "l": "5"}, events.CodeInvalidCounts},
		"over the cap":     {map[string]any{"w": "1000000001"}, events.CodeInvalidCounts},
		"fraction":         {map[string]any{"w": "1.5"}, events.CodeInvalidCounts},
		"unknown kind":     {map[string]any{"kind": "destroy", "trial": "w"}, events.CodeInvalidKind},
		"delete default":   {map[string]any{"kind": "delete"}, events.CodeInvalidModel},
		"delete default 2": {map[string]any{"kind": "delete", "model": "default"}, events.CodeInvalidModel},
		"define no prior":  {map[string]any{"kind": "define", "grid_points": "20"}, events.CodeInvalidSpec},
		"define no grid":   {map[string]any{"kind": "define", "prior": "uniform"}, events.CodeInvalidSpec},
		"define bad grid":  {map[string]any{"kind": "define", "prior": "uniform", "grid_points": "2"}, events.CodeInvalidSpec},
		"define no weight": {map[string]any{"kind": "define", "prior": "step:0.9", "grid_points": "5"}, events.CodeInvalidSpec},
		"count not string": {map[string]any{"w": int64(3)}, events.CodeInvalidType},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := events.Decode(tc.values)
			var me *events.MalformedError
			if !errors.As(err, &me) || me.Code != tc.code {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
		})
	}
}

func TestModelNamesAndSpecs(t *testing.T) {
	for _, ok := range []string{"default", "a", "A-b_9", strings.Repeat("x", 64)} {
		if !events.ValidModelName(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", "a.b", "ä", "a:b", "*", strings.Repeat("x", 65)} {
		if events.ValidModelName(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	s, err := events.NewModelSpec(" BETA:2, 2 ", 200)
	if err != nil || s.Encode() != `{"prior":"beta:2,2","grid_points":200}` {
		t.Fatalf("spec %+v %q, %v", s, s.Encode(), err)
	}
	back, err := events.DecodeModelSpec(s.Encode())
	if err != nil || back != s {
		t.Fatalf("DecodeModelSpec = %+v, %v", back, err)
	}
	// step:T needs a grid point strictly between T and 1.
	if _, err := events.NewModelSpec("step:0.5", 3); err == nil {
		t.Error("step:0.5 on 3 points (interior point 0.5, not above 0.5) accepted")
	}
	if _, err := events.NewModelSpec("step:0.5", 4); err != nil {
		t.Errorf("step:0.5 on 4 points (2/3 > 0.5): %v", err)
	}
	if _, err := events.DecodeModelSpec(`{"prior":"beta:0,1","grid_points":10}`); err == nil {
		t.Error("a stored spec with an invalid prior decoded")
	}
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

func TestDeleteAndResetEvents(t *testing.T) {
	for _, ev := range []events.Event{
		{Kind: events.KindDelete, Model: "ab"},
		{Kind: events.KindReset, Model: "ab"},
		{Kind: events.KindReset},
	} {
		if err := ev.Validate(); err != nil {
			t.Fatalf("Validate(%+v) = %v", ev, err)
		}
		f := ev.Fields()
		values := map[string]any{}
		for i := 0; i < len(f); i += 2 {
			values[f[i]] = f[i+1]
		}
		if values["kind"] != ev.Kind || len(values) != 1+map[bool]int{true: 1}[ev.Model != ""] {
			t.Fatalf("Fields(%+v) = %v", ev, f)
		}
		back, err := events.Decode(values)
		if err != nil || back.Kind != ev.Kind || back.Model != ev.ModelName() {
			t.Fatalf("Decode(%v) = %+v, %v", values, back, err)
		}
	}
	// Fields a delete or reset does not use are ignored, like any unknown field.
	if ev, err := events.Decode(map[string]any{"kind": "reset", "model": "x", "trial": "w"}); err != nil || ev.Kind != events.KindReset || ev.Trial != "" {
		t.Fatalf("reset with a trial = %+v, %v", ev, err)
	}
	if err := (events.Event{Kind: events.KindDelete}).Validate(); err == nil {
		t.Fatal("deleting the default model validated")
	}
}

func TestCompareStreamIDs(t *testing.T) {
	ordered := []string{"0-0", "0-1", "9-0", "10-0", "10-2", "10-10", "1796181282219-0", "1796181282219-11", "x", "y-1"}
	for i, a := range ordered {
		for j, b := range ordered {
			if got, want := events.CompareStreamIDs(a, b), cmp.Compare(i, j); got != want {
				t.Errorf("CompareStreamIDs(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	if ms, seq, ok := events.ParseStreamID("1796181282219-11"); !ok || ms != 1796181282219 || seq != 11 {
		t.Fatalf("ParseStreamID = %d, %d, %v", ms, seq, ok)
	}
	for _, bad := range []string{"", "1", "-1", "1-", "a-1", "1-b", "1-2-3"} {
		if _, _, ok := events.ParseStreamID(bad); ok {
			t.Errorf("ParseStreamID(%q) ok", bad)
		}
	}
}
