package redisstream_test

import (
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
)

func TestDecodeEntry(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		model  string
		w, l   int64
		define bool
		reason string
	}{
		"water":         {map[string]any{"trial": "w"}, "default", 1, 0, false, ""},
		"land with ts":  {map[string]any{"trial": "l", "ts": "1700000000000000"}, "default", 0, 1, false, ""},
		"named counts":  {map[string]any{"model": "ab", "w": "30", "l": "70"}, "ab", 30, 70, false, ""},
		"definition":    {map[string]any{"kind": "define", "model": "ab", "prior": "uniform", "grid_points": "50"}, "ab", 0, 0, true, ""},
		"unknown trial": {map[string]any{"trial": "x"}, "", 0, 0, false, `malformed event: trial "x" is neither "w" nor "l"`},
		"missing trial": {map[string]any{"t": "w"}, "", 0, 0, false, `malformed event: missing field "trial" (or the counts "w" and "l")`},
		"deleted entry": {nil, "", 0, 0, false, "entry has no fields (deleted from the stream while pending?)"},
		"bad timestamp": {map[string]any{"trial": "w", "ts": "x"}, "", 0, 0, false, `malformed event: field "ts" is "x", not microseconds since the epoch`},
		// A rejected entry keeps its trace, so its dead-letter log line joins it.
		"traced bad trial": {map[string]any{"trial": "z", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "", 0, 0, false, `malformed event: trial "z" is neither "w" nor "l"`},
		"traced water":     {map[string]any{"trial": "w", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "default", 1, 0, false, ""},
	} {
		t.Run(name, func(t *testing.T) {
			e := redisstream.DecodeEntry("1-0", tc.values)
			if e.Rejection.Reason != tc.reason || (e.Kind == command.Reject) != (tc.reason != "") {
				t.Fatalf("DecodeEntry = %+v, want reason %q", e, tc.reason)
			}
			if tp, _ := tc.values["traceparent"].(string); e.TraceParent != tp {
				t.Fatalf("DecodeEntry = %+v, want traceparent %q", e, tp)
			}
			if tc.reason == "" && (e.Model != tc.model || e.Observation.W != tc.w || e.Observation.L != tc.l || (e.Kind == command.Define) != tc.define) {
				t.Fatalf("DecodeEntry = %+v, want model %q w %d l %d define %v", e, tc.model, tc.w, tc.l, tc.define)
			}
		})
	}
}
