package httpapi

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apperr"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
)

// web holds the live page: index.html is a template (it gets the api's
// URL), static/ is served as it is. Everything the page runs comes from
// here, so the browser needs nothing from a CDN and no build step.
//
//go:embed web/index.html web/static
var web embed.FS

var pageTemplate = template.Must(template.ParseFS(web, "web/index.html"))

// KeepAliveEvery is how often a quiet events feed sends a comment, so that
// proxies with an idle timeout (an ingress, a load balancer) keep it open.
const KeepAliveEvery = 15 * time.Second

// pageData is what index.html is executed with.
type pageData struct {
	APIURL string
}

// page serves the live page with the api's URL in a meta tag that
// html/template escapes, and a Content-Security-Policy that lets the page
// run only this repository's script and talk only to bayes and the api.
func (h *handlers) page(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, pageData{APIURL: h.opts.APIURL}); err != nil {
		h.fail(w, r, fmt.Errorf("rendering the live page: %w", err))
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy(h.opts.APIURL))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(buf.Bytes())
}

// contentSecurityPolicy allows scripts, styles and connections to bayes
// itself, plus connections to the api's origin when it is elsewhere.
func contentSecurityPolicy(apiURL string) string {
	connect := "'self'"
	if o := origin(apiURL); o != "" {
		connect += " " + o
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src " + connect,
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// origin is scheme://host[:port] of an absolute http(s) URL, or "" for
// anything else (a relative URL is same-origin and needs no entry). The
// host is checked character by character because it goes into a header
// where a space or a semicolon would start another directive.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	for _, c := range u.Host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return ""
		}
	}
	return u.Scheme + "://" + u.Host
}

// static serves the page's script and style sheet under /static/, without
// directory listings.
func (h *handlers) static() http.Handler {
	assets, err := fs.Sub(web, "web/static")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	files := http.StripPrefix("/static/", http.FileServerFS(assets))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			problem.Write(w, http.StatusNotFound, noRouteFor(r))
			return
		}
		// Embedded files carry no modification time, so no validator is
		// sent; a new release must not be hidden behind a cached old one.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// modelEvents is the Server-Sent Events feed of one model: an event
// "model" with the ModelView (its intervals holding ?prob= of the mass) at
// once and again whenever the model changes, "reset" and "deleted" when it
// is reset or deleted (see feed), an event "error" while Redis cannot be
// read (the feed keeps trying), and a comment every KeepAliveEvery. A bad
// or unknown name is a problem before the stream starts.
func (h *handlers) modelEvents(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	prob, err := probParam(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	models := h.app.Queries.Models
	h.feed(w, r, feedSource{
		event: "model",
		names: []string{name},
		open: func(ctx context.Context) ([]query.StoredModel, error) {
			sm, err := models.Lookup(ctx, name)
			if err != nil {
				return nil, err
			}
			return []query.StoredModel{sm}, nil
		},
		render: func(states []query.StoredModel) (any, error) {
			v, err := models.ViewAt(states[0], prob)
			if err != nil {
				return nil, err
			}
			return modelResponse(v), nil
		},
	})
}

// modelState is what a page showing a model depends on: the counts and the
// spec determine everything else in its view.
func modelState(w, n int64, prior string, points int) string {
	return fmt.Sprintf("%d/%d/%s/%d;", w, n, prior, points)
}

// feedSource is what one feed shows: the models it follows, its first read
// (which refuses a bad name or an unknown model with a problem answer), and
// how the models' states become the data of its event.
type feedSource struct {
	event  string
	names  []string
	open   func(ctx context.Context) ([]query.StoredModel, error)
	render func(states []query.StoredModel) (any, error)
}

// modelChange is the data of a feed's "deleted" and "reset" events.
type modelChange struct {
	Model string `json:"model"`
}

// feed serves a Server-Sent Events feed: an event named src.event with
// what src.render makes of its models' states, at once and again whenever
// one of them changes; an event "error" while Redis cannot be read (the
// feed keeps trying); and a comment every KeepAliveEvery. When the first
// read fails on the request itself (bad input, an unknown model), the
// answer is that problem instead.
//
// When a model the feed follows is deleted, it sends "deleted" with
// {"model": name} once and waits: the model created again resumes the feed
// with its event. When a model's epoch grows while it exists (it was reset,
// or deleted and created again between two polls), it sends "reset" with
// {"model": name} and then the event with the new state.
//
// The feed does not read Redis after its first read: the hub polls every
// watched model once per tick for all the feeds (see hub), and at most
// Options.LiveMaxStreams feeds are open at once, beyond which the answer
// is 503 with Retry-After.
func (h *handlers) feed(w http.ResponseWriter, r *http.Request, src feedSource) {
	if !h.streams.acquire() {
		w.Header().Set("Retry-After", "5")
		problem.Write(w, http.StatusServiceUnavailable, fmt.Sprintf(
			"too many live feeds: this instance serves at most %d at once (LIVE_MAX_STREAMS=%d); retry in a few seconds",
			h.streams.max, h.streams.max))
		return
	}
	defer h.streams.release()

	ctx := r.Context()
	states, err := src.open(ctx)
	if k := apperr.KindOf(err); k == apperr.IncorrectInput || k == apperr.NotFound {
		h.fail(w, r, err)
		return
	}
	// Subscribed after the first read, so that the hub only hands this feed
	// states read after it (see subscription.from).
	sub := h.hub.subscribe(src.names)
	defer h.hub.unsubscribe(sub)

	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx would otherwise buffer the feed
	w.WriteHeader(http.StatusOK)

	page := &feedPage{
		src: src, log: h.log, path: r.URL.Path,
		epochs: make([]int64, len(src.names)), known: make([]bool, len(src.names)), gone: make([]bool, len(src.names)),
		send: func(event string, data any) error {
			b, err := json.Marshal(data)
			if err != nil {
				return fmt.Errorf("encoding %s event: %w", event, err)
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
				return err
			}
			return rc.Flush()
		},
	}

	// An EventSource reconnects by itself; two seconds is soon enough for
	// a page and gentle on a replica that just restarted.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if !page.show(ctx, states, err) {
		return
	}
	keepAlive := time.NewTicker(KeepAliveEvery)
	defer keepAlive.Stop()
	for {
		// bayes' server keeps requests alive through SIGTERM (its base
		// context is not cancelled), and Shutdown waits for active
		// connections: a feed ends by itself when Done closes, or one open
		// page would hold up every stop until the shutdown timeout.
		select {
		case <-ctx.Done():
			return
		case <-h.opts.Done:
			return
		case u := <-sub.c:
			if !page.show(ctx, u.states, u.err) {
				return
			}
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// feedPage is what one open page shows, so that a feed sends only what
// differs from it: a Redis outage is one event per page, not one per tick.
type feedPage struct {
	src  feedSource
	log  *slog.Logger
	path string
	send func(event string, data any) error

	shown   bool   // the page shows the event's data (not nothing, not an error)
	last    string // the key of the models' states the page shows
	failure string // the error the page shows, "" when none
	// Per model, in src.names order: the epoch last seen while it existed
	// (known says whether one was), and whether the page was told it is gone.
	epochs []int64
	known  []bool
	gone   []bool
}

// show sends what the page needs to catch up with states (or err); false
// when the client is gone.
func (p *feedPage) show(ctx context.Context, states []query.StoredModel, err error) bool {
	if err != nil {
		return p.fail(ctx, err, false)
	}
	p.failure = ""
	deleted := false
	for i, sm := range states {
		if !sm.Exists && sm.Name != events.DefaultModel {
			deleted = true
			if !p.gone[i] {
				p.gone[i], p.shown = true, false
				if p.send("deleted", modelChange{Model: sm.Name}) != nil {
					return false
				}
			}
			continue
		}
		switch {
		case p.gone[i]:
			p.gone[i] = false // created again: its event follows, no reset
		case p.known[i] && sm.Epoch > p.epochs[i]:
			p.shown = false
			if p.send("reset", modelChange{Model: sm.Name}) != nil {
				return false
			}
		}
		p.known[i], p.epochs[i] = true, sm.Epoch
	}
	if deleted {
		return true // nothing to show until every model exists again
	}
	var key strings.Builder
	for _, sm := range states {
		key.WriteString(modelState(sm.Counts.W, sm.Counts.N, sm.Spec.Prior, sm.Spec.GridPoints))
	}
	if p.shown && key.String() == p.last {
		return true
	}
	data, err := p.src.render(states)
	if err != nil {
		return p.fail(ctx, err, true)
	}
	p.shown, p.last = true, key.String()
	return p.send(p.src.event, data) == nil
}

// fail shows err as an "error" event unless the page shows it already. A
// read failure is logged by the hub, once for every feed; a state that
// cannot be rendered is logged here.
func (p *feedPage) fail(ctx context.Context, err error, logIt bool) bool {
	if ctx.Err() != nil {
		return false
	}
	msg := apperr.PublicMessage(err)
	if msg == p.failure {
		return true
	}
	if logIt {
		p.log.WarnContext(ctx, "live feed cannot show the models", "path", p.path, "err", err)
	}
	p.shown, p.failure = false, msg
	return p.send("error", errorBody{Error: msg}) == nil
}
