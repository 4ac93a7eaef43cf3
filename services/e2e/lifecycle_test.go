package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// The keys bayes keeps a model's life in (contract of issue 12), under the
// default stream name the tests use.
const (
	modelsSetKey   = "update_model:models"
	modelsIndexKey = "update_model:models:index"
	deadLetterKey  = "update_model:dead"
)

// newBareSystem is Redis alone; the test starts its api replicas with
// startAPI (newSystem starts one api with the default environment).
func newBareSystem(t *testing.T) *system {
	t.Helper()
	srv := redistest.Start(t, redistest.WithAOF())
	return &system{redis: srv, rdb: srv.Client(), graphs: t.TempDir()}
}

// startAPI starts an api replica on s's Redis; the first one becomes s.api.
func (s *system) startAPI(t *testing.T, name string, env ...string) *proc {
	t.Helper()
	p := startProc(t, name, "api", append([]string{"REDIS_URL=" + s.redis.URL()}, env...)...)
	if s.api == nil {
		s.api = p
	}
	return p
}

// answer is one HTTP exchange, kept whole so that goroutines, which must
// not stop the test, can hand it back to be judged.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// send makes one request with a JSON body (none when body is "") through
// the OpenAPI-checked client and reads the whole answer.
func send(method, url, body string) answer {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d %.300s", a.status, a.body)
}

// problemDetail returns the detail of an error answer, or an error saying
// why the answer is not the RFC 9457 problem of its status.
func (a answer) problemDetail() (string, error) {
	if a.err != nil {
		return "", a.err
	}
	if msg := notAProblem(a.status, a.header.Get("Content-Type"), a.body); msg != "" {
		return "", fmt.Errorf("%d: %s", a.status, msg)
	}
	var p problem.Details
	if err := json.Unmarshal(a.body, &p); err != nil {
		return "", fmt.Errorf("decoding problem %.200s: %w", a.body, err)
	}
	return p.Detail, nil
}

// acceptedBody is the api's answer to a write it put in the stream: 201 for
// observations, 202 for definitions, deletions and resets.
type acceptedBody struct {
	ID     string `json:"id"`
	Model  string `json:"model"`
	Action string `json:"action"`
	Status string `json:"status"`
	Stream string `json:"stream"`
}

// accepted decodes the body of a write the api accepted.
func (a answer) accepted() (acceptedBody, error) {
	var b acceptedBody
	if a.err != nil {
		return b, a.err
	}
	if err := json.Unmarshal(a.body, &b); err != nil {
		return b, fmt.Errorf("decoding %.200s: %w", a.body, err)
	}
	if b.ID == "" {
		return b, fmt.Errorf("no id in %.200s", a.body)
	}
	return b, nil
}

// streamID is a Redis stream entry id, ms-seq; ids the api returns are
// stream ids, so two of them order the events they name.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, error) {
	ms, seq, ok := events.ParseStreamID(s)
	if !ok {
		return streamID{}, fmt.Errorf("%q is not a stream id (ms-seq)", s)
	}
	return streamID{ms: ms, seq: seq}, nil
}

func (a streamID) less(b streamID) bool { return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq) }

func (a streamID) String() string { return fmt.Sprintf("%d-%d", a.ms, a.seq) }

// waitDrained polls until bayes' consumer group holds no pending entry and
// has read the whole stream: every event is applied or dead-lettered.
func waitDrained(t *testing.T, rdb *redis.Client, limit time.Duration) {
	t.Helper()
	eventually(t, limit, "stream drained (no pending entry, lag 0)", func() (bool, string) {
		gs, err := rdb.XInfoGroups(context.Background(), "update_model").Result()
		if err != nil || len(gs) != 1 {
			return false, fmt.Sprint(gs, err)
		}
		return gs[0].Pending == 0 && gs[0].Lag == 0, fmt.Sprintf("pending %d lag %d", gs[0].Pending, gs[0].Lag)
	})
}

// deadLetters reads the dead-letter stream: the reason of each dead
// letter, by the id of the entry it replaced (source_id).
func deadLetters(ctx context.Context, rdb *redis.Client) (map[string]string, error) {
	es, err := rdb.XRange(ctx, deadLetterKey, "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", deadLetterKey, err)
	}
	out := make(map[string]string, len(es))
	for _, e := range es {
		src, _ := e.Values["source_id"].(string)
		reason, _ := e.Values["reason"].(string)
		out[src] = reason
	}
	return out, nil
}

// modelPage is the answer of bayes' GET /models.
type modelPage struct {
	Models []struct {
		Name string `json:"name"`
		W    int64  `json:"w"`
		N    int64  `json:"n"`
	} `json:"models"`
	Next *string `json:"next"`
}

// listModels reads one page of bayes' GET /models.
func listModels(bayes *proc, limit int, after, prefix string) (modelPage, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	var page modelPage
	a := send(http.MethodGet, bayes.url("/models?"+q.Encode()), "")
	if a.err != nil || a.status != http.StatusOK {
		return page, fmt.Errorf("GET /models?%s: %s", q.Encode(), a)
	}
	if err := json.Unmarshal(a.body, &page); err != nil {
		return page, fmt.Errorf("GET /models?%s: %w in %.300s", q.Encode(), err, a.body)
	}
	return page, nil
}

// walkModels pages through GET /models with limit, following next, and
// returns every name in the order listed (default included).
func walkModels(bayes *proc, limit int) ([]string, error) {
	var names []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 100_000 {
			return names, fmt.Errorf("still paging after %d pages: next never ends", pages)
		}
		page, err := listModels(bayes, limit, after, "")
		if err != nil {
			return names, err
		}
		for _, m := range page.Models {
			names = append(names, m.Name)
		}
		if page.Next == nil {
			return names, nil
		}
		after = *page.Next
	}
}

// modelStatus is the status of bayes' GET /models/{name}, and its view when
// 200; a 404 must be a problem.
func modelStatus(bayes *proc, name string) (int, modelView, error) {
	a := send(http.MethodGet, bayes.url("/models/"+name), "")
	var v modelView
	switch {
	case a.err != nil:
		return 0, v, a.err
	case a.status == http.StatusOK:
		return a.status, v, json.Unmarshal(a.body, &v)
	case a.status == http.StatusNotFound:
		_, err := a.problemDetail()
		return a.status, v, err
	}
	return a.status, v, fmt.Errorf("GET /models/%s: %s", name, a)
}

// waitAbsent polls until bayes answers 404 for the model.
func waitAbsent(t *testing.T, bayes *proc, name string) {
	t.Helper()
	eventually(t, 30*time.Second, "model "+name+" gone (404)", func() (bool, string) {
		code, v, err := modelStatus(bayes, name)
		return code == http.StatusNotFound && err == nil, fmt.Sprintf("%d n=%d %v", code, v.N, err)
	})
}

// mustAccept sends a write that must be accepted with want and returns its
// body, checked to name the model (and the action, for delete and reset).
func mustAccept(t *testing.T, method, url, body string, want int, model, action string) acceptedBody {
	t.Helper()
	a := send(method, url, body)
	if a.err != nil || a.status != want {
		t.Fatalf("%s %s %s: %s, want %d", method, url, body, a, want)
	}
	b, err := a.accepted()
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	// A definition's answer names no stream; every other one does.
	if b.Model != model || b.Action != action || (b.Stream != "update_model" && (action != "" || want == 201)) {
		t.Fatalf("%s %s: %+v, want model %q action %q stream update_model", method, url, b, model, action)
	}
	if action != "" && b.Status != "accepted" {
		t.Fatalf("%s %s: status %q, want accepted", method, url, b.Status)
	}
	if _, err := parseStreamID(b.ID); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return b
}

// mustRefuse sends a request that must be refused with want, as a problem
// whose detail contains every one of details.
func mustRefuse(t *testing.T, method, url, body string, want int, details ...string) {
	t.Helper()
	a := send(method, url, body)
	if a.err != nil || a.status != want {
		t.Fatalf("%s %s %s: %s, want %d", method, url, body, a, want)
	}
	d, err := a.problemDetail()
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	for _, s := range details {
		if !strings.Contains(d, s) {
			t.Fatalf("%s %s: detail %q, want it to say %q", method, url, d, s)
		}
	}
}

// Delete and reset end to end, one step at a time: what the api answers,
// what bayes shows after each, the keys left in Redis, the plots folder,
// and a deleted model created afresh (with the default spec) by an
// observation that follows its deletion.
func TestDeleteAndResetEndToEnd(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t)
	bayes := s.bayes(t, "b0", "GRAPHS_MIN_INTERVAL=0s")
	api := s.api

	mustAccept(t, "PUT", api.url("/models/life"), `{"prior":"beta:2,2","grid_points":50}`, 202, "life", "")
	mustAccept(t, "POST", api.url("/models/life/observations"), `{"w":7,"l":3}`, 201, "life", "")
	mustAccept(t, "POST", api.url("/models/default/observations"), `{"w":4,"l":1}`, 201, "default", "")
	waitModel(t, bayes, "life", 10)
	waitModel(t, bayes, "default", 5)
	dir := filepath.Join(s.graphs, "life")
	eventually(t, 30*time.Second, "plots of life drawn", func() (bool, string) {
		_, err := os.Stat(filepath.Join(dir, "n_10_w_7.png"))
		return err == nil, fmt.Sprint(err)
	})

	// What the api refuses, before anything reaches the stream.
	mustRefuse(t, "DELETE", api.url("/models/default"), "", 409, "POST /models/default/reset")
	mustRefuse(t, "DELETE", api.url("/models/nosuch"), "", 404)
	mustRefuse(t, "POST", api.url("/models/nosuch/reset"), "", 404)
	mustRefuse(t, "DELETE", api.url("/models/bad%20name"), "", 400)
	mustRefuse(t, "POST", api.url("/models/bad%20name/reset"), "", 400)

	// Reset: counts to zero, the spec kept; then it counts again from zero.
	mustAccept(t, "POST", api.url("/models/life/reset"), "", 202, "life", "reset")
	eventually(t, 30*time.Second, "life reset to n=0", func() (bool, string) {
		v, err := getModelAt(bayes, "/models/life")
		return err == nil && v.N == 0, fmt.Sprint(v.N, err)
	})
	mustAccept(t, "POST", api.url("/models/life/observations"), `{"w":1,"l":1}`, 201, "life", "")
	if v := waitModel(t, bayes, "life", 2); v.W != 1 || v.PriorSpec != "beta:2,2" || v.GridPoints != 50 {
		t.Fatalf("life after reset and one batch: w=%d %s/%d, want w=1 beta:2,2/50 (a reset keeps the spec)", v.W, v.PriorSpec, v.GridPoints)
	}

	// The default model can be reset, through both its paths.
	mustAccept(t, "POST", api.url("/models/default/reset"), "", 202, "default", "reset")
	eventually(t, 30*time.Second, "default reset to n=0", func() (bool, string) {
		v, err := getModel(t, bayes)
		return err == nil && v.N == 0, fmt.Sprint(v.N, err)
	})
	if code, _, err := record(api, "POST", "w"); code != 201 || err != nil {
		t.Fatalf("/update_model/w after the reset: %d %v", code, err)
	}
	if v := waitForN(t, bayes, 1); v.W != 1 {
		t.Fatalf("default after reset and one w: %+v", v)
	}

	// Delete: gone from bayes, from every key, and its plots folder.
	mustAccept(t, "DELETE", api.url("/models/life"), "", 202, "life", "delete")
	waitAbsent(t, bayes, "life")
	for _, key := range []string{"update_model:model:life", "update_model:spec:life"} {
		if n, err := s.rdb.Exists(ctx, key).Result(); err != nil || n != 0 {
			t.Errorf("%s after the deletion: exists=%d %v", key, n, err)
		}
	}
	if in, err := s.rdb.SIsMember(ctx, modelsSetKey, "life").Result(); err != nil || in {
		t.Errorf("life still in %s (%v)", modelsSetKey, err)
	}
	if err := s.rdb.ZScore(ctx, modelsIndexKey, "life").Err(); err != redis.Nil {
		t.Errorf("life still in %s (%v)", modelsIndexKey, err)
	}
	eventually(t, 30*time.Second, "plots folder of life removed", func() (bool, string) {
		_, err := os.Stat(dir)
		return os.IsNotExist(err), fmt.Sprint(err)
	})
	names, err := walkModels(bayes, 100)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "default" {
		t.Fatalf("GET /models after the deletion lists %v, want [default]", names)
	}
	mustRefuse(t, "DELETE", api.url("/models/life"), "", 404) // the api sees the spec is gone
	mustRefuse(t, "POST", api.url("/models/life/reset"), "", 404)

	// An observation after the deletion creates the model afresh, with the
	// service's default spec, counting from zero.
	mustAccept(t, "POST", api.url("/models/life/observations"), `{"w":2,"l":2}`, 201, "life", "")
	if v := waitModel(t, bayes, "life", 4); v.W != 2 || v.PriorSpec != "uniform" || v.GridPoints != 120 {
		t.Fatalf("life re-created: w=%d %s/%d, want w=2 and the default spec uniform/120", v.W, v.PriorSpec, v.GridPoints)
	}
	if in, err := s.rdb.SIsMember(ctx, modelsSetKey, "life").Result(); err != nil || !in {
		t.Errorf("re-created life not in %s (%v)", modelsSetKey, err)
	}
	if err := s.rdb.ZScore(ctx, modelsIndexKey, "life").Err(); err != nil {
		t.Errorf("re-created life not in %s: %v", modelsIndexKey, err)
	}
	dead, err := deadLetters(ctx, s.rdb)
	if err != nil || len(dead) != 0 {
		t.Fatalf("dead letters %v (%v): a delete or reset through the api must never be dead-lettered", dead, err)
	}
}
