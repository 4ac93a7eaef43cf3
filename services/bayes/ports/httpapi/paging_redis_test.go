package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/problem"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// redisModels is bayes' HTTP port over a real redis-server through the
// ledger, with models written straight into Redis as the commit script
// leaves them.
type redisModels struct {
	rdb  *redis.Client
	keys redisstream.Keys
	srv  *httptest.Server
}

var pagingDefaults = events.ModelSpec{Prior: "uniform", GridPoints: 120}

func newRedisModels(tb testing.TB) *redisModels {
	tb.Helper()
	rs := redistest.Start(tb)
	rdb := rs.Client()
	tb.Cleanup(func() { rdb.Close() })
	keys := redisstream.KeysFor("update_model")
	ledger := redisstream.NewLedger(rdb, keys, pagingDefaults)
	models, err := query.NewModels(pagingDefaults, ledger)
	if err != nil {
		tb.Fatal(err)
	}
	a := app.Application{Queries: app.Queries{Models: models}}
	srv := httptest.NewServer(httpapi.NewHandler(a, httpapi.Options{}, slog.New(slog.DiscardHandler)))
	tb.Cleanup(srv.Close)
	return &redisModels{rdb: rdb, keys: keys, srv: srv}
}

// create writes models as the commit script creates them: the state hash,
// the spec, the names set and the sorted index (score 0), pipelined in
// batches. Model i gets i%50 waters in 50 trials.
func (m *redisModels) create(tb testing.TB, names ...string) {
	tb.Helper()
	ctx := context.Background()
	spec := events.ModelSpec{Prior: "beta:2,2", GridPoints: 120}.Encode()
	for start := 0; start < len(names); start += 1000 {
		pipe := m.rdb.Pipeline()
		for i, n := range names[start:min(start+1000, len(names))] {
			pipe.HSet(ctx, m.keys.State(n), "w", (start+i)%50, "n", 50, "e", 0)
			pipe.Set(ctx, m.keys.Spec(n), spec, 0)
			pipe.SAdd(ctx, m.keys.Models, n)
			pipe.ZAdd(ctx, m.keys.Index, redis.Z{Member: n})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			tb.Fatalf("creating models: %v", err)
		}
	}
}

// remove deletes models as the commit script does.
func (m *redisModels) remove(tb testing.TB, names ...string) {
	tb.Helper()
	ctx := context.Background()
	pipe := m.rdb.Pipeline()
	for _, n := range names {
		pipe.Del(ctx, m.keys.State(n), m.keys.Spec(n))
		pipe.SRem(ctx, m.keys.Models, n)
		pipe.ZRem(ctx, m.keys.Index, n)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		tb.Fatalf("deleting models: %v", err)
	}
}

// page GETs one page of the list.
func (m *redisModels) page(tb testing.TB, client *http.Client, params url.Values) (httpapi.ModelList, int, string) {
	tb.Helper()
	resp, err := client.Get(m.srv.URL + "/models?" + params.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var l httpapi.ModelList
	if resp.StatusCode != http.StatusOK {
		return l, resp.StatusCode, string(b)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		tb.Fatalf("GET /models?%s: %v: %s", params.Encode(), err, b)
	}
	return l, resp.StatusCode, string(b)
}

// walk GETs every page with limit and prefix, calling between (when not
// nil) after each page, and returns the names in the order listed.
func (m *redisModels) walk(t *testing.T, limit int, prefix string, between func(page int)) []string {
	t.Helper()
	params := url.Values{"limit": {strconv.Itoa(limit)}}
	if prefix != "" {
		params.Set("prefix", prefix)
	}
	var names []string
	for page := 1; ; page++ {
		l, code, body := m.page(t, m.srv.Client(), params)
		if code != http.StatusOK {
			t.Fatalf("GET /models?%s: %d %s", params.Encode(), code, body)
		}
		if len(l.Models) > limit {
			t.Fatalf("GET /models?%s: %d rows", params.Encode(), len(l.Models))
		}
		for _, r := range l.Models {
			names = append(names, r.Name)
		}
		if l.Next == nil {
			return names
		}
		if page > 20000 {
			t.Fatalf("no end after %d pages", page)
		}
		if between != nil {
			between(page)
		}
		params.Set("after", *l.Next)
	}
}

// listOrder is the order GET /models lists names in: default first, then
// byte order.
func listOrder(names []string) []string {
	out := slices.Clone(names)
	sort.Slice(out, func(i, j int) bool {
		if (out[i] == events.DefaultModel) != (out[j] == events.DefaultModel) {
			return out[i] == events.DefaultModel
		}
		return out[i] < out[j]
	})
	return out
}

// Walking every page over Redis visits every model once, in the list's
// order, whatever the page size; the last page's next is null; a prefix
// keeps its names; default comes first, stored or not.
func TestModelsPagingOverRedis(t *testing.T) {
	m := newRedisModels(t)
	// Names around "default" in byte order, and sharing its start.
	names := []string{"9lives", "Alpha", "Zulu", "a-b", "a_b", "d", "de", "default-2", "defaults", "e", "z", "zz"}
	for i := range 200 {
		names = append(names, fmt.Sprintf("m%03d", i))
	}
	m.create(t, names...)
	want := listOrder(append([]string{events.DefaultModel}, names...))
	for _, limit := range []int{1, 2, 7, 100, 211, 212, 213, 1000} {
		if got := m.walk(t, limit, "", nil); !slices.Equal(got, want) {
			t.Errorf("limit %d: listed %d names %.300v, want %d", limit, len(got), got, len(want))
		}
	}
	// default before its first observation: n = 0, the defaults' spec.
	l, _, _ := m.page(t, m.srv.Client(), url.Values{"limit": {"2"}})
	if len(l.Models) != 2 || l.Models[0].Name != "default" || l.Models[0].N != 0 || l.Models[0].GridPoints != pagingDefaults.GridPoints ||
		l.Models[1].Name != "9lives" || l.Next == nil || *l.Next != "9lives" {
		t.Fatalf("first page of 2: %+v", l)
	}
	for prefix, want := range map[string][]string{
		"d":       {"default", "d", "de", "default-2", "defaults"},
		"default": {"default", "default-2", "defaults"},
		"a":       {"a-b", "a_b"},
		"A":       {"Alpha"},
		"m19":     {"m190", "m191", "m192", "m193", "m194", "m195", "m196", "m197", "m198", "m199"},
		"nothing": nil,
	} {
		for _, limit := range []int{1, 3, 100} {
			if got := m.walk(t, limit, prefix, nil); !slices.Equal(got, want) {
				t.Errorf("prefix %q, limit %d: %v, want %v", prefix, limit, got, want)
			}
		}
	}

	// The default model stored, with observations: listed once, first.
	m.create(t, events.DefaultModel)
	if got := m.walk(t, 50, "", nil); !slices.Equal(got, want) {
		t.Errorf("with default stored: %d names, want %d", len(got), len(want))
	}
}

// While models are created and deleted between pages, a walk lists every
// model that existed throughout exactly once, and nothing that never
// existed.
func TestModelsPagingUnderChurn(t *testing.T) {
	m := newRedisModels(t)
	var stable []string
	for i := range 300 {
		stable = append(stable, fmt.Sprintf("s%03d", i))
	}
	m.create(t, stable...)
	rng := rand.New(rand.NewPCG(1, 2))
	churned := map[string]bool{}
	created := 0
	got := m.walk(t, 17, "", func(int) {
		// New names all over the order, and some of them deleted again.
		for range 5 {
			// Before, among and after the stable names ('r' < 's' < 't').
			n := fmt.Sprintf("%c%d", "art"[rng.IntN(3)], created)
			created++
			churned[n] = true
			m.create(t, n)
			if rng.IntN(2) == 0 {
				m.remove(t, n)
			}
		}
	})
	seen := map[string]int{}
	for _, n := range got {
		seen[n]++
		if seen[n] > 1 {
			t.Errorf("%s listed %d times", n, seen[n])
		}
		if n != events.DefaultModel && !churned[n] && !slices.Contains(stable, n) {
			t.Errorf("%s listed, never created", n)
		}
	}
	for _, n := range stable {
		if seen[n] != 1 {
			t.Errorf("%s, there throughout, listed %d times", n, seen[n])
		}
	}
	if seen[events.DefaultModel] != 1 || got[0] != events.DefaultModel {
		t.Errorf("default listed %d times, first %q", seen[events.DefaultModel], got[0])
	}
}

// Bad pages are 400 problems whose detail names the parameter and its
// rule; the bounds of limit are 1 and 1000.
func TestModelsPagingRefusesBadParameters(t *testing.T) {
	m := newRedisModels(t)
	m.create(t, "a", "b")
	for _, tc := range []struct{ query, says string }{
		{"limit=0", `limit="0": want a whole number from 1 to 1000`},
		{"limit=-1", `limit="-1": want a whole number from 1 to 1000`},
		{"limit=1001", `limit="1001": want a whole number from 1 to 1000`},
		{"limit=1.5", `limit="1.5": want a whole number`},
		{"limit=ten", `limit="ten": want a whole number`},
		{"limit=" + strings.Repeat("9", 40), `limit="` + strings.Repeat("9", 32) + `…": want a whole number`},
		{"after=a%2Fb", `after="a/b": want a model name (1 to 64 letters, digits, '-' or '_')`},
		{"after=" + strings.Repeat("x", 65), `after="`},
		{"after=%20", `after=" ": want a model name`},
		{"prefix=a%20b", `prefix="a b": want the start of a model name (1 to 64 letters, digits, '-' or '_')`},
		{"prefix=%C3%A9", `prefix="é": want the start of a model name`},
		{"prefix=" + strings.Repeat("x", 65), `prefix="`},
	} {
		resp, err := m.srv.Client().Get(m.srv.URL + "/models?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var p problem.Details
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != problem.ContentType ||
			p.Status != 400 || !strings.HasPrefix(p.Detail, tc.says) {
			t.Errorf("GET /models?%s: %d %q %+v, want 400 saying %q", tc.query, resp.StatusCode, resp.Header.Get("Content-Type"), p, tc.says)
		}
	}
	for _, q := range []string{"limit=1", "limit=1000", "limit=", "after=", "prefix=", "after=default", "after=zzz", "prefix=" + strings.Repeat("x", 64)} {
		if _, code, body := m.page(t, m.srv.Client(), mustParse(t, q)); code != http.StatusOK {
			t.Errorf("GET /models?%s: %d %s", q, code, body)
		}
	}
	if l, _, _ := m.page(t, m.srv.Client(), url.Values{}); len(l.Models) != 3 || l.Next != nil {
		t.Errorf("GET /models: %+v", l)
	}
}

func mustParse(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// BenchmarkModelsPage times GET /models?limit=100 (the first page, and a
// page from a random place) over a real redis-server holding 100 and
// 10,000 models, through HTTP as a client sees it. Besides ns/op it
// reports the p50 and p99 of the requests in ms: the figure is
// p99 <= 20 ms with 10,000 models and <= 2 x the p99 with 100.
//
//	go test -run '^$' -bench BenchmarkModelsPage -benchtime 2000x ./ports/httpapi/
func BenchmarkModelsPage(b *testing.B) {
	for _, count := range []int{100, 10000} {
		m := newRedisModels(b)
		names := make([]string, count)
		for i := range names {
			names[i] = fmt.Sprintf("m%05d", i)
		}
		m.create(b, names...)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		b.Cleanup(client.CloseIdleConnections)
		for _, where := range []string{"first", "random"} {
			b.Run(fmt.Sprintf("models=%d/%s", count, where), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(uint64(count), 7))
				took := make([]time.Duration, 0, b.N)
				for b.Loop() {
					params := url.Values{"limit": {"100"}}
					if where == "random" {
						params.Set("after", names[rng.IntN(count)])
					}
					start := time.Now()
					l, code, body := m.page(b, client, params)
					took = append(took, time.Since(start))
					if code != http.StatusOK || (where == "first" && len(l.Models) != 100) {
						b.Fatalf("GET /models?%s: %d %.200s", params.Encode(), code, body)
					}
				}
				slices.Sort(took)
				q := func(f float64) float64 { return float64(took[int(f*float64(len(took)-1))]) / 1e6 }
				b.ReportMetric(q(0.5), "p50-ms")
				b.ReportMetric(q(0.99), "p99-ms")
			})
		}
	}
}
