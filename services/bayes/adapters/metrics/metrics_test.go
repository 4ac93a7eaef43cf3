package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/metrics"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

type fixed struct {
	res command.Result
	err error
}

func (f fixed) Handle(context.Context, []command.Entry) (command.Result, error) { return f.res, f.err }

// Every entry is counted by what became of it: applied observations by
// trial, dead letters by reason, redeliveries as skipped.
func TestBatchesCountsOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := metrics.NewPipeline(reg)
	batch := []command.Entry{
		{ID: "1", Kind: command.Observe, Model: "a", Observation: model.Toss(model.Water), PublishedAt: time.Now()},
		{ID: "2", Kind: command.Observe, Model: "a", Observation: model.Batch(30, 70)},
		{ID: "3", Kind: command.Reject, Rejection: command.Rejection{Code: "invalid_trial"}},
		{ID: "4", Kind: command.Define, Model: "b"},
		{ID: "5", Kind: command.Observe, Model: "a", Observation: model.Toss(model.Land)},
		{ID: "6", Kind: command.Reset, Model: "a", PublishedAt: time.Now()},
		{ID: "7", Kind: command.Delete, Model: "c"},
		{ID: "8", Kind: command.Observe, Model: "d", Observation: model.Toss(model.Land)},
	}
	res := command.Result{Applied: 4, Skipped: 1, DeadLettered: 3, Outcomes: []command.Outcome{
		{Status: command.Applied}, {Status: command.Applied},
		{Status: command.DeadLettered, Code: "invalid_trial"},
		{Status: command.DeadLettered, Code: command.CodeModelConflict},
		{Status: command.Skipped},
		{Status: command.Applied}, {Status: command.Applied},
		{Status: command.DeadLettered, Code: command.CodeModelLimit},
	}}
	if _, err := p.Batches(fixed{res: res}).Handle(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	p.CountClaim(3)
	for name, want := range map[string]float64{
		`edb_bayes_events_consumed_total`:                               8,
		`edb_bayes_events_applied_total{trial="w"}`:                     31,
		`edb_bayes_events_applied_total{trial="l"}`:                     70,
		`edb_bayes_events_skipped_total`:                                1,
		`edb_bayes_events_dead_lettered_total{reason="invalid_trial"}`:  1,
		`edb_bayes_events_dead_lettered_total{reason="model_conflict"}`: 1,
		`edb_bayes_events_claimed_total`:                                3,
		`edb_bayes_events_dead_lettered_total{reason="model_limit"}`:    1,
		`edb_bayes_changes_applied_total{action="delete"}`:              1,
		`edb_bayes_changes_applied_total{action="reset"}`:               1,
		`edb_bayes_event_latency_seconds_count`:                         1,
		`edb_bayes_commit_duration_seconds_count`:                       1,
		`edb_bayes_consume_batch_size_sum`:                              8,
	} {
		if got := value(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// A failed commit counts nothing: its entries come again.
	if _, err := p.Batches(fixed{err: errors.New("down")}).Handle(context.Background(), batch); err == nil {
		t.Fatal("error lost")
	}
	if got := value(t, reg, "edb_bayes_events_consumed_total"); got != 8 {
		t.Errorf("after a failed commit consumed = %v, want 8", got)
	}
}

// value reads one sample of reg by its name and labels as Prometheus shows
// them.
func value(t *testing.T, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := ""
			for i, l := range m.GetLabel() {
				if i > 0 {
					labels += ","
				}
				labels += l.GetName() + `="` + l.GetValue() + `"`
			}
			base := mf.GetName()
			if labels != "" {
				base += "{" + labels + "}"
			}
			switch {
			case base == series && m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case base+"_count" == series && m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			case base+"_sum" == series && m.GetHistogram() != nil:
				return m.GetHistogram().GetSampleSum()
			}
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}
