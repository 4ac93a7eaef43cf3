// Package httpapi is bayes' HTTP port: health, readiness and the read side
// of the model (GET /model). Every error is JSON with the status its kind
// maps to.
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
)

// NewHandler returns the routes of bayes; metrics, when not nil, serves
// GET /metrics.
func NewHandler(a app.Application, metrics http.Handler, log *slog.Logger) http.Handler {
	h := &handlers{app: a, log: log}
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /model", h.model)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no route for " + r.Method + " " + r.URL.Path})
	})
	return mux
}

type handlers struct {
	app app.Application
	log *slog.Logger
}

type errorBody struct {
	Error string `json:"error"`
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

func (h *handlers) model(w http.ResponseWriter, r *http.Request) {
	v, err := h.app.Queries.CurrentModel.Handle(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// fail is the one place that turns an error into a response.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := apperr.HTTPStatus(err)
	if status >= 500 {
		h.log.WarnContext(r.Context(), "request failed", "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, status, errorBody{Error: apperr.PublicMessage(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
