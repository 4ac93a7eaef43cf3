package charttest

import (
	"testing"

	"helm.sh/helm/v3/pkg/action"
)

// helm lint --strict (warnings fail too) on the defaults and on each value
// set the other tests render.
func TestHelmLintStrict(t *testing.T) {
	for name, opts := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = opts.namespace
			if lint.Namespace == "" {
				lint.Namespace = "default"
			}
			res := lint.Run([]string{chartDir}, opts.values)
			for _, m := range res.Messages {
				t.Logf("%s", m)
			}
			if res.TotalChartsLinted != 1 || len(res.Errors) > 0 {
				t.Fatalf("helm lint --strict: %d linted, errors %v", res.TotalChartsLinted, res.Errors)
			}
		})
	}
}
