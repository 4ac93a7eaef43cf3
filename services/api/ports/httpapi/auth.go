package httpapi

import (
	"bytes"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/access"
)

// Realm is the realm of the api's WWW-Authenticate challenges.
const Realm = "event-driven-bayes"

// The WWW-Authenticate challenges (RFC 6750 §3): a request without
// credentials gets the bare challenge, one with a token that is malformed
// or unknown is told invalid_token, one whose token lacks the scope is told
// insufficient_scope and which scope it needs.
const (
	challenge             = `Bearer realm="` + Realm + `"`
	challengeInvalidToken = challenge + `, error="invalid_token"`
)

// Reasons for refusing a request, the values of the reason label of
// edb_api_auth_refusals_total: bounded, and never the token.
const (
	ReasonMissing   = "missing"   // no Authorization header
	ReasonInvalid   = "invalid"   // not "Bearer <token>", or a token that is not configured
	ReasonForbidden = "forbidden" // a configured token without the route's scope
)

// legacyPath is the original's endpoint, which LEGACY_OPEN keeps open.
const legacyPath = "/update_model/:trial"

// Auth is the API tokens of the api: when a server has one, every writing
// route (a route of the table with a scope) needs Authorization: Bearer
// <token> with a token granting that scope, and answers 401 or 403 with a
// problem otherwise. A nil *Auth is tokens off.
//
// The check is not a middleware: guard wraps the handlers of the writing
// routes when the server is built, so with tokens off no request pays
// anything for it, and with tokens on reads (probes, /metrics, docs) and
// the legacy route under LEGACY_OPEN pay nothing either. Being the route's
// own handler, it covers every spelling Fiber routes there (/UPDATE_MODEL/w,
// a trailing slash) with no path matching of its own. It runs after the
// middleware (metrics count a refusal under its route, the rate limit
// throttles guessing, a traced refusal has its span) and before the
// handler decodes the body.
type Auth struct {
	tokens     *access.Tokens
	legacyOpen bool
	refused    map[string]prometheus.Counter
}

// NewAuth returns the guard of tokens; legacyOpen keeps /update_model/{w|l}
// open to anyone (LEGACY_OPEN=1). It registers
// edb_api_auth_refusals_total{reason} with reg when reg is not nil.
func NewAuth(tokens *access.Tokens, legacyOpen bool, reg prometheus.Registerer) (*Auth, error) {
	if tokens == nil || tokens.Len() == 0 {
		return nil, errors.New("httpapi: API tokens without a token (a nil *Auth turns tokens off)")
	}
	a := &Auth{tokens: tokens, legacyOpen: legacyOpen, refused: map[string]prometheus.Counter{}}
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edb_api_auth_refusals_total",
		Help: "Requests to writing endpoints refused for their token, by reason: missing (no Authorization header), invalid (malformed or unknown token: 401), forbidden (a token without the endpoint's scope: 403).",
	}, []string{"reason"})
	if reg != nil {
		reg.MustRegister(refusals)
	}
	// The series exist from the start, at 0, and a refusal costs no label
	// lookup.
	for _, r := range []string{ReasonMissing, ReasonInvalid, ReasonForbidden} {
		a.refused[r] = refusals.WithLabelValues(r)
	}
	return a, nil
}

// guard returns t with the handler of each writing route wrapped in the
// token check of its scope; the legacy route stays open under LEGACY_OPEN.
func (a *Auth) guard(t routeTable) routeTable {
	rs := make([]route, len(t.routes))
	copy(rs, t.routes)
	for i, r := range rs {
		if r.scope == "" || (a.legacyOpen && r.path == legacyPath) {
			continue
		}
		rs[i].handler = a.require(r.scope, displayPath(r.path), r.handler)
	}
	return newRouteTable(rs)
}

// require is next behind the check that the request carries a token with
// scope; path is the route as the documentation writes it, for the 403.
func (a *Auth) require(scope Scope, path string, next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h := c.Request().Header.Peek(fiber.HeaderAuthorization)
		if len(h) == 0 {
			return a.refuse(c, fiber.StatusUnauthorized, ReasonMissing, challenge,
				"this endpoint needs an API token: send Authorization: Bearer <token>, a token with the "+string(scope)+" scope")
		}
		presented, ok := bearerToken(h)
		if !ok {
			return a.refuse(c, fiber.StatusUnauthorized, ReasonInvalid, challengeInvalidToken,
				"the Authorization header is not Bearer <token> with a token of 1 to 256 printable ASCII characters")
		}
		tok, ok := a.tokens.Authenticate(presented)
		if !ok {
			return a.refuse(c, fiber.StatusUnauthorized, ReasonInvalid, challengeInvalidToken, "unknown API token")
		}
		if !tok.Has(scope) {
			// The token's name, never the token: names are what the tokens
			// file says logs and answers may show.
			return a.refuse(c, fiber.StatusForbidden, ReasonForbidden,
				challenge+`, error="insufficient_scope", scope="`+string(scope)+`"`,
				`the token named "`+tok.Name+`" lacks the scope "`+string(scope)+`" that `+c.Method()+" "+path+" needs")
		}
		return next(c)
	}
}

// refuse counts the refusal and returns the error the error handler turns
// into a problem, with the challenge in WWW-Authenticate.
func (a *Auth) refuse(c *fiber.Ctx, status int, reason, wwwAuthenticate, detail string) error {
	a.refused[reason].Inc()
	c.Set(fiber.HeaderWWWAuthenticate, wwwAuthenticate)
	return fiber.NewError(status, detail)
}

// bearer is the scheme of Authorization, compared case-insensitively
// (RFC 9110 §11.1).
var bearer = []byte("bearer")

// bearerToken returns the token of an Authorization value "Bearer <token>"
// and whether the value is one: the scheme, one or more spaces, and a
// token that could be one (access.ValidPresented).
func bearerToken(h []byte) ([]byte, bool) {
	if len(h) <= len(bearer)+1 || !bytes.EqualFold(h[:len(bearer)], bearer) || h[len(bearer)] != ' ' {
		return nil, false
	}
	tok := bytes.TrimLeft(h[len(bearer)+1:], " ")
	return tok, access.ValidPresented(tok)
}

// displayPath is a Fiber pattern as the documentation writes it:
// "/models/:name" is "/models/{name}".
func displayPath(pattern string) string {
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}

// withoutBasicCredentials drops the credentials of an Authorization: Basic
// header before the tracing middleware sees it: otelfiber records the user
// name of a Basic header as the span's enduser.id, and a client that sends
// its token that way (curl -u TOKEN:) must not find it in a trace. The api
// has no Basic users; the request is refused as a malformed token all the
// same.
func withoutBasicCredentials(c *fiber.Ctx) error {
	if h := c.Request().Header.Peek(fiber.HeaderAuthorization); len(h) > len("Basic ") && bytes.EqualFold(h[:len("Basic ")], []byte("Basic ")) {
		c.Request().Header.Set(fiber.HeaderAuthorization, "Basic")
	}
	return c.Next()
}
