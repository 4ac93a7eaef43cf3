// Package envconf reads typed configuration from environment variables once,
// at start-up. Every problem is collected and reported together, and every
// message names the variable, so an operator fixes a bad deployment in one go.
package envconf

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reader reads variables through a lookup function (os.LookupEnv in
// production, a map in tests) and remembers every error.
type Reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

// New returns a Reader over lookup; nil means os.LookupEnv.
func New(lookup func(string) (string, bool)) *Reader {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Reader{lookup: lookup}
}

// FromMap is a lookup function over a map, for tests.
func FromMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Lookup returns the trimmed value of name and whether it is set and non-empty.
func (r *Reader) Lookup(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// String returns the value of name, or def when unset or empty.
func (r *Reader) String(name, def string) string {
	if v, ok := r.Lookup(name); ok {
		return v
	}
	return def
}

// Int returns the value of name as an integer in [lo, hi], or def when unset.
func (r *Reader) Int(name string, def, lo, hi int) int {
	v, ok := r.Lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.Fail(name, v, fmt.Sprintf("an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

// OneOf returns the lower-cased value of name, which must be one of
// choices, or def when unset.
func (r *Reader) OneOf(name, def string, choices ...string) string {
	v, ok := r.Lookup(name)
	if !ok {
		return def
	}
	v = strings.ToLower(v)
	for _, c := range choices {
		if v == c {
			return v
		}
	}
	r.Fail(name, v, "one of "+strings.Join(choices, ", "))
	return def
}

// Duration returns the value of name as a Go duration ("500ms", "30s") in
// [lo, hi], or def when unset.
func (r *Reader) Duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := r.Lookup(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.Fail(name, v, fmt.Sprintf("a duration such as 30s from %s to %s", lo, hi))
		return def
	}
	return d
}

// Fail records that name has value v where want was expected.
func (r *Reader) Fail(name, v, want string) {
	r.errs = append(r.errs, fmt.Errorf("%s=%q: want %s", name, v, want))
}

// Err returns every recorded problem joined, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(r.errs...))
}
