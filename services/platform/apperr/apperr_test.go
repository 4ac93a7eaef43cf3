package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

func TestHTTPStatusFollowsTheChain(t *testing.T) {
	cause := errors.New("dial tcp: refused")
	for _, tc := range []struct {
		err    error
		status int
		msg    string
	}{
		{apperr.New(apperr.IncorrectInput, "bad %s", "x"), 400, "bad x"},
		{apperr.New(apperr.NotFound, "no such trial"), 404, "no such trial"},
		{fmt.Errorf("publishing: %w", apperr.Wrap(apperr.Unavailable, cause, "redis is unavailable")), 503, "redis is unavailable"},
		{cause, 500, "internal error"},
	} {
		if got := apperr.HTTPStatus(tc.err); got != tc.status {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tc.err, got, tc.status)
		}
		if got := apperr.PublicMessage(tc.err); got != tc.msg {
			t.Errorf("PublicMessage(%v) = %q, want %q", tc.err, got, tc.msg)
		}
	}
	if w := apperr.Wrap(apperr.Unavailable, cause, "m"); !errors.Is(w, cause) {
		t.Error("Wrap hides its cause from errors.Is")
	}
}
