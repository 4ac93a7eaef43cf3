package service_test

import (
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
)

// LIVE_MAX_STREAMS: 1000 by default, at least 1 (there is no "no cap").
func TestLiveMaxStreams(t *testing.T) {
	for raw, want := range map[string]int{"": 1000, "1": 1, "25": 25} {
		env := map[string]string{}
		if raw != "" {
			env["LIVE_MAX_STREAMS"] = raw
		}
		c, err := service.LoadConfig(envconf.FromMap(env))
		if err != nil || c.LiveMaxStreams != want {
			t.Errorf("LIVE_MAX_STREAMS=%q: %d, %v; want %d", raw, c.LiveMaxStreams, err, want)
		}
	}
	for _, raw := range []string{"0", "-1", "many"} {
		_, err := service.LoadConfig(envconf.FromMap(map[string]string{"LIVE_MAX_STREAMS": raw}))
		if err == nil || !strings.Contains(err.Error(), "LIVE_MAX_STREAMS") {
			t.Errorf("LIVE_MAX_STREAMS=%q: err = %v, want it to name the variable", raw, err)
		}
	}
}
