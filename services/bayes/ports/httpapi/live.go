package httpapi

import "net/http"

// page serves the live page. (Stub: being written.)
func (h *handlers) page(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, errorBody{Error: "the live page is not built yet"})
}

// static serves the page's assets. (Stub: being written.)
func (h *handlers) static() http.Handler { return http.NotFoundHandler() }

// modelEvents is the Server-Sent Events feed of one model. (Stub.)
func (h *handlers) modelEvents(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, errorBody{Error: "not built yet"})
}
