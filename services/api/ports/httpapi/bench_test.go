package httpapi_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// nopPublisher stores nothing, so a benchmark measures the HTTP path and
// not a growing slice.
type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, events.Event) (string, error) {
	return "1700000000000-0", nil
}

// benchHandler is the api's whole request path (middleware, routing,
// handler, app command) as production configures it (metrics and drain on,
// tracing off as without an exporter), without the network.
func benchHandler(b *testing.B, opts httpapi.Options) fasthttp.RequestHandler {
	b.Helper()
	rec, err := command.NewRecordObservationHandler(nopPublisher{}, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	ready, _ := query.NewReadinessHandler(fakePinger{}, time.Second)
	var draining atomic.Bool
	opts.AppName, opts.Stream, opts.Draining = "api-bench", "update_model", &draining
	opts.Metrics = httpapi.NewHTTPMetrics(prometheus.NewRegistry())
	f := httpapi.New(app.Application{
		Commands: app.Commands{RecordObservation: rec},
		Queries:  app.Queries{Readiness: ready},
	}, opts, nil)
	return f.Handler()
}

// benchUpdate serves GET /update_model/w b.N times, with authorization as
// the Authorization header when not empty, and fails on any answer but
// want. Besides ns/op it reports cpu-ns/op, the process's CPU time per
// request, which other load on the machine disturbs far less.
func benchUpdate(b *testing.B, h fasthttp.RequestHandler, authorization string, want int) {
	b.Helper()
	b.ReportAllocs()
	cpu := processCPU()
	defer func() {
		b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI("/update_model/w")
			if authorization != "" {
				ctx.Request.Header.Set("Authorization", authorization)
			}
			h(&ctx)
			if got := ctx.Response.StatusCode(); got != want {
				b.Errorf("status %d, want %d: %s", got, want, ctx.Response.Body())
				return
			}
		}
	})
}

// The hot path with tokens off: what every default deployment pays.
func BenchmarkUpdateModel(b *testing.B) {
	benchUpdate(b, benchHandler(b, httpapi.Options{}), "", 201)
}

// The hot path with tokens on: a request with a valid token of the right
// scope (one of the four test tokens), the legacy route left open by
// LEGACY_OPEN, and a refusal (no header).
func BenchmarkUpdateModelTokens(b *testing.B) {
	b.Run("on", func(b *testing.B) {
		benchUpdate(b, benchHandler(b, httpapi.Options{Auth: newAuth(b, false, nil)}), "Bearer "+tokObserve, 201)
	})
	b.Run("on legacy open", func(b *testing.B) {
		benchUpdate(b, benchHandler(b, httpapi.Options{Auth: newAuth(b, true, nil)}), "", 201)
	})
	b.Run("on refused", func(b *testing.B) {
		benchUpdate(b, benchHandler(b, httpapi.Options{Auth: newAuth(b, false, nil)}), "", 401)
	})
	b.Run("off with header", func(b *testing.B) {
		benchUpdate(b, benchHandler(b, httpapi.Options{}), "Bearer "+tokObserve, 201)
	})
}
