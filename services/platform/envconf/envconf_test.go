package envconf_test

import (
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
)

func TestDefaultsAndValues(t *testing.T) {
	r := envconf.New(envconf.FromMap(map[string]string{"A": " 7 ", "D": "250ms", "S": "x", "E": ""}))
	if got := r.Int("A", 1, 0, 10); got != 7 {
		t.Fatalf("A = %d", got)
	}
	if got := r.Int("MISSING", 3, 0, 10); got != 3 {
		t.Fatalf("MISSING = %d", got)
	}
	if got := r.Duration("D", time.Second, 0, time.Minute); got != 250*time.Millisecond {
		t.Fatalf("D = %s", got)
	}
	if got := r.String("E", "def"); got != "def" {
		t.Fatalf("empty value should fall back to the default, got %q", got)
	}
	if got := r.String("S", "def"); got != "x" {
		t.Fatalf("S = %q", got)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsNameEveryVariable(t *testing.T) {
	r := envconf.New(envconf.FromMap(map[string]string{"PORT": "eighty", "GRID": "0", "WAIT": "5"}))
	r.Int("PORT", 8000, 1, 65535)
	r.Int("GRID", 120, 2, 100000)
	r.Duration("WAIT", time.Second, 0, time.Minute)
	err := r.Err()
	if err == nil {
		t.Fatal("no error for three bad values")
	}
	for _, want := range []string{`PORT="eighty"`, `GRID="0"`, `WAIT="5"`, "from 1 to 65535"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestOneOf(t *testing.T) {
	r := envconf.New(envconf.FromMap(map[string]string{"L": "DEBUG", "M": "loud"}))
	if got := r.OneOf("L", "info", "debug", "info"); got != "debug" {
		t.Fatalf("L = %q", got)
	}
	if got := r.OneOf("UNSET", "info", "debug", "info"); got != "info" {
		t.Fatalf("UNSET = %q", got)
	}
	r.OneOf("M", "info", "debug", "info")
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), `M="loud": want one of debug, info`) {
		t.Fatalf("err = %v", err)
	}
}
