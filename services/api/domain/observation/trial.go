// Package observation holds the domain vocabulary of one globe toss. It is
// pure: no I/O, no framework, so every rule here is checked by plain tests.
package observation

import (
	"errors"
	"fmt"

	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
)

// Trial is the outcome of one toss. It is a struct rather than a bare string
// so that code outside this package cannot invent a value: the only trials
// are Water and Land, and the zero Trial is recognisably "not parsed".
type Trial struct{ s string }

// The trials. Their String values are the ones the wire contract uses.
var (
	Water = Trial{"w"}
	Land  = Trial{"l"}
)

// ErrUnknownTrial is wrapped by ParseTrial's error for anything but "w" or
// "l". The domain says only that the input is no trial; what that means to
// a client (a path with nothing behind it, or a body it got wrong) is for
// the port to say.
var ErrUnknownTrial = errors.New("unknown trial")

// ParseTrial turns user input into a Trial, or an error wrapping
// ErrUnknownTrial whose message names the trials there are.
func ParseTrial(s string) (Trial, error) {
	switch s {
	case Water.s:
		return Water, nil
	case Land.s:
		return Land, nil
	default:
		return Trial{}, fmt.Errorf("%w %q: use %q (water) or %q (land)", ErrUnknownTrial, clip.String(s, clip.Param), Water.s, Land.s)
	}
}

// String is the wire value ("w" or "l"), or "" for the zero Trial.
func (t Trial) String() string { return t.s }

// IsZero reports whether t was never parsed; handlers reject it.
func (t Trial) IsZero() bool { return t.s == "" }
