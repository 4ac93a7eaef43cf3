// Package httpapi is the HTTP port of the api: Fiber routes that turn
// requests into app commands and queries, app results into JSON and errors
// into problem details (RFC 9457). It holds no business rules; status codes
// come from the error kinds.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/otelfiber/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/valyala/fasthttp"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/observation"
	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// Options are the HTTP-level settings of the server.
type Options struct {
	// AppName names the service in Fiber's metadata.
	AppName string
	// Stream is the name of the stream events go to, echoed to clients so a
	// curl user can find their entry with XRANGE.
	Stream string
	// StreamOf, when set, names the stream a model's events go to (its
	// shard's, when models are sharded over several streams) and Stream is
	// not used.
	StreamOf func(model string) string
	// ReadTimeout, WriteTimeout and IdleTimeout bound slow or idle clients;
	// zero means the package defaults.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// Metrics, when set, measures every request; MetricsHandler serves
	// GET /metrics (promhttp).
	Metrics        *HTTPMetrics
	MetricsHandler http.Handler
	// Tracing installs the OpenTelemetry server middleware. Off when no
	// exporter is configured, so tracing off costs nothing per request.
	Tracing bool
	// Limits are the body size and per-client rate limits.
	Limits Limits
	// CORSOrigins, when not empty, are the browser origins allowed to call
	// the api from another site ("*": any).
	CORSOrigins []string
	// Auth, when set, are the API tokens the writing routes need (auth.go);
	// nil: tokens off, and the routes are served exactly as without them.
	Auth *Auth
	// Draining, when set and true, means the api is about to stop: every
	// answer closes its connection, so a keep-alive client opens its next
	// one elsewhere instead of writing into a socket the shutdown closes,
	// and /readyz answers 503.
	Draining *atomic.Bool
}

// Defaults for Options. The write timeout must exceed the publish timeout,
// or a slow publish would be cut off before its 503 is written.
const (
	DefaultReadTimeout  = 5 * time.Second
	DefaultWriteTimeout = 15 * time.Second
	DefaultIdleTimeout  = 60 * time.Second
)

// Cache-Control: no-store, as bytes already in canonical form: set on every
// 201 of the hot path, where Set would copy and normalize the name each time.
var (
	headerCacheControl = []byte(fiber.HeaderCacheControl)
	noStore            = []byte("no-store")
)

// RecordedBody is the 201 answer to /update_model/:trial.
type RecordedBody struct {
	ID     string `json:"id"`
	Trial  string `json:"trial"`
	Stream string `json:"stream"`
}

// ObservationsBody is the 201 answer to POST /models/{name}/observations.
type ObservationsBody struct {
	ID     string `json:"id"`
	Model  string `json:"model"`
	W      int64  `json:"w"`
	L      int64  `json:"l"`
	Stream string `json:"stream"`
}

// DefinitionBody is the answer to PUT /models/{name}: 202 when the
// definition was published, 200 when the model exists with this spec.
type DefinitionBody struct {
	ID         string `json:"id,omitempty"`
	Model      string `json:"model"`
	Prior      string `json:"prior"`
	GridPoints int    `json:"grid_points"`
	Status     string `json:"status"`
}

// ModelChangeBody is the 202 answer to DELETE /models/{name} and
// POST /models/{name}/reset: the deletion or reset is in the stream.
type ModelChangeBody struct {
	ID     string `json:"id"`
	Model  string `json:"model"`
	Action string `json:"action"` // delete or reset
	Status string `json:"status"` // accepted
	Stream string `json:"stream"`
}

// StatusBody is the answer of the health endpoints.
type StatusBody struct {
	Status string `json:"status"`
}

// New returns the Fiber app serving application.
func New(application app.Application, opts Options, logger *slog.Logger) *fiber.App {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Limits.MaxBodyBytes <= 0 {
		opts.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := server{app: application, streamOf: opts.StreamOf, draining: opts.Draining}
	if s.streamOf == nil {
		stream := opts.Stream
		s.streamOf = func(string) string { return stream }
	}
	routes := s.routes(opts.MetricsHandler)
	if opts.Auth != nil {
		routes = opts.Auth.guard(routes)
	}
	f := fiber.New(fiber.Config{
		AppName:               opts.AppName,
		DisableStartupMessage: true,
		ReadTimeout:           opts.ReadTimeout,
		WriteTimeout:          opts.WriteTimeout,
		IdleTimeout:           opts.IdleTimeout,
		// A larger body is refused while reading, before routing; Fiber
		// hands the 413 to errorHandler, so it is a problem like every error.
		BodyLimit:    opts.Limits.MaxBodyBytes,
		ErrorHandler: errorHandler(logger, routes.allow),
	})
	if opts.Draining != nil {
		f.Use(func(c *fiber.Ctx) error {
			if opts.Draining.Load() {
				c.Context().SetConnectionClose()
			}
			return c.Next()
		})
	}
	if opts.Metrics != nil {
		f.Use(opts.Metrics.middleware)
	}
	// A panic in a handler becomes a problem 500 instead of a dropped connection.
	f.Use(recover.New())
	// Before the rate limit: a preflight is answered here and costs a
	// client nothing of its allowance.
	if len(opts.CORSOrigins) > 0 {
		f.Use(cors.New(cors.Config{
			AllowOrigins: strings.Join(opts.CORSOrigins, ","),
			AllowMethods: routes.browserMethods(),
			AllowHeaders: "Content-Type, Authorization",
			MaxAge:       600,
		}))
	}
	// After the metrics, so throttled requests are counted as 429s; before
	// tracing, so a flood costs no spans.
	if limit := rateLimit(opts.Limits, routes.unlimited); limit != nil {
		f.Use(limit)
	}
	if opts.Tracing {
		f.Use(withoutBasicCredentials)
		f.Use(otelfiber.Middleware(
			otelfiber.WithNext(func(c *fiber.Ctx) bool { return !routes.traced(c.Path()) }),
			otelfiber.WithCollectClientIP(false),
		))
	}
	routes.register(f)
	problemForUnknownMethods(f)
	return f
}

// problemForUnknownMethods answers a request whose method Fiber does not
// know (BREW, or a lower-case get) with a problem 400 like every other
// error. Fiber rejects such a request in plain text before any middleware
// or the error handler runs, so this wraps the server's handler itself.
func problemForUnknownMethods(f *fiber.App) {
	srv := f.Server()
	next := srv.Handler
	known := map[string]bool{}
	for _, m := range f.Config().RequestMethods {
		known[m] = true
	}
	body, _ := json.Marshal(problem.New(fiber.StatusBadRequest, "invalid HTTP method"))
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		if !known[string(ctx.Method())] {
			ctx.SetStatusCode(fiber.StatusBadRequest)
			ctx.SetContentType(problem.ContentType)
			ctx.SetBody(body)
			return
		}
		next(ctx)
	}
}

type server struct {
	app      app.Application
	streamOf func(model string) string // the stream a model's events go to
	draining *atomic.Bool
}

// recordObservation answers 201 only after the event is stored, so a client
// that saw 201 knows the observation will be counted.
func (s server) recordObservation(c *fiber.Ctx) error {
	trial, err := observation.ParseTrial(c.Params("trial"))
	if err != nil {
		// Each trial is a resource of its own (/update_model/w): there is
		// no /update_model/x to act on.
		return apperr.New(apperr.NotFound, "%s", err.Error())
	}
	res, err := s.app.Commands.RecordObservation.Handle(c.UserContext(), command.RecordObservation{Trial: trial})
	if err != nil {
		return err
	}
	// GET changes state here (kept for curl users), so no cache may answer it.
	c.Response().Header.SetCanonical(headerCacheControl, noStore)
	return c.Status(fiber.StatusCreated).JSON(RecordedBody{ID: res.ID, Trial: res.Trial.String(), Stream: s.streamOf(res.Model)})
}

// observationsRequest is the body of POST /models/{name}/observations: a
// trial, or the counts w and l.
type observationsRequest struct {
	Trial *string `json:"trial"`
	W     *int64  `json:"w"`
	L     *int64  `json:"l"`
}

// recordObservations records one toss or a batch of counts for a model, as
// one event: a batch is applied atomically, exactly once.
func (s server) recordObservations(c *fiber.Ctx) error {
	var req observationsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cmd := command.RecordObservation{Model: c.Params("name")}
	switch {
	case req.Trial != nil && (req.W != nil || req.L != nil):
		return apperr.New(apperr.IncorrectInput, `send {"trial":"w"} or counts {"w":30,"l":70}, not both`)
	case req.Trial != nil:
		t, err := observation.ParseTrial(*req.Trial)
		if err != nil { // a field of the body is wrong, not the path
			return apperr.New(apperr.IncorrectInput, "trial %q: want %q (water) or %q (land)", clip.String(*req.Trial, clip.Param), "w", "l")
		}
		cmd.Trial = t
	case req.W != nil || req.L != nil:
		if req.W != nil {
			cmd.W = *req.W
		}
		if req.L != nil {
			cmd.L = *req.L
		}
	default:
		return apperr.New(apperr.IncorrectInput, `empty observation: send {"trial":"w"} or counts {"w":30,"l":70}`)
	}
	res, err := s.app.Commands.RecordObservation.Handle(c.UserContext(), cmd)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(ObservationsBody{ID: res.ID, Model: res.Model, W: res.W, L: res.L, Stream: s.streamOf(res.Model)})
}

// definitionRequest is the body of PUT /models/{name}.
type definitionRequest struct {
	Prior      *string `json:"prior"`
	GridPoints *int    `json:"grid_points"`
}

// defineModel asks for a model with a prior and a grid: 202 once the
// definition is in the stream, 200 if the model has this spec already,
// 409 if it has another.
func (s server) defineModel(c *fiber.Ctx) error {
	var req definitionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Prior == nil || req.GridPoints == nil {
		return apperr.New(apperr.IncorrectInput, `want {"prior":"beta:2,2","grid_points":200}: both fields are required`)
	}
	res, err := s.app.Commands.DefineModel.Handle(c.UserContext(), command.DefineModel{
		Model: c.Params("name"), Prior: *req.Prior, GridPoints: *req.GridPoints,
	})
	if err != nil {
		return err
	}
	status := fiber.StatusAccepted
	if res.Status == command.DefinitionExists {
		status = fiber.StatusOK
	}
	return c.Status(status).JSON(DefinitionBody{ID: res.ID, Model: res.Model, Prior: res.Spec.Prior,
		GridPoints: res.Spec.GridPoints, Status: res.Status})
}

// decodeJSON reads one JSON object from the body into v, refusing unknown
// fields and trailing data, with a 400 that says what was wrong. The
// Content-Type is not checked: `curl -d '{"trial":"w"}'` sends a form type,
// and the body is what matters.
func decodeJSON(c *fiber.Ctx, v any) error {
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		if len(msg) > 160 {
			msg = msg[:160] + "…"
		}
		return apperr.New(apperr.IncorrectInput, "body is not the JSON this endpoint takes: %s", msg)
	}
	if dec.More() {
		return apperr.New(apperr.IncorrectInput, "body has data after the JSON object")
	}
	return nil
}

func (s server) healthz(c *fiber.Ctx) error {
	return c.JSON(StatusBody{Status: "ok"})
}

func (s server) readyz(c *fiber.Ctx) error {
	if s.draining != nil && s.draining.Load() {
		return apperr.New(apperr.Unavailable, "shutting down")
	}
	if err := s.app.Queries.Readiness.Handle(c.UserContext()); err != nil {
		return err
	}
	return c.JSON(StatusBody{Status: "ready"})
}

// errorHandler is the one place errors become responses, all of them
// problem details (RFC 9457): Fiber's own errors (unknown route, wrong
// method, body too large, too many requests) keep their status, app errors
// get the status of their kind and only their public message; the internal
// cause goes to the log. A 405 gets the Allow header allow gives for its
// path.
func errorHandler(logger *slog.Logger, allow func(path string) string) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var status int
		var msg string
		var fe *fiber.Error
		if errors.As(err, &fe) {
			status, msg = fe.Code, fe.Message
		} else {
			status, msg = apperr.HTTPStatus(err), apperr.PublicMessage(err)
		}
		switch {
		case status >= 500:
			logger.LogAttrs(c.UserContext(), levelFor(status), "request failed",
				slog.String("method", c.Method()), slog.String("path", c.Path()),
				slog.Int("status", status), slog.Any("err", err))
		case status == fiber.StatusMethodNotAllowed:
			c.Set(fiber.HeaderAllow, allow(c.Path()))
		}
		if status == fiber.StatusServiceUnavailable {
			// The store usually comes back within seconds; tell clients so.
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return c.Status(status).JSON(problem.New(status, msg), problem.ContentType)
	}
}

// levelFor logs an unavailable dependency as a warning (it heals by itself)
// and anything else as an error (a bug).
func levelFor(status int) slog.Level {
	if status == fiber.StatusServiceUnavailable {
		return slog.LevelWarn
	}
	return slog.LevelError
}
