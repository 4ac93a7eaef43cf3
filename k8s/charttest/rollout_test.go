package charttest

import (
	"strings"
	"testing"
	"time"
)

// The preStop sleep is the value given, in both HTTP services, and absent
// at 0 (the kubelet's sleep action with 0 seconds needs a newer feature
// gate, and nothing is the plain meaning of 0).
func TestPreStopSleep(t *testing.T) {
	d := render(t, renderOpts{})
	for _, comp := range []string{"api", "bayes"} {
		c := container(t, d.component(t, comp).template.Spec, comp)
		if got := preStopSleep(c); got != 5*time.Second {
			t.Errorf("%s: default preStop sleep %v, want 5s", comp, got)
		}
	}
	r := render(t, renderOpts{values: valuesFrom(t, `{api: {preStopSleepSeconds: 0}, bayes: {preStopSleepSeconds: 12}}`)})
	if c := container(t, r.component(t, "api").template.Spec, "api"); c.Lifecycle != nil {
		t.Errorf("api.preStopSleepSeconds=0 still renders lifecycle %+v", c.Lifecycle)
	}
	if got := preStopSleep(container(t, r.component(t, "bayes").template.Spec, "bayes")); got != 12*time.Second {
		t.Errorf("bayes preStop sleep %v, want 12s", got)
	}
	// Redis is not behind a load-balanced Service: no preStop there.
	if c := container(t, d.component(t, "redis").template.Spec, "redis"); c.Lifecycle != nil {
		t.Errorf("redis has lifecycle %+v", c.Lifecycle)
	}
}

// A grace period the stop sequence does not fit in is refused at render
// time, with a message that names the values; one that fits renders.
func TestGracePeriodMustCoverTheStop(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		// 5 + 2 + 10 = 17 > 15
		{`api: {terminationGracePeriodSeconds: 15}`, "api.terminationGracePeriodSeconds is 15, not above api.preStopSleepSeconds (5) + api.shutdownDrain (2s) + api.shutdownTimeout (10s) = 17s"},
		// exactly equal is not enough: the exit itself takes time
		{`api: {terminationGracePeriodSeconds: 17}`, "api.terminationGracePeriodSeconds is 17"},
		{`api: {shutdownTimeout: 1m30s}`, "api.shutdownTimeout (1m30s)"},
		{`bayes: {terminationGracePeriodSeconds: 15}`, "bayes.terminationGracePeriodSeconds is 15, not above bayes.preStopSleepSeconds (5) + bayes.shutdownTimeout (10s) = 15s"},
		{`bayes: {preStopSleepSeconds: 30}`, "bayes.terminationGracePeriodSeconds is 30"},
		{`api: {shutdownDrain: 1500ms, terminationGracePeriodSeconds: 16}`, "= 16.5s"},
	} {
		_, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, tc.values)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to say %q", tc.values, err, tc.want)
		}
	}
	for _, ok := range []string{
		`api: {terminationGracePeriodSeconds: 18}`,
		`api: {preStopSleepSeconds: 0, shutdownDrain: 0s, terminationGracePeriodSeconds: 11}`,
		`api: {shutdownTimeout: 500ms, shutdownDrain: 0s, preStopSleepSeconds: 0, terminationGracePeriodSeconds: 1}`,
	} {
		if _, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, ok)}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
