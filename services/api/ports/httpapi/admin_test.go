package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/apidocs/openapicheck"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// store is a real redis-server with the api's real adapters in front of
// it, and what the test needs to play bayes' part (create models) and to
// look at what the api did.
type store struct {
	f     *fiber.App
	admin *redis.Client // the test's own connection: XRANGE, INFO
	doc   *openapicheck.Doc
}

const testStream = "update_model"

// redisPublisher starts a redis-server and returns a client of it, with
// the api's publisher and spec reader on testStream, all closed at the
// end of tb.
func redisPublisher(tb testing.TB) (*redis.Client, *redisstream.Publisher, *redisstream.SpecReader) {
	tb.Helper()
	srv := redistest.Start(tb)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	tb.Cleanup(func() { _ = client.Close() })
	pub, err := redisstream.NewPublisher(client, testStream, 2*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pub.Close)
	specs, err := redisstream.NewSpecReader(client, events.OneShard(testStream))
	if err != nil {
		tb.Fatal(err)
	}
	return client, pub, specs
}

func newStore(t *testing.T, maxModels int) *store {
	t.Helper()
	client, pub, specs := redisPublisher(t)
	models, err := command.NewModels(specs, maxModels)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := command.NewRecordObservationHandler(pub, time.Now, command.WithModels(models))
	if err != nil {
		t.Fatal(err)
	}
	def, err := command.NewDefineModelHandler(pub, specs, time.Now, command.WithModels(models))
	if err != nil {
		t.Fatal(err)
	}
	del, err := command.NewDeleteModelHandler(pub, models, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	reset, err := command.NewResetModelHandler(pub, models, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := query.NewReadinessHandler(fakePinger{}, time.Second)
	f := httpapi.New(app.Application{
		Commands: app.Commands{RecordObservation: rec, DefineModel: def, DeleteModel: del, ResetModel: reset},
		Queries:  app.Queries{Readiness: ready},
	}, httpapi.Options{AppName: "api-test", Stream: testStream}, nil)
	doc, err := openapicheck.Load("api openapi.json", httpapi.OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	return &store{f: f, admin: client, doc: doc}
}

// create makes models as bayes does: the spec, and the name in the set.
func (s *store) create(t *testing.T, names ...string) {
	t.Helper()
	ctx := context.Background()
	for _, n := range names {
		if err := s.admin.Set(ctx, events.SpecKey(testStream, n), `{"prior":"uniform","grid_points":30}`, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.admin.SAdd(ctx, testStream+":models", n).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// remove deletes a model as bayes applies a deletion.
func (s *store) remove(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	if err := s.admin.Del(ctx, events.SpecKey(testStream, name)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.admin.SRem(ctx, testStream+":models", name).Err(); err != nil {
		t.Fatal(err)
	}
}

// send sends a request, checks the exchange against openapi.json (and that
// an error is a problem) and decodes the answer.
func (s *store) send(t *testing.T, method, path, body string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.f.Test(req, 5000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	for _, msg := range s.doc.Exchange(req, []byte(body), resp) {
		t.Error(msg)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
	}
	if r.status >= 400 {
		checkProblem(t, r)
	}
	return r
}

// entries are the stream's entries, decoded.
func (s *store) entries(t *testing.T) []events.Event {
	t.Helper()
	msgs, err := s.admin.XRange(context.Background(), testStream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]events.Event, 0, len(msgs))
	for _, m := range msgs {
		e, err := events.Decode(m.Values)
		if err != nil {
			t.Fatalf("entry %s %v: %v", m.ID, m.Values, err)
		}
		out = append(out, e)
	}
	return out
}

// calls is how many times Redis ran cmd since the last CONFIG RESETSTAT.
func (s *store) calls(t testing.TB, cmd string) int {
	t.Helper()
	info, err := s.admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_` + cmd + `:calls=(\d+),`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func (s *store) resetStats(t *testing.T) {
	t.Helper()
	if err := s.admin.ConfigResetStat(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

var entryID = regexp.MustCompile(`^\d+-\d+$`)

func TestDeleteModel(t *testing.T) {
	s := newStore(t, 10)
	s.create(t, "default", "ab-1")

	r := s.send(t, "DELETE", "/models/ab-1", "")
	if r.status != 202 || r.body["model"] != "ab-1" || r.body["action"] != "delete" || r.body["status"] != "accepted" ||
		r.body["stream"] != testStream || !entryID.MatchString(fmt.Sprint(r.body["id"])) || len(r.body) != 5 {
		t.Fatalf("DELETE /models/ab-1: %d %s", r.status, r.raw)
	}
	got := s.entries(t)
	if len(got) != 1 || got[0].Kind != events.KindDelete || got[0].Model != "ab-1" || got[0].Source != events.SourceAPI || got[0].PublishedAt.IsZero() {
		t.Fatalf("stream %+v, want the one deletion", got)
	}
	msgs, _ := s.admin.XRange(context.Background(), testStream, "-", "+").Result()
	if msgs[0].ID != r.body["id"] {
		t.Errorf("entry id %s, answer said %v", msgs[0].ID, r.body["id"])
	}
	if _, ok := msgs[0].Values[events.FieldTrial]; ok {
		t.Errorf("the deletion carries a trial: %v", msgs[0].Values)
	}

	for _, tc := range []struct {
		path   string
		status int
		detail string
	}{
		{"/models/missing", 404, `model "missing" does not exist`},
		{"/models/default", 409, "the default model can be reset, not deleted; POST /models/default/reset"},
		{"/models/a.b", 400, ""},
		{"/models/" + strings.Repeat("x", 65), 400, ""},
	} {
		r := s.send(t, "DELETE", tc.path, "")
		if r.status != tc.status || (tc.detail != "" && r.body["detail"] != tc.detail) {
			t.Errorf("DELETE %s: %d %s, want %d %q", tc.path, r.status, r.raw, tc.status, tc.detail)
		}
	}
	if n := len(s.entries(t)); n != 1 {
		t.Fatalf("%d entries after the refused deletions, want the one", n)
	}
}

func TestResetModel(t *testing.T) {
	s := newStore(t, 10)
	s.create(t, "ab")

	r := s.send(t, "POST", "/models/ab/reset", "")
	if r.status != 202 || r.body["model"] != "ab" || r.body["action"] != "reset" || r.body["status"] != "accepted" ||
		r.body["stream"] != testStream || !entryID.MatchString(fmt.Sprint(r.body["id"])) {
		t.Fatalf("POST /models/ab/reset: %d %s", r.status, r.raw)
	}
	// The default model can be reset before it exists (no spec yet).
	if r := s.send(t, "POST", "/models/default/reset", ""); r.status != 202 || r.body["model"] != "default" || r.body["action"] != "reset" {
		t.Fatalf("POST /models/default/reset: %d %s", r.status, r.raw)
	}
	got := s.entries(t)
	if len(got) != 2 || got[0].Kind != events.KindReset || got[0].Model != "ab" ||
		got[1].Kind != events.KindReset || got[1].Model != events.DefaultModel {
		t.Fatalf("stream %+v, want the two resets", got)
	}
	msgs, _ := s.admin.XRange(context.Background(), testStream, "-", "+").Result()
	if _, ok := msgs[1].Values[events.FieldModel]; ok || msgs[1].Values[events.FieldKind] != events.KindReset {
		t.Errorf("the default model's reset is %v; want kind reset and no model field", msgs[1].Values)
	}

	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/models/missing/reset", 404},
		{"/models/a%20b/reset", 400},
	} {
		if r := s.send(t, "POST", tc.path, ""); r.status != tc.status {
			t.Errorf("POST %s: %d %s, want %d", tc.path, r.status, r.raw, tc.status)
		}
	}
	if r := s.send(t, "GET", "/models/ab/reset", ""); r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Errorf("GET reset: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	if n := len(s.entries(t)); n != 2 {
		t.Fatalf("%d entries after the refused resets, want 2", n)
	}
}

// At MAX_MODELS a request that would create a model is refused at once,
// and nothing is published; existing models and the default one go on.
func TestModelLimit(t *testing.T) {
	s := newStore(t, 3)
	s.create(t, "default", "a", "b")
	limit := "model limit reached: 3 models exist (MAX_MODELS=3); delete one (DELETE /models/{name}) or raise MAX_MODELS"

	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/models/c/observations", `{"trial":"w"}`},
		{"POST", "/models/c/observations", `{"w":3,"l":4}`},
		{"PUT", "/models/c", `{"prior":"uniform","grid_points":30}`},
	} {
		r := s.send(t, tc.method, tc.path, tc.body)
		if r.status != 409 || r.body["detail"] != limit {
			t.Errorf("%s %s at the cap: %d %s, want 409 %q", tc.method, tc.path, r.status, r.raw, limit)
		}
	}
	if n := len(s.entries(t)); n != 0 {
		t.Fatalf("%d entries published by refused requests", n)
	}

	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/models/a/observations", `{"trial":"w"}`, 201},
		{"POST", "/models/b/observations", `{"w":1,"l":2}`, 201},
		{"PUT", "/models/a", `{"prior":"uniform","grid_points":30}`, 200},
		{"POST", "/models/default/observations", `{"trial":"l"}`, 201},
		{"GET", "/update_model/w", "", 201},
		{"POST", "/update_model/l", "", 201},
	} {
		if r := s.send(t, tc.method, tc.path, tc.body); r.status != tc.status {
			t.Errorf("%s %s at the cap: %d %s, want %d", tc.method, tc.path, r.status, r.raw, tc.status)
		}
	}
	if n := len(s.entries(t)); n != 5 {
		t.Fatalf("%d entries, want the 5 observations", n)
	}
	// The default model is never capped, even before it exists.
	s.remove(t, "default")
	s.create(t, "d")
	if r := s.send(t, "POST", "/models/default/observations", `{"trial":"w"}`); r.status != 201 {
		t.Errorf("default model at the cap, not created yet: %d %s", r.status, r.raw)
	}

	// A deletion makes room (once bayes applied it).
	if r := s.send(t, "DELETE", "/models/b", ""); r.status != 202 {
		t.Fatalf("DELETE /models/b: %d %s", r.status, r.raw)
	}
	s.remove(t, "b")
	if r := s.send(t, "POST", "/models/c/observations", `{"trial":"w"}`); r.status != 201 {
		t.Fatalf("a new model after a deletion: %d %s", r.status, r.raw)
	}
}

// An observation of a model the api has seen existing costs one XADD and
// no read; the api's DELETE makes it read again.
func TestKnownModelsCostNoRead(t *testing.T) {
	s := newStore(t, 100)
	s.create(t, "default", "a")
	s.resetStats(t)
	const n = 20
	for range n {
		if r := s.send(t, "POST", "/models/a/observations", `{"trial":"w"}`); r.status != 201 {
			t.Fatalf("observation: %d %s", r.status, r.raw)
		}
	}
	if get, scard, xadd := s.calls(t, "get"), s.calls(t, "scard"), s.calls(t, "xadd"); get != 1 || scard != 1 || xadd != n {
		t.Fatalf("%d observations of an existing model ran GET %d, SCARD %d, XADD %d times; want 1, 1, %d", n, get, scard, xadd, n)
	}
	// A model not created yet is read each time: bayes may refuse it.
	s.resetStats(t)
	for range 3 {
		if r := s.send(t, "POST", "/models/new/observations", `{"trial":"w"}`); r.status != 201 {
			t.Fatalf("observation of a new model: %d %s", r.status, r.raw)
		}
	}
	if get := s.calls(t, "get"); get != 3 {
		t.Fatalf("3 observations of a model not created yet: %d GETs, want 3", get)
	}
	// The default model is never read.
	s.resetStats(t)
	for _, path := range []string{"/update_model/w", "/models/default/observations"} {
		if r := s.send(t, "POST", path, `{"trial":"w"}`); r.status != 201 {
			t.Fatalf("POST %s: %d %s", path, r.status, r.raw)
		}
	}
	if get, scard := s.calls(t, "get"), s.calls(t, "scard"); get != 0 || scard != 0 {
		t.Fatalf("observations of the default model read: GET %d, SCARD %d", get, scard)
	}
	// DELETE (GET for the 404 check, XADD) makes the api forget a: its next
	// observation reads again.
	if r := s.send(t, "DELETE", "/models/a", ""); r.status != 202 {
		t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	s.resetStats(t)
	if r := s.send(t, "POST", "/models/a/observations", `{"trial":"w"}`); r.status != 201 {
		t.Fatalf("observation after the deletion: %d %s", r.status, r.raw)
	}
	if get, scard := s.calls(t, "get"), s.calls(t, "scard"); get != 1 || scard != 1 {
		t.Fatalf("observation after the api's deletion: GET %d, SCARD %d; want one lookup", get, scard)
	}
}

// MAX_MODELS=0: no cap, and no read for an observation.
func TestNoModelLimit(t *testing.T) {
	s := newStore(t, 0)
	s.create(t, "default", "a", "b", "c")
	s.resetStats(t)
	for _, name := range []string{"x", "y", "a"} {
		if r := s.send(t, "POST", "/models/"+name+"/observations", `{"trial":"w"}`); r.status != 201 {
			t.Fatalf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if r := s.send(t, "PUT", "/models/z", `{"prior":"uniform","grid_points":30}`); r.status != 202 {
		t.Fatalf("PUT without a cap: %d %s", r.status, r.raw)
	}
	if get, scard := s.calls(t, "get"), s.calls(t, "scard"); get != 1 || scard != 0 {
		t.Fatalf("without a cap: GET %d, SCARD %d; want only the definition's GET", get, scard)
	}
}
