package clip_test

import (
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"", clip.Param, ""},
		{"w", clip.Param, "w"},
		{strings.Repeat("a", clip.Param), clip.Param, strings.Repeat("a", clip.Param)},
		{strings.Repeat("a", clip.Param+1), clip.Param, strings.Repeat("a", clip.Param) + "…"},
		{strings.Repeat("b", 1000), clip.Field, strings.Repeat("b", clip.Field) + "…"},
	} {
		if got := clip.String(tc.in, tc.max); got != tc.want {
			t.Errorf("String(%d bytes, %d) = %q, want %q", len(tc.in), tc.max, got, tc.want)
		}
	}
}
