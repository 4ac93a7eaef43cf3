package httpapi_test

import (
	"slices"
	"strings"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// pageOf is query.ModelStore's ModelPage over names, for the fake stores
// of these tests: byte order, default left out, the names after after
// with prefix, at most limit, and whether there are more.
func pageOf(names []string, after, prefix string, limit int) ([]string, bool) {
	var out []string
	for _, n := range slices.Sorted(slices.Values(names)) {
		if n != events.DefaultModel && n > after && strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	if len(out) > limit {
		return out[:limit], true
	}
	return out, false
}
