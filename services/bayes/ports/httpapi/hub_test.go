package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/ports/httpapi"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// countingStore is the ledger over a real redis-server, counting the reads
// of models (each a pipelined round trip) and the names each asked for.
type countingStore struct {
	query.ModelStore
	mu    sync.Mutex
	reads [][]string
}

func (s *countingStore) Models(ctx context.Context, names ...string) ([]query.StoredModel, error) {
	s.mu.Lock()
	s.reads = append(s.reads, slices.Clone(names))
	s.mu.Unlock()
	return s.ModelStore.Models(ctx, names...)
}

// forget forgets the reads so far: count and all see the later ones.
func (s *countingStore) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = nil
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reads)
}

func (s *countingStore) all() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reads)
}

// liveGauges records what the port sets on its LiveMetrics.
type liveGauges struct {
	mu               sync.Mutex
	streams, watched int
}

func (g *liveGauges) SetStreams(n int) { g.mu.Lock(); g.streams = n; g.mu.Unlock() }
func (g *liveGauges) SetWatched(n int) { g.mu.Lock(); g.watched = n; g.mu.Unlock() }

func (g *liveGauges) get() (streams, watched int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.streams, g.watched
}

// liveRedis is bayes' HTTP port over a real redis-server, its feeds ending
// on the server's shutdown as in the service.
type liveRedis struct {
	rdb    *redis.Client
	keys   redisstream.Keys
	store  *countingStore
	gauges *liveGauges
	srv    *httptest.Server
}

func newLiveRedis(t *testing.T, maxStreams int, poll time.Duration) *liveRedis {
	t.Helper()
	rdb := redistest.Start(t).Client()
	keys := redisstream.KeysFor(events.DefaultStream)
	defaults := events.ModelSpec{Prior: "uniform", GridPoints: 20}
	store := &countingStore{ModelStore: redisstream.NewLedger(rdb, keys, defaults)}
	models, err := query.NewModels(defaults, store)
	if err != nil {
		t.Fatal(err)
	}
	gauges := &liveGauges{}
	done := make(chan struct{})
	var once sync.Once
	h := httpapi.NewHandler(app.Application{Queries: app.Queries{Models: models}}, httpapi.Options{
		LivePoll: poll, Done: done, LiveMaxStreams: maxStreams, Live: gauges,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	srv.Config.RegisterOnShutdown(func() { once.Do(func() { close(done) }) })
	t.Cleanup(srv.Close)
	// Before srv.Close, which waits for open feeds: they end on done.
	t.Cleanup(func() { once.Do(func() { close(done) }) })
	return &liveRedis{rdb: rdb, keys: keys, store: store, gauges: gauges, srv: srv}
}

// create writes a model as the commit script leaves it.
func (l *liveRedis) create(t *testing.T, name string, w, n, epoch int64) {
	t.Helper()
	ctx := context.Background()
	pipe := l.rdb.TxPipeline()
	pipe.HSet(ctx, l.keys.State(name), "w", w, "n", n, "e", epoch)
	pipe.Set(ctx, l.keys.Spec(name), events.ModelSpec{Prior: "beta:2,2", GridPoints: 30}.Encode(), 0)
	pipe.SAdd(ctx, l.keys.Models, name)
	pipe.ZAdd(ctx, l.keys.Index, redis.Z{Member: name})
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
}

// remove deletes a model as the commit script does.
func (l *liveRedis) remove(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	pipe := l.rdb.TxPipeline()
	pipe.Del(ctx, l.keys.State(name), l.keys.Spec(name))
	pipe.SRem(ctx, l.keys.Models, name)
	pipe.ZRem(ctx, l.keys.Index, name)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("deleting %s: %v", name, err)
	}
}

// reset zeroes a model's counts with a new epoch, as the commit script does.
func (l *liveRedis) reset(t *testing.T, name string, epoch int64) {
	t.Helper()
	if err := l.rdb.HSet(context.Background(), l.keys.State(name), "w", 0, "n", 0, "e", epoch).Err(); err != nil {
		t.Fatalf("resetting %s: %v", name, err)
	}
}

// eventually polls cond until it holds, failing the test after 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval; the deadline bounds the wait
	}
}

// hubPollers counts the goroutines running the hub's poll loop, by the line
// every goroutine's trace ends with: "created by ...(*hub).subscribe". Their
// top frame would not do: a goroutine started but not yet scheduled shows
// the compiler's wrapper (subscribe.gowrap1), not run, so on a loaded
// machine a poller just started was once counted as none.
func hubPollers() int {
	hubPackage := reflect.TypeFor[httpapi.ModelResponse]().PkgPath()
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by "+hubPackage+".(*hub).subscribe in goroutine ")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// nextChange reads the next event, which must be named name, with data
// {"model": model}.
func nextChange(t *testing.T, feed <-chan sseEvent, name, model string) {
	t.Helper()
	ev := next(t, feed)
	if want := fmt.Sprintf(`{"model":%q}`, model); ev.name != name || ev.data != want {
		t.Fatalf("event %q %s, want %q %s", ev.name, ev.data, name, want)
	}
}

// Ten pages on the same two models cost one read of each model per tick,
// not one per page; a change still reaches every page.
func TestFeedsShareOneReadPerTick(t *testing.T) {
	const poll = 20 * time.Millisecond
	l := newLiveRedis(t, 0, poll)
	l.create(t, "globe", 3, 5, 0)
	l.create(t, "ab", 1, 2, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var models, compares []<-chan sseEvent
	for range 8 {
		_, feed := openFeed(t, ctx, l.srv.URL+"/models/globe/events")
		if v := nextModel(t, feed); v.N != 5 {
			t.Fatalf("first event n=%d, want 5", v.N)
		}
		models = append(models, feed)
	}
	for range 2 {
		_, feed := openFeed(t, ctx, l.srv.URL+"/compare/events?models=globe,ab")
		nextAs[httpapi.CompareResponse](t, feed, "compare")
		compares = append(compares, feed)
	}
	if streams, watched := l.gauges.get(); streams != 10 || watched != 2 {
		t.Fatalf("gauges: %d streams, %d watched models; want 10 and 2", streams, watched)
	}

	// No page opens from here on: every read is the hub's. A read per page
	// per tick would make 12 reads in about one tick; a shared one needs
	// about 11 ticks (a ticker never fires faster than its period, one
	// tick at most waiting when a read ran late).
	l.store.forget()
	start := time.Now()
	eventually(t, "12 reads", func() bool { return l.store.count() >= 12 })
	if took := time.Since(start); took < 9*poll {
		t.Fatalf("12 reads in %v with 10 pages open, polling every %v: more than one read per tick", took, poll)
	}
	for _, names := range l.store.all() {
		slices.Sort(names)
		if !slices.Equal(names, []string{"ab", "globe"}) {
			t.Fatalf("a tick read %q, want each watched model once: ab, globe", names)
		}
	}

	if err := l.rdb.HIncrBy(ctx, l.keys.State("globe"), "n", 1).Err(); err != nil {
		t.Fatal(err)
	}
	for i, feed := range models {
		if v := nextModel(t, feed); v.N != 6 {
			t.Fatalf("model feed %d: n=%d, want 6", i, v.N)
		}
	}
	for i, feed := range compares {
		if c := nextAs[httpapi.CompareResponse](t, feed, "compare"); c.Models[0].Name != "globe" || c.Models[0].N != 6 {
			t.Fatalf("compare feed %d: %+v, want globe at n=6 first", i, c.Models)
		}
	}
}

// LIVE_MAX_STREAMS=2: two feeds, whatever their routes; the third is a 503
// problem with Retry-After, and a place freed is taken again.
func TestFeedsAreCapped(t *testing.T) {
	l := newLiveRedis(t, 2, 10*time.Millisecond)
	l.create(t, "globe", 3, 5, 0)
	l.create(t, "ab", 1, 2, 0)
	first, leave := context.WithCancel(context.Background())
	defer leave()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, feed := openFeed(t, first, l.srv.URL+"/models/globe/events")
	nextModel(t, feed)
	_, cmp := openFeed(t, ctx, l.srv.URL+"/compare/events?models=globe,ab")
	nextAs[httpapi.CompareResponse](t, cmp, "compare")

	for _, path := range []string{"/models/globe/events", "/compare/events?models=ab,globe", "/models/nope/events"} {
		resp, body := fetch(t, l.srv.URL+path)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
			t.Fatalf("GET %s with 2 feeds open: %s, Retry-After %q; want 503 and 5", path, resp.Status, resp.Header.Get("Retry-After"))
		}
		if detail := checkProblem(t, "GET "+path, resp, body); !strings.Contains(detail, "LIVE_MAX_STREAMS=2") || !strings.Contains(detail, "at most 2") {
			t.Fatalf("detail %q does not say the limit and its variable", detail)
		}
	}
	// Other routes are not feeds and are not capped.
	if resp, body := fetch(t, l.srv.URL+"/models/globe"); resp.StatusCode != 200 {
		t.Fatalf("GET /models/globe with the feeds capped: %s %s", resp.Status, body)
	}

	leave()
	for range feed {
	}
	var again <-chan sseEvent
	eventually(t, "a feed accepted after one closed", func() bool {
		resp, feed := openFeed(t, ctx, l.srv.URL+"/models/ab/events")
		if resp.StatusCode == http.StatusOK {
			again = feed
			return true
		}
		for range feed { // the problem: no event, then the end
		}
		return false
	})
	if v := nextModel(t, again); v.Name != "ab" {
		t.Fatalf("feed after the cap: %+v", v)
	}
	eventually(t, "the gauge back at 2 open feeds", func() bool { s, _ := l.gauges.get(); return s == 2 })
}

// A model reset sends "reset" then the model (also when its counts were
// zero already); a deleted model sends "deleted" once and the feed waits;
// created again, the model comes back with "model".
func TestModelFeedSaysResetAndDeleted(t *testing.T) {
	l := newLiveRedis(t, 0, 5*time.Millisecond)
	l.create(t, "globe", 3, 5, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, feed := openFeed(t, ctx, l.srv.URL+"/models/globe/events")
	if v := nextModel(t, feed); v.N != 5 {
		t.Fatalf("first: n=%d", v.N)
	}

	l.reset(t, "globe", 1)
	nextChange(t, feed, "reset", "globe")
	if v := nextModel(t, feed); v.W != 0 || v.N != 0 || v.PriorSpec != "beta:2,2" {
		t.Fatalf("after the reset: %+v", v)
	}
	l.reset(t, "globe", 2)
	nextChange(t, feed, "reset", "globe")
	if v := nextModel(t, feed); v.N != 0 {
		t.Fatalf("after the second reset: n=%d", v.N)
	}

	l.remove(t, "globe")
	nextChange(t, feed, "deleted", "globe")
	// Created again (by an observation: the defaults' spec) with the epoch
	// counter's value: a model event, not a reset, and no second deleted.
	ctxb := context.Background()
	pipe := l.rdb.TxPipeline()
	pipe.HSet(ctxb, l.keys.State("globe"), "w", 1, "n", 1, "e", 3)
	pipe.SAdd(ctxb, l.keys.Models, "globe")
	if _, err := pipe.Exec(ctxb); err != nil {
		t.Fatal(err)
	}
	if v := nextModel(t, feed); v.W != 1 || v.N != 1 || v.PriorSpec != "uniform" {
		t.Fatalf("created again: %+v", v)
	}

	// The default model is never deleted, and can be reset.
	_, def := openFeed(t, ctx, l.srv.URL+"/models/default/events")
	if v := nextModel(t, def); v.Name != "default" || v.N != 0 {
		t.Fatalf("default: %+v", v)
	}
	l.reset(t, "default", 4)
	nextChange(t, def, "reset", "default")
	nextModel(t, def)
}

// A comparison with a deleted model says so and waits for it; a reset of
// one of its models is "reset" then the comparison.
func TestCompareFeedSaysDeletedAndReset(t *testing.T) {
	l := newLiveRedis(t, 0, 5*time.Millisecond)
	l.create(t, "a", 3, 5, 0)
	l.create(t, "b", 4, 5, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, feed := openFeed(t, ctx, l.srv.URL+"/compare/events?models=a,b")
	nextAs[httpapi.CompareResponse](t, feed, "compare")

	l.remove(t, "b")
	nextChange(t, feed, "deleted", "b")
	l.create(t, "b", 4, 5, 7) // the same counts as before: still a new comparison
	if c := nextAs[httpapi.CompareResponse](t, feed, "compare"); len(c.Models) != 2 || c.Models[1].Name != "b" || c.Models[1].N != 5 {
		t.Fatalf("b created again: %+v", c.Models)
	}

	l.reset(t, "a", 8)
	nextChange(t, feed, "reset", "a")
	if c := nextAs[httpapi.CompareResponse](t, feed, "compare"); c.Models[0].N != 0 || c.Models[1].N != 5 {
		t.Fatalf("after a's reset: %+v", c.Models)
	}
}

// The hub polls with one goroutine while feeds are open, whatever their
// number and models, and with none once they closed or the server shut
// down.
func TestHubStopsWithItsFeeds(t *testing.T) {
	l := newLiveRedis(t, 0, 5*time.Millisecond)
	l.create(t, "globe", 3, 5, 0)
	l.create(t, "ab", 1, 2, 0)
	// The tests of this package run one at a time: the pollers of those
	// before this one end soon after their feeds.
	eventually(t, "no hub poller left by the tests before", func() bool { return hubPollers() == 0 })
	const base = 0

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var feeds []<-chan sseEvent
	for _, path := range []string{"/models/globe/events", "/models/ab/events", "/models/globe/events", "/compare/events?models=ab,globe"} {
		_, feed := openFeed(t, ctx, l.srv.URL+path)
		next(t, feed)
		feeds = append(feeds, feed)
	}
	if n := hubPollers(); n != base+1 {
		t.Fatalf("%d hub pollers with 4 feeds open, want 1", n-base)
	}
	cancel()
	for _, feed := range feeds {
		for range feed {
		}
	}
	eventually(t, "no hub poller once every feed closed", func() bool { return hubPollers() == base })
	eventually(t, "the gauges at 0", func() bool { s, w := l.gauges.get(); return s == 0 && w == 0 })

	// Started again by the next feed, ended by the shutdown.
	client, leave := context.WithCancel(context.Background())
	defer leave()
	_, feed := openFeed(t, client, l.srv.URL+"/models/globe/events")
	nextModel(t, feed)
	if n := hubPollers(); n != base+1 {
		t.Fatalf("%d hub pollers with a feed open again, want 1", n-base)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := l.srv.Config.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown waited for the open feed: %v", err)
	}
	for range feed {
	}
	eventually(t, "no hub poller after the shutdown", func() bool { return hubPollers() == base })
}
