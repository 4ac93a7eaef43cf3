// Package httpapi is bayes' HTTP port: health, readiness, the read side of
// the models (JSON, plots, the posterior predictive, Server-Sent Events
// feeds), the A/B test's comparison and allocation, and the live page. Every
// error is a problem details object (RFC 9457) with the status its kind maps
// to.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/events/clip"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// PlotWriter draws a model's prior and posterior as a PNG.
type PlotWriter interface {
	WritePNG(ctx context.Context, w io.Writer, v query.ModelView) error
}

// Options are the HTTP-level settings of bayes.
type Options struct {
	// Metrics, when not nil, serves GET /metrics.
	Metrics http.Handler
	// Requests, when not nil, counts and times every request by route.
	Requests RequestMetrics
	// Plots, when not nil, serves GET /models/{name}/plot.png.
	Plots PlotWriter
	// APIURL is where the live page's buttons send observations (the api,
	// as the browser reaches it).
	APIURL string
	// LivePoll is how often the events feed looks for a changed model;
	// zero means DefaultLivePoll.
	LivePoll time.Duration
	// Done, when closed, ends every open events feed. The service closes it
	// when the HTTP server starts shutting down (RegisterOnShutdown): a
	// feed never ends by itself, and Shutdown waits for open requests.
	Done <-chan struct{}
	// LiveMaxStreams caps the events feeds open at once, over every feed
	// route (LIVE_MAX_STREAMS); beyond it a feed is refused with 503 and
	// Retry-After. Zero means DefaultLiveMaxStreams.
	LiveMaxStreams int
	// Live, when not nil, follows the open feeds and the models they watch.
	Live LiveMetrics
}

// DefaultLivePoll keeps the live page within a quarter of a second of Redis
// at the cost of one pipelined read per tick of every model a page watches,
// however many pages watch it (see hub).
const DefaultLivePoll = 250 * time.Millisecond

// NewHandler returns the routes of bayes.
func NewHandler(a app.Application, opts Options, log *slog.Logger) http.Handler {
	if opts.LivePoll <= 0 {
		opts.LivePoll = DefaultLivePoll
	}
	h := &handlers{app: a, log: log, opts: opts}
	h.streams, h.hub = newLive(a, opts, log)
	mux := http.NewServeMux()
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /model", func(w http.ResponseWriter, r *http.Request) { h.model(w, r, events.DefaultModel) })
	mux.HandleFunc("GET /models", h.models)
	mux.HandleFunc("GET /models/{name}", func(w http.ResponseWriter, r *http.Request) { h.model(w, r, r.PathValue("name")) })
	mux.HandleFunc("GET /models/{name}/predictive", h.predictive)
	mux.HandleFunc("GET /models/{name}/posterior.csv", h.posteriorCSV)
	mux.HandleFunc("GET /models/{name}/plot.png", h.plot)
	mux.HandleFunc("GET /models/{name}/events", h.modelEvents)
	mux.HandleFunc("GET /compare", h.compare)
	mux.HandleFunc("GET /compare/events", h.compareEvents)
	mux.HandleFunc("GET /allocate", h.allocate)
	mux.HandleFunc("GET /{$}", h.page)
	mux.Handle("GET /static/", h.static())
	handleDocs(mux) // GET /openapi.json, /docs and /docs/{asset} (docs.go)
	mux.HandleFunc(noRoute, func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, http.StatusNotFound, noRouteFor(r))
	})
	return middleware(mux, opts.Requests)
}

type handlers struct {
	app     app.Application
	log     *slog.Logger
	opts    Options
	streams *streams // the cap on open feeds (hub.go)
	hub     *hub     // the polling the feeds share (hub.go)
}

func (h *handlers) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := h.app.Queries.Readiness.Handle(ctx); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// model answers GET /model and GET /models/{name}; ?prob= sets the mass of
// both intervals.
func (h *handlers) model(w http.ResponseWriter, r *http.Request, name string) {
	prob, err := probParam(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.app.Queries.Models.Get(r.Context(), name, prob)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, modelResponse(v))
}

// models answers GET /models: one page of the list, ?limit= rows at most
// (query.DefaultListLimit when absent or empty), after the name ?after=,
// of the names starting with ?prefix=; its next is the after of the next
// page, null on the last.
func (h *handlers) models(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	q := query.ListQuery{After: params.Get("after"), Prefix: params.Get("prefix"), Limit: query.DefaultListLimit}
	if raw := params.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > query.MaxListLimit {
			h.fail(w, r, apperr.New(apperr.IncorrectInput, "limit=%q: want a whole number from 1 to %d, e.g. ?limit=%d",
				clip.String(raw, clip.Param), query.MaxListLimit, query.DefaultListLimit))
			return
		}
		q.Limit = n
	}
	l, err := h.app.Queries.Models.List(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, modelList(l))
}

func (h *handlers) predictive(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("trials")
	trials, err := strconv.Atoi(raw)
	if err != nil {
		h.fail(w, r, apperr.New(apperr.IncorrectInput, "trials=%q: want a whole number, e.g. ?trials=10", clip.String(raw, clip.Param)))
		return
	}
	prob, err := probParam(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.app.Queries.Models.Predictive(r.Context(), r.PathValue("name"), trials, prob)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, predictiveResponse(v))
}

// posteriorCSV answers GET /models/{name}/posterior.csv: the grid, prior
// and posterior of GET /models/{name} as a table, one line per grid point,
// each number in the shortest form that reads back to the same float64 (as
// in the JSON answer).
func (h *handlers) posteriorCSV(w http.ResponseWriter, r *http.Request) {
	v, err := h.app.Queries.Models.Get(r.Context(), r.PathValue("name"), model.DefaultHPDIProb)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b := make([]byte, 0, 64*(len(v.Grid)+1))
	b = append(b, "p,prior,posterior\n"...)
	for i, p := range v.Grid {
		b = strconv.AppendFloat(b, p, 'g', -1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, v.Prior[i], 'g', -1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, v.Posterior[i], 'g', -1, 64)
		b = append(b, '\n')
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/csv; charset=utf-8")
	// The name is a checked slug (events.ValidModelName): nothing in it
	// needs quoting.
	hdr.Set("Content-Disposition", `inline; filename="`+v.Name+`-posterior.csv"`)
	hdr.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func (h *handlers) plot(w http.ResponseWriter, r *http.Request) {
	if h.opts.Plots == nil {
		problem.Write(w, http.StatusNotFound, "plots are not served by this instance")
		return
	}
	v, err := h.app.Queries.Models.Get(r.Context(), r.PathValue("name"), model.DefaultHPDIProb)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The image is whole before the status goes out, so a failed draw is a
	// problem (500), not a 200 with half a PNG. It is the model's latest.png
	// when the plotter drew this very state, otherwise drawn now.
	var b bytes.Buffer
	if err := h.opts.Plots.WritePNG(r.Context(), &b, v); err != nil {
		h.fail(w, r, apperr.Wrap(apperr.Unknown, err, "the plot of model "+v.Name+" could not be drawn"))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// fail is the one place that turns an error into a response.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := apperr.HTTPStatus(err)
	if status >= 500 {
		h.log.WarnContext(r.Context(), "request failed", "path", r.URL.Path, "status", status, "err", err)
	}
	problem.Write(w, status, apperr.PublicMessage(err))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
