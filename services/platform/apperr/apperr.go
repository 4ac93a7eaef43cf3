// Package apperr gives errors a kind (incorrect input, not found,
// unavailable) that one function per transport maps to a status code, so
// handlers never invent status codes ad hoc.
package apperr

import (
	"errors"
	"fmt"
)

// Kind says what went wrong from the caller's point of view.
type Kind int

// The kinds. Unknown is the zero value: a bug or an unexpected failure.
const (
	Unknown Kind = iota
	IncorrectInput
	NotFound
	Unavailable
	// Conflict: the request contradicts the current state (a model defined
	// again with another spec). HTTP 409.
	Conflict
)

func (k Kind) String() string {
	switch k {
	case IncorrectInput:
		return "incorrect-input"
	case NotFound:
		return "not-found"
	case Unavailable:
		return "unavailable"
	case Conflict:
		return "conflict"
	default:
		return "internal"
	}
}

// Error is an error with a kind and a short public message; the wrapped
// cause is for logs only.
type Error struct {
	Kind    Kind
	Message string
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return e.Message
	}
	return e.Message + ": " + e.Cause.Error()
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an error of kind k.
func New(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k with cause as its cause.
func Wrap(k Kind, cause error, message string) error {
	return &Error{Kind: k, Message: message, Cause: cause}
}

// KindOf returns the kind of the first *Error in err's chain, or Unknown.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unknown
}

// PublicMessage is what may be shown to a client: the message of a kinded
// error, without the internal cause, or a generic text.
func PublicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// HTTPStatus maps a kind to the HTTP status code every port uses.
func HTTPStatus(err error) int {
	switch KindOf(err) {
	case IncorrectInput:
		return 400
	case NotFound:
		return 404
	case Unavailable:
		return 503
	case Conflict:
		return 409
	default:
		return 500
	}
}
