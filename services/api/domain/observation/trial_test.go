package observation_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/observation"
)

func TestParseTrial(t *testing.T) {
	tests := []struct {
		in      string
		want    observation.Trial
		wantErr bool
	}{
		{in: "w", want: observation.Water},
		{in: "l", want: observation.Land},
		{in: "x", wantErr: true},
		{in: "", wantErr: true},
		{in: "W", wantErr: true},
		{in: "L", wantErr: true},
		{in: " w", wantErr: true},
		{in: "water", wantErr: true},
		{in: "ww", wantErr: true},
		{in: strings.Repeat("z", 1000), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := observation.ParseTrial(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTrial(%q) = %v, want an error", tt.in, got)
				}
				if !errors.Is(err, observation.ErrUnknownTrial) {
					t.Errorf("ParseTrial(%q) error %v does not wrap ErrUnknownTrial", tt.in, err)
				}
				if !got.IsZero() {
					t.Errorf("ParseTrial(%q) returned non-zero trial %v with an error", tt.in, got)
				}
				if len(err.Error()) > 200 {
					t.Errorf("error message is %d bytes long; input must be clipped", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTrial(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseTrial(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestTrialString(t *testing.T) {
	if got := observation.Water.String(); got != "w" {
		t.Errorf("Water.String() = %q, want w", got)
	}
	if got := observation.Land.String(); got != "l" {
		t.Errorf("Land.String() = %q, want l", got)
	}
	var zero observation.Trial
	if !zero.IsZero() || zero.String() != "" {
		t.Errorf("zero Trial: IsZero=%v String=%q", zero.IsZero(), zero.String())
	}
	if observation.Water.IsZero() || observation.Land.IsZero() {
		t.Error("Water or Land reports IsZero")
	}
}
