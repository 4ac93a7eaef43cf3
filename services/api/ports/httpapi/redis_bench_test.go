package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// observationsHandler is the api's request path for POST
// /models/{name}/observations over pub and catalog, with the model cap at
// maxModels (0: off, as before the cap existed).
func observationsHandler(b *testing.B, pub command.Publisher, catalog command.Catalog, maxModels int) fasthttp.RequestHandler {
	b.Helper()
	models, err := command.NewModels(catalog, maxModels)
	if err != nil {
		b.Fatal(err)
	}
	rec, err := command.NewRecordObservationHandler(pub, time.Now, command.WithModels(models))
	if err != nil {
		b.Fatal(err)
	}
	ready, _ := query.NewReadinessHandler(fakePinger{}, time.Second)
	return httpapi.New(app.Application{Commands: app.Commands{RecordObservation: rec}, Queries: app.Queries{Readiness: ready}},
		httpapi.Options{Stream: testStream}, nil).Handler()
}

// benchObservations posts one toss of model b.N times from parallelism ×
// GOMAXPROCS goroutines, and reports the process' CPU time per request
// (processCPU): on a shared machine it moves less than ns/op, and it is
// the cost issue 16 measured.
func benchObservations(b *testing.B, h fasthttp.RequestHandler, model string, parallelism int) {
	b.Helper()
	path := "/models/" + model + "/observations"
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	cpu0 := processCPU()
	b.ResetTimer()
	defer func() {
		b.StopTimer()
		b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		var c fasthttp.RequestCtx
		for pb.Next() {
			c.Request.Reset()
			c.Response.Reset()
			c.Request.Header.SetMethod("POST")
			c.Request.SetRequestURI(path)
			c.Request.SetBodyString(`{"trial":"w"}`)
			h(&c)
			if c.Response.StatusCode() != 201 {
				b.Errorf("%d %s", c.Response.StatusCode(), c.Response.Body())
				return
			}
		}
	})
}

// existing is a catalog in which every model exists.
type existing struct{}

func (existing) Spec(context.Context, string) (events.ModelSpec, bool, error) {
	return events.ModelSpec{Prior: "uniform", GridPoints: 30}, true, nil
}

func (existing) Lookup(context.Context, string) (command.Lookup, error) {
	return command.Lookup{Spec: events.ModelSpec{Prior: "uniform", GridPoints: 30}, Exists: true, Count: 1}, nil
}

// The cap's cost on the hot path, without Redis: an observation of a model
// the api has seen existing, with the cap off (the path as it was before
// the cap) and on.
func BenchmarkObservationsKnownModel(b *testing.B) {
	for _, tc := range []struct {
		name string
		max  int
	}{{"cap=off", 0}, {"cap=10000", 10_000}} {
		b.Run(tc.name, func(b *testing.B) {
			benchObservations(b, observationsHandler(b, nopPublisher{}, existing{}, tc.max), "ab", 1)
		})
	}
}

// The same through a real Redis (group commit), with the Redis commands
// each request cost: one XADD, no read, whether the cap is on or off.
func BenchmarkObservationsKnownModelRedis(b *testing.B) {
	client, pub, specs := redisPublisher(b)
	ctx := context.Background()
	if err := client.Set(ctx, events.SpecKey(testStream, "ab"), `{"prior":"uniform","grid_points":30}`, 0).Err(); err != nil {
		b.Fatal(err)
	}
	if err := client.SAdd(ctx, events.OneShard(testStream).ModelsKey(0), "ab").Err(); err != nil {
		b.Fatal(err)
	}
	s := &store{admin: client}
	for _, tc := range []struct {
		name string
		max  int
	}{{"cap=off", 0}, {"cap=10000", 10_000}} {
		b.Run(tc.name, func(b *testing.B) {
			h := observationsHandler(b, pub, specs, tc.max)
			if err := client.ConfigResetStat(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			// As many callers as HTTP connections would share a round trip.
			benchObservations(b, h, "ab", 16)
			n := float64(b.N)
			b.ReportMetric(float64(s.calls(b, "xadd"))/n, "XADD/op")
			b.ReportMetric(float64(s.calls(b, "get"))/n, "GET/op")
			b.ReportMetric(float64(s.calls(b, "scard"))/n, "SCARD/op")
		})
	}
}
