package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/api/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// specStore answers the api's only read: the spec of an existing model.
type specStore map[string]events.ModelSpec

func (s specStore) Spec(_ context.Context, name string) (events.ModelSpec, bool, error) {
	spec, ok := s[name]
	return spec, ok, nil
}

func newModelServer(t *testing.T, pub *fakePublisher, specs specStore, opts httpapi.Options) *fiber.App {
	t.Helper()
	rec, err := command.NewRecordObservationHandler(pub, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	def, err := command.NewDefineModelHandler(pub, specs, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := query.NewReadinessHandler(fakePinger{}, time.Second)
	opts.Stream = "update_model"
	return httpapi.New(app.Application{
		Commands: app.Commands{RecordObservation: rec, DefineModel: def},
		Queries:  app.Queries{Readiness: ready},
	}, opts, nil)
}

func send(t *testing.T, f *fiber.App, method, path, body string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.Test(req, 5000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
		}
	}
	if r.status >= 400 {
		checkProblem(t, r)
	}
	return r
}

func TestPostObservations(t *testing.T) {
	pub := &fakePublisher{}
	f := newModelServer(t, pub, specStore{}, httpapi.Options{})
	r := send(t, f, "POST", "/models/ab-1/observations", `{"trial":"w"}`, "Content-Type", "application/json")
	if r.status != 201 || r.body["model"] != "ab-1" || r.body["w"] != 1.0 || r.body["l"] != 0.0 || r.body["id"] == "" {
		t.Fatalf("trial: %d %s", r.status, r.raw)
	}
	// curl -d sends a form Content-Type; the body is what counts.
	r = send(t, f, "POST", "/models/ab-1/observations", `{"w":30,"l":70}`, "Content-Type", "application/x-www-form-urlencoded")
	if r.status != 201 || r.body["w"] != 30.0 || r.body["l"] != 70.0 {
		t.Fatalf("counts: %d %s", r.status, r.raw)
	}
	r = send(t, f, "POST", "/models/ab-1/observations", `{"l":2}`)
	if r.status != 201 || r.body["w"] != 0.0 || r.body["l"] != 2.0 {
		t.Fatalf("land only: %d %s", r.status, r.raw)
	}
	got := pub.published()
	want := []events.Event{
		{Kind: events.KindObserve, Model: "ab-1", Trial: "w"},
		{Kind: events.KindObserve, Model: "ab-1", W: 30, L: 70},
		{Kind: events.KindObserve, Model: "ab-1", L: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("published %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g := got[i]
		g.PublishedAt, g.Source = time.Time{}, ""
		if g != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, g, want[i])
		}
	}
}

func TestPostObservationsRefusesBadInput(t *testing.T) {
	pub := &fakePublisher{}
	f := newModelServer(t, pub, specStore{}, httpapi.Options{})
	for name, tc := range map[string]struct{ path, body string }{
		"bad name":        {"/models/a.b/observations", `{"trial":"w"}`},
		"long name":       {"/models/" + strings.Repeat("a", 65) + "/observations", `{"trial":"w"}`},
		"unknown trial":   {"/models/ab/observations", `{"trial":"x"}`},
		"trial and count": {"/models/ab/observations", `{"trial":"w","w":1}`},
		"empty object":    {"/models/ab/observations", `{}`},
		"no body":         {"/models/ab/observations", ``},
		"not JSON":        {"/models/ab/observations", `trial=w`},
		"fraction":        {"/models/ab/observations", `{"w":1.5}`},
		"negative":        {"/models/ab/observations", `{"w":-1,"l":3}`},
		"both zero":       {"/models/ab/observations", `{"w":0,"l":0}`},
		"too many":        {"/models/ab/observations", `{"w":1000000001}`},
		"string count":    {"/models/ab/observations", `{"w":"3"}`},
		"unknown field":   {"/models/ab/observations", `{"trial":"w","extra":1}`},
		"trailing data":   {"/models/ab/observations", `{"trial":"w"}{"trial":"l"}`},
	} {
		r := send(t, f, "POST", tc.path, tc.body)
		if r.status != 400 || r.body["error"] == nil || r.body["error"] == "" {
			t.Errorf("%s: %d %s, want a problem 400", name, r.status, r.raw)
		}
	}
	if got := pub.published(); len(got) != 0 {
		t.Fatalf("refused requests published %+v", got)
	}
	r := send(t, f, "GET", "/models/ab/observations", "")
	if r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Fatalf("GET observations: %d Allow %q", r.status, r.header.Get("Allow"))
	}
}

func TestPutModel(t *testing.T) {
	pub := &fakePublisher{}
	specs := specStore{"old": {Prior: "beta:2,2", GridPoints: 200}}
	f := newModelServer(t, pub, specs, httpapi.Options{})
	r := send(t, f, "PUT", "/models/new", `{"prior":"Beta:3, 1","grid_points":50}`)
	if r.status != 202 || r.body["status"] != "accepted" || r.body["prior"] != "beta:3,1" || r.body["grid_points"] != 50.0 || r.body["id"] == nil {
		t.Fatalf("new model: %d %s", r.status, r.raw)
	}
	r = send(t, f, "PUT", "/models/old", `{"prior":"beta:2,2","grid_points":200}`)
	if r.status != 200 || r.body["status"] != "exists" {
		t.Fatalf("same spec: %d %s", r.status, r.raw)
	}
	r = send(t, f, "PUT", "/models/old", `{"prior":"uniform","grid_points":200}`)
	if r.status != 409 || !strings.Contains(r.raw, "beta:2,2") {
		t.Fatalf("other spec: %d %s", r.status, r.raw)
	}
	for name, body := range map[string]string{
		"no prior":     `{"grid_points":200}`,
		"no grid":      `{"prior":"uniform"}`,
		"bad prior":    `{"prior":"normal:0,1","grid_points":200}`,
		"grid too big": `{"prior":"uniform","grid_points":10001}`,
		"no interior":  `{"prior":"step:0.9","grid_points":4}`,
		"not JSON":     `uniform`,
	} {
		if r := send(t, f, "PUT", "/models/x", body); r.status != 400 || r.body["error"] == "" {
			t.Errorf("%s: %d %s, want a problem 400", name, r.status, r.raw)
		}
	}
	if got := pub.published(); len(got) != 1 || got[0].Kind != events.KindDefine || got[0].Spec != (events.ModelSpec{Prior: "beta:3,1", GridPoints: 50}) {
		t.Fatalf("published %+v, want the one new definition", got)
	}
}

func TestCORS(t *testing.T) {
	f := newModelServer(t, &fakePublisher{}, specStore{}, httpapi.Options{CORSOrigins: []string{"http://localhost:8001"}})
	r := send(t, f, "OPTIONS", "/models/ab/observations", "",
		"Origin", "http://localhost:8001", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:8001" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}
	r = send(t, f, "POST", "/models/ab/observations", `{"trial":"w"}`, "Origin", "http://evil.example")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an origin not allowed got %q", r.header.Get("Access-Control-Allow-Origin"))
	}
	plain := newModelServer(t, &fakePublisher{}, specStore{}, httpapi.Options{})
	r = send(t, plain, "POST", "/models/ab/observations", `{"trial":"w"}`, "Origin", "http://localhost:8001")
	if r.status != 201 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS off: %d %v", r.status, r.header)
	}
}

// Any Beta prior with A, B > 0 is a valid definition, Jeffreys' included;
// A or B of 0 is not.
func TestPutModelAnyBetaPrior(t *testing.T) {
	pub := &fakePublisher{}
	f := newModelServer(t, pub, specStore{}, httpapi.Options{})
	for body, want := range map[string]string{
		`{"prior":"beta:0.5, 0.5","grid_points":200}`: "beta:0.5,0.5",
		`{"prior":"beta:.2,3","grid_points":3}`:       "beta:0.2,3",
	} {
		if r := send(t, f, "PUT", "/models/j", body); r.status != 202 || r.body["prior"] != want {
			t.Errorf("%s: %d %s, want 202 with prior %s", body, r.status, r.raw, want)
		}
	}
	r := send(t, f, "PUT", "/models/j", `{"prior":"beta:0,1","grid_points":200}`)
	if msg, _ := r.body["error"].(string); r.status != 400 || msg != `prior "beta:0,1": want beta:A,B with finite A > 0 and B > 0, e.g. beta:2,2` {
		t.Errorf("beta:0,1: %d %s, want 400 with the rule", r.status, r.raw)
	}
}
