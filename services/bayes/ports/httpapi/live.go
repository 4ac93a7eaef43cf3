package httpapi

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

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
// once and again whenever the model changes,
// an event "error" while Redis cannot be read (the feed keeps trying), and
// a comment every KeepAliveEvery. A bad or unknown name is a problem
// before the stream starts.
func (h *handlers) modelEvents(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	prob, perr := probParam(r.URL.Query())
	h.feed(w, r, "model", func(ctx context.Context, _ string) (any, string, error) {
		if perr != nil {
			return nil, "", perr
		}
		v, err := h.app.Queries.Models.Get(ctx, name, prob)
		if err != nil {
			return nil, "", err
		}
		return modelResponse(v), modelState(v.W, v.N, v.PriorSpec, v.GridPoints), nil
	})
}

// modelState is what a page showing a model depends on: the counts and the
// spec determine everything else in its view.
func modelState(w, n int64, prior string, points int) string {
	return fmt.Sprintf("%d/%d/%s/%d;", w, n, prior, points)
}

// feedRead reads what a feed shows: the event's data, and a key that
// changes whenever the data does. shown is the key of what the page shows
// ("" when nothing); a read that finds the same key may return no data,
// and skip computing it.
type feedRead func(ctx context.Context, shown string) (data any, key string, err error)

// feed serves a Server-Sent Events feed: an event named event with what
// read returns, at once and again whenever its key changes; an event
// "error" while Redis cannot be read (the feed keeps trying); and a comment
// every KeepAliveEvery. When the first read fails on the request itself
// (bad input, an unknown model), the answer is that problem instead.
//
// The feed polls the store rather than subscribing to changes: one small
// read per open page per tick, the same read the matching GET does, and
// nothing that can miss an update or hold state between replicas.
func (h *handlers) feed(w http.ResponseWriter, r *http.Request, event string, read feedRead) {
	ctx := r.Context()
	data, key, err := read(ctx, "")
	if k := apperr.KindOf(err); k == apperr.IncorrectInput || k == apperr.NotFound {
		h.fail(w, r, err)
		return
	}

	// bayes' server keeps requests alive through SIGTERM (its base context
	// is not cancelled), and Shutdown waits for active connections: a feed
	// must end by itself when its server shuts down, or one open page would
	// hold up every stop until the shutdown timeout.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stop := h.opts.Done; stop != nil {
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
	}

	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx would otherwise buffer the feed
	w.WriteHeader(http.StatusOK)

	send := func(event string, data any) error {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encoding %s event: %w", event, err)
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		return rc.Flush()
	}
	var (
		shown   = false // whether the page shows data (not nothing, not an error)
		last    string  // the key of what the page shows
		failure string  // the error the page shows, "" when none
	)
	// publish sends what one read found, when it differs from what the page
	// shows (so a Redis outage is one event and one log line per page, not
	// one per tick); it returns false when the client is gone.
	publish := func(data any, key string, err error) bool {
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			msg := apperr.PublicMessage(err)
			if msg == failure {
				return true
			}
			h.log.WarnContext(ctx, "live feed read failed", "path", r.URL.Path, "err", err)
			shown, failure = false, msg
			return send("error", errorBody{Error: msg}) == nil
		}
		if shown && key == last {
			return true
		}
		shown, last, failure = true, key, ""
		return send(event, data) == nil
	}

	// An EventSource reconnects by itself; two seconds is soon enough for
	// a page and gentle on a replica that just restarted.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if !publish(data, key, err) {
		return
	}
	poll := time.NewTicker(h.opts.LivePoll)
	defer poll.Stop()
	keepAlive := time.NewTicker(KeepAliveEvery)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			shownKey := ""
			if shown {
				shownKey = last
			}
			if !publish(read(ctx, shownKey)) {
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
