package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// capJob is one batch of observations sent in a cap burst, and its answer.
type capJob struct {
	api   *proc
	name  string
	w, l  int64
	fresh bool // the model did not exist when the burst began
	limit int  // MAX_MODELS at the time, as answers and dead letters must say
	ans   answer
}

// runBurst sends every job from workers goroutines released at once, and
// returns when all are answered.
func runBurst(jobs []*capJob, workers int) {
	ch := make(chan *capJob)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range ch {
				j.ans = send(http.MethodPost, j.api.url("/models/"+j.name+"/observations"), fmt.Sprintf(`{"w":%d,"l":%d}`, j.w, j.l))
			}
		}()
	}
	close(start)
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

// freshJobs is one batch for each of the new models prefix{from..to-1},
// spread over apis in turn.
func freshJobs(apis []*proc, prefix string, from, to, limit int) []*capJob {
	var jobs []*capJob
	for i := from; i < to; i++ {
		jobs = append(jobs, &capJob{api: apis[i%len(apis)], name: fmt.Sprintf("%s%03d", prefix, i),
			w: int64(i % 7), l: int64(i%5 + 1), fresh: true, limit: limit})
	}
	return jobs
}

// countWatch samples, until stopped, how many models other than default
// Redis holds (its names set and its sorted index, read in one
// transaction) and how many bayes lists, and records every sample above
// the cap in force.
type countWatch struct {
	limit  atomic.Int64
	noList atomic.Bool // bayes is down: sample Redis alone
	mu     sync.Mutex
	// samples, the largest count seen, the samples above the cap and the
	// first errors.
	samples, max int64
	over, errs   []string
	stop         func()
}

func watchModelCounts(t *testing.T, s *system, bayes *proc, limit int) *countWatch {
	t.Helper()
	w := &countWatch{}
	w.limit.Store(int64(limit))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond) // pacing, not synchronisation
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			w.sample(ctx, s, bayes)
		}
	}()
	var once sync.Once
	w.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(w.stop)
	return w
}

func (w *countWatch) sample(ctx context.Context, s *system, bayes *proc) {
	var scard, zcard, zdef *redis.IntCmd
	var sdef *redis.BoolCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		scard = p.SCard(ctx, modelsSetKey)
		zcard = p.ZCard(ctx, modelsIndexKey)
		sdef = p.SIsMember(ctx, modelsSetKey, "default")
		zdef = p.ZLexCount(ctx, modelsIndexKey, "[default", "[default")
		return nil
	})
	var listed []string
	var lerr error
	if !w.noList.Load() {
		listed, lerr = walkModels(bayes, 1000)
	}
	if ctx.Err() != nil || (lerr != nil && w.noList.Load()) { // stopped, or bayes killed meanwhile
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || lerr != nil {
		if len(w.errs) < 5 {
			w.errs = append(w.errs, fmt.Sprint(err, lerr))
		}
		return
	}
	inSet, inIndex := scard.Val(), zcard.Val()-zdef.Val()
	if sdef.Val() {
		inSet--
	}
	inList := int64(len(slices.DeleteFunc(listed, func(n string) bool { return n == "default" })))
	w.samples++
	w.max = max(w.max, inSet, inIndex, inList)
	if limit := w.limit.Load(); (inSet > limit || inIndex > limit || inList > limit) && len(w.over) < 5 {
		w.over = append(w.over, fmt.Sprintf("set %d, index %d, listed %d with MAX_MODELS=%d", inSet, inIndex, inList, limit))
	}
}

// check stops the watch and fails t if any sample was above the cap.
func (w *countWatch) check(t *testing.T) {
	t.Helper()
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 {
		t.Errorf("count watch: %d samples failed, first: %v", len(w.errs), w.errs)
	}
	if len(w.over) > 0 {
		t.Errorf("more models than the cap (models other than default): %v", w.over)
	}
	if w.samples < 10 {
		t.Errorf("count watch took only %d samples", w.samples)
	}
}

// modelCounts is what a model must count.
type modelCounts struct{ w, n int64 }

// checkCapOutcome judges every job once the stream is drained: a 201 is
// either counted in its model or dead-lettered (source_id = its id) with
// the model-limit reason, a refusal is a 409 problem saying the limit, only
// a new model is ever refused, every dead letter is one of the 201s, and
// every replica lists each model with exactly its 201s that were not
// dead-lettered, and no model without one. It returns the models created.
func checkCapOutcome(t *testing.T, s *system, replicas []*proc, jobs []*capJob) map[string]*modelCounts {
	t.Helper()
	dead, err := deadLetters(context.Background(), s.rdb)
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]*modelCounts{}
	refused := map[string]bool{}
	ours := map[string]bool{}
	for _, j := range jobs {
		what := fmt.Sprintf("POST /models/%s/observations via %s", j.name, j.api.name)
		switch {
		case j.ans.err != nil:
			t.Errorf("%s: %v", what, j.ans.err)
		case j.ans.status == http.StatusCreated:
			b, err := j.ans.accepted()
			if err != nil || b.Model != j.name {
				t.Errorf("%s: 201 %+v %v", what, b, err)
				continue
			}
			ours[b.ID] = true
			if reason, ok := dead[b.ID]; ok {
				if !j.fresh {
					t.Errorf("%s: 201 %s for an existing model dead-lettered: %q", what, b.ID, reason)
				}
				for _, want := range []string{"model limit reached", fmt.Sprintf("MAX_MODELS=%d", j.limit), fmt.Sprintf("model %q was not created", j.name)} {
					if !strings.Contains(reason, want) {
						t.Errorf("%s: dead letter of %s: reason %q, want it to say %q", what, b.ID, reason, want)
					}
				}
				continue
			}
			c := counted[j.name]
			if c == nil {
				c = &modelCounts{}
				counted[j.name] = c
			}
			c.w += j.w
			c.n += j.w + j.l
		case j.ans.status == http.StatusConflict:
			d, err := j.ans.problemDetail()
			if err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			if !j.fresh {
				t.Errorf("%s: an existing model refused: %s", what, d)
			}
			for _, want := range []string{"model limit reached", fmt.Sprintf("MAX_MODELS=%d", j.limit), "DELETE /models/{name}"} {
				if !strings.Contains(d, want) {
					t.Errorf("%s: 409 detail %q, want it to say %q", what, d, want)
				}
			}
			refused[j.name] = true
		default:
			t.Errorf("%s: %s; want 201, or 409 for a new model beyond the cap", what, j.ans)
		}
	}
	for id, reason := range dead {
		if !ours[id] {
			t.Errorf("dead letter of %s (%q) is no 201 of this test: something else was lost", id, reason)
		}
	}
	// The models as each replica lists them: one walk, not a read per model.
	for _, bayes := range replicas {
		listed := map[string]modelCounts{}
		after := ""
		for {
			page, err := listModels(bayes, 1000, after, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page.Models {
				listed[m.Name] = modelCounts{w: m.W, n: m.N}
			}
			if page.Next == nil {
				break
			}
			after = *page.Next
		}
		for _, j := range jobs {
			got, ok := listed[j.name]
			if c := counted[j.name]; c != nil && (!ok || got != *c) {
				t.Errorf("%s lists model %s (%v) with w=%d n=%d; its 201s not dead-lettered give w=%d n=%d",
					bayes.name, j.name, ok, got.w, got.n, c.w, c.n)
			} else if c == nil && ok {
				t.Errorf("%s lists model %s, never created", bayes.name, j.name)
			}
		}
	}
	return counted
}

// namedModels is how many models other than default the names set holds,
// and the index, and the list.
func namedModels(t *testing.T, s *system, bayes *proc) (inSet, inIndex, inList int) {
	t.Helper()
	ctx := context.Background()
	names, err := s.rdb.SMembers(ctx, modelsSetKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	index, err := s.rdb.ZRange(ctx, modelsIndexKey, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	listed, err := walkModels(bayes, 7)
	if err != nil {
		t.Fatal(err)
	}
	notDefault := func(ns []string) int {
		return len(slices.DeleteFunc(ns, func(n string) bool { return n == "default" }))
	}
	return notDefault(names), notDefault(index), notDefault(listed)
}

// The cap, at the api and in bayes' commit script: two api replicas and two
// bayes replicas with MAX_MODELS=30, and many clients creating twice that
// many models through both apis at once. Whatever the race, the models
// never exceed the cap; each 201 is counted in its model or, when a replica
// of the api let it through before the cap was reached, dead-lettered with
// the reason; each refusal is a 409 problem; existing models keep accepting
// at the cap, and so does default. Then, the cap raised to 45 while bayes
// is down, the apis admit 45 new models at once and the script alone keeps
// the count to the cap.
func TestModelCapTwoAPIsRacing(t *testing.T) {
	const capA, capB = 30, 45
	start := time.Now()
	s := newBareSystem(t)
	envA := fmt.Sprintf("MAX_MODELS=%d", capA)
	apis := []*proc{s.startAPI(t, "api-a", envA), s.startAPI(t, "api-b", envA)}
	replicas := []*proc{s.bayes(t, "b1", envA, "LOG_LEVEL=info"), s.bayes(t, "b2", envA, "LOG_LEVEL=info")}
	watch := watchModelCounts(t, s, replicas[0], capA)

	// Phase 1: 60 new models from 8 clients through both apis at once, while
	// bayes applies them: some refused by an api that saw the cap reached,
	// some let through before and dead-lettered (the mix varies by run).
	burst := freshJobs(apis, "m", 0, 2*capA, capA)
	runBurst(burst, 8)
	waitDrained(t, s.rdb, time.Minute)
	jobs := slices.Clone(burst)
	created := checkCapOutcome(t, s, replicas, jobs)
	if t.Failed() {
		t.FailNow()
	}
	if len(created) != capA {
		t.Fatalf("%d models created by 60 new names with MAX_MODELS=%d, want exactly %d", len(created), capA, capA)
	}
	if set, index, list := namedModels(t, s, replicas[1]); set != capA || index != capA || list != capA {
		t.Fatalf("models: set %d, index %d, listed %d; want %d each", set, index, list, capA)
	}
	var refusedA, deadA int
	for _, j := range burst {
		switch {
		case j.ans.status == http.StatusConflict:
			refusedA++
		case created[j.name] == nil:
			deadA++
		}
	}
	t.Logf("phase 1: %d new models at once through 2 apis: %d created, %d refused by an api (409), %d accepted and dead-lettered (%s)",
		len(burst), len(created), refusedA, deadA, time.Since(start).Round(time.Millisecond))

	// At the cap: every existing model still accepts, through both apis.
	var existing []string
	for name := range created {
		existing = append(existing, name)
	}
	slices.Sort(existing)
	var again []*capJob
	for i, name := range existing {
		again = append(again, &capJob{api: apis[i%2], name: name, w: 2, l: 3, limit: capA})
	}
	runBurst(again, 8)
	for _, j := range again {
		if j.ans.status != http.StatusCreated {
			t.Fatalf("existing model %s at the cap via %s: %s, want 201", j.name, j.api.name, j.ans)
		}
	}
	jobs = append(jobs, again...)
	// A new model is refused at once by either api, as an observation or a
	// definition; the default model never is, nor a definition the model
	// already has.
	for _, api := range apis {
		mustRefuse(t, "POST", api.url("/models/extra/observations"), `{"w":1}`, 409,
			"model limit reached", fmt.Sprintf("MAX_MODELS=%d", capA), "DELETE /models/{name}")
		mustRefuse(t, "PUT", api.url("/models/extra"), `{"prior":"uniform","grid_points":50}`, 409, "model limit reached")
		if a := send("PUT", api.url("/models/"+existing[0]), `{"prior":"uniform","grid_points":120}`); a.status != 200 {
			t.Fatalf("PUT /models/%s with its own spec at the cap via %s: %s, want 200", existing[0], api.name, a)
		}
	}
	if code, _, err := record(apis[1], "POST", "w"); code != 201 || err != nil {
		t.Fatalf("default model at the cap: %d %v", code, err)
	}
	waitForN(t, replicas[0], 1)

	// Phase 2: bayes down, the cap raised to 45 on the apis, which then see
	// 31 models (default included) and admit 45 new ones (and a batch for
	// each existing one); bayes, back with the new cap, creates 14 and
	// dead-letters the other 31.
	watch.noList.Store(true)
	for _, r := range replicas {
		r.kill()
	}
	watch.limit.Store(capB)
	envB := fmt.Sprintf("MAX_MODELS=%d", capB)
	for _, a := range apis {
		a.env = append(a.env, envB)
		a.restart()
	}
	burst = freshJobs(apis, "n", 0, capB, capB)
	for i, name := range existing {
		burst = append(burst, &capJob{api: apis[(i+1)%2], name: name, w: 1, l: 1, limit: capB})
	}
	runBurst(burst, 16)
	for _, j := range burst {
		if j.ans.status != http.StatusCreated {
			t.Fatalf("%s via %s with 31 of %d models: %s, want 201", j.name, j.api.name, capB, j.ans)
		}
	}
	jobs = append(jobs, burst...)
	for _, r := range replicas {
		r.env = append(r.env, envB)
		r.start()
	}
	watch.noList.Store(false)
	waitDrained(t, s.rdb, time.Minute)
	watch.check(t)
	created = checkCapOutcome(t, s, replicas, jobs)
	if set, index, list := namedModels(t, s, replicas[0]); set != capB-1 || index != capB-1 || list != capB-1 {
		t.Fatalf("after phase 2: set %d, index %d, listed %d models besides default; want %d (default is the %dth)",
			set, index, list, capB-1, capB)
	}
	var deadB int
	for _, j := range burst {
		if created[j.name] == nil {
			deadB++
		}
	}
	if deadB != capB-(capB-1-capA) {
		t.Fatalf("phase 2: %d of %d new models dead-lettered, want %d", deadB, capB, capB-(capB-1-capA))
	}
	t.Logf("phase 2: %d new models admitted by the apis while bayes was down, %d created, %d dead-lettered by the script; "+
		"largest count sampled %d (%d samples); whole test %s",
		capB, capB-1-capA, deadB, watch.max, watch.samples, time.Since(start).Round(time.Millisecond))
}

// metricValue is the value of one series of p's /metrics, written as the
// exposition writes it (name{labels}), or 0 when p has not exported it.
func metricValue(p *proc, series string) (float64, error) {
	resp, err := client.Get(p.url("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, sc.Err()
}

// A 201 for a new model can still end in the dead letters: two clients
// create a model each before bayes applies either, with room for one. What
// the client of the refused one sees: GET /models/{name} on bayes stays
// 404; the dead-letter stream holds an entry whose source_id is the id of
// its 201, with the reason; bayes counts it under reason model_limit; its
// next observation is refused by the api with 409; once a model is deleted
// there is room again.
func TestModelLimitDeadLetterSeenByClient(t *testing.T) {
	ctx := context.Background()
	s := newBareSystem(t)
	api := s.startAPI(t, "api", "MAX_MODELS=1")
	first := mustAccept(t, "POST", api.url("/models/first/observations"), `{"w":2,"l":1}`, 201, "first", "")
	second := mustAccept(t, "POST", api.url("/models/second/observations"), `{"w":1,"l":1}`, 201, "second", "")
	bayes := s.bayes(t, "b0", "MAX_MODELS=1")
	waitDrained(t, s.rdb, 30*time.Second)
	if v := waitModel(t, bayes, "first", 3); v.W != 2 {
		t.Fatalf("first, earlier in the stream, must be the one created: %+v", v)
	}

	if code, _, err := modelStatus(bayes, "second"); code != 404 || err != nil {
		t.Fatalf("GET /models/second: %d %v, want 404", code, err)
	}
	dead, err := deadLetters(ctx, s.rdb)
	if err != nil {
		t.Fatal(err)
	}
	reason, ok := dead[second.ID]
	if !ok || len(dead) != 1 {
		t.Fatalf("dead letters %v: want one, with source_id %s (the id of second's 201)", dead, second.ID)
	}
	if want := `model limit reached: 1 models exist (MAX_MODELS=1); model "second" was not created`; reason != want {
		t.Errorf("dead letter reason %q, want %q", reason, want)
	}
	if _, ok := dead[first.ID]; ok {
		t.Errorf("first's 201 dead-lettered too")
	}
	if v, err := metricValue(bayes, `edb_bayes_events_dead_lettered_total{reason="model_limit"}`); v != 1 || err != nil {
		t.Errorf(`edb_bayes_events_dead_lettered_total{reason="model_limit"} = %v (%v), want 1`, v, err)
	}

	mustRefuse(t, "POST", api.url("/models/second/observations"), `{"w":1,"l":1}`, 409, "model limit reached: 1 models exist (MAX_MODELS=1)")
	mustAccept(t, "POST", api.url("/models/first/observations"), `{"w":1,"l":0}`, 201, "first", "")
	waitModel(t, bayes, "first", 4)

	mustAccept(t, "DELETE", api.url("/models/first"), "", 202, "first", "delete")
	waitAbsent(t, bayes, "first")
	mustAccept(t, "POST", api.url("/models/second/observations"), `{"w":1,"l":1}`, 201, "second", "")
	waitModel(t, bayes, "second", 2)
}

// feed is an open Server-Sent Events feed that the test can close.
type feed struct {
	*abEvents
	close func()
}

// tryFeed opens a feed; an answer other than 200 comes back whole, for the
// test to judge.
func tryFeed(t *testing.T, url string) (*feed, answer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, answer{err: err}
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return nil, answer{status: resp.StatusCode, header: resp.Header, body: b, err: err}
	}
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); resp.Body.Close() }) }
	t.Cleanup(stop)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	if !sc.Scan() || sc.Text() != "retry: 2000" {
		t.Fatalf("%s: first line %q (%v), want \"retry: 2000\"", url, sc.Text(), sc.Err())
	}
	return &feed{abEvents: &abEvents{url: url, sc: sc}, close: stop}, answer{status: resp.StatusCode, header: resp.Header}
}

// mustFeed opens a feed that must be let in.
func mustFeed(t *testing.T, url string) *feed {
	t.Helper()
	f, a := tryFeed(t, url)
	if f == nil {
		t.Fatalf("GET %s: %s, want 200", url, a)
	}
	return f
}

// nextModel reads the next event, which must be "model", as a model view.
func (f *feed) nextModel(t *testing.T) modelView {
	t.Helper()
	var v modelView
	if err := json.Unmarshal([]byte(f.next(t, "model")), &v); err != nil {
		t.Fatalf("%s: model event: %v", f.url, err)
	}
	return v
}

// mustBeBusy checks that a feed is refused for the cap: 503, a problem,
// and a Retry-After in whole seconds.
func mustBeBusy(t *testing.T, url string) {
	t.Helper()
	f, a := tryFeed(t, url)
	if f != nil {
		f.close()
		t.Fatalf("GET %s: let in beyond LIVE_MAX_STREAMS", url)
	}
	if a.err != nil || a.status != http.StatusServiceUnavailable {
		t.Fatalf("GET %s beyond LIVE_MAX_STREAMS: %s, want 503", url, a)
	}
	if _, err := a.problemDetail(); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("GET %s: Retry-After %q, want whole seconds ≥ 1", url, a.header.Get("Retry-After"))
	}
}

// The SSE cap and the feeds' delete and reset events: with
// LIVE_MAX_STREAMS=2, two feeds are open and any third one, of any kind, is
// a 503 problem with Retry-After; a deleted model's feed says deleted and
// goes on when the model is created afresh; a reset model's feed says reset
// and shows the zero counts; closing a feed lets a new one in.
func TestLiveFeedCap(t *testing.T) {
	s := newSystem(t)
	bayes := s.bayes(t, "b0", "LIVE_MAX_STREAMS=2", "LIVE_POLL_INTERVAL=50ms")
	api := s.api
	mustAccept(t, "POST", api.url("/models/sa/observations"), `{"w":3,"l":1}`, 201, "sa", "")
	mustAccept(t, "POST", api.url("/models/sb/observations"), `{"w":1,"l":1}`, 201, "sb", "")
	mustAccept(t, "POST", api.url("/models/default/observations"), `{"w":1,"l":1}`, 201, "default", "")
	waitModel(t, bayes, "sa", 4)
	waitModel(t, bayes, "sb", 2)
	waitModel(t, bayes, "default", 2)

	fa := mustFeed(t, bayes.url("/models/sa/events"))
	fb := mustFeed(t, bayes.url("/models/sb/events"))
	if v := fa.nextModel(t); v.N != 4 {
		t.Fatalf("sa feed: n=%d, want 4", v.N)
	}
	if v := fb.nextModel(t); v.N != 2 {
		t.Fatalf("sb feed: n=%d, want 2", v.N)
	}
	for _, path := range []string{"/models/sa/events", "/models/default/events", "/compare/events?models=sa,sb"} {
		mustBeBusy(t, bayes.url(path))
	}

	mustAccept(t, "DELETE", api.url("/models/sa"), "", 202, "sa", "delete")
	if d := fa.next(t, "deleted"); d != `{"model":"sa"}` {
		t.Fatalf("sa feed: deleted event data %s, want {\"model\":\"sa\"}", d)
	}
	mustAccept(t, "POST", api.url("/models/sa/observations"), `{"w":1,"l":0}`, 201, "sa", "")
	if v := fa.nextModel(t); v.N != 1 || v.W != 1 {
		t.Fatalf("sa feed after sa was created afresh: w=%d n=%d, want w=1 n=1", v.W, v.N)
	}

	mustAccept(t, "POST", api.url("/models/sb/reset"), "", 202, "sb", "reset")
	if d := fb.next(t, "reset"); d != `{"model":"sb"}` {
		t.Fatalf("sb feed: reset event data %s, want {\"model\":\"sb\"}", d)
	}
	if v := fb.nextModel(t); v.N != 0 {
		t.Fatalf("sb feed after the reset: n=%d, want 0", v.N)
	}

	fb.close()
	var fc *feed
	eventually(t, 10*time.Second, "a feed let in once one closed", func() (bool, string) {
		var a answer
		fc, a = tryFeed(t, bayes.url("/models/default/events"))
		if fc == nil && a.status != http.StatusServiceUnavailable {
			t.Fatalf("GET /models/default/events: %s, want 200 or (until the closed feed is noticed) 503", a)
		}
		return fc != nil, a.String()
	})
	if v := fc.nextModel(t); v.N != 2 {
		t.Fatalf("default feed: n=%d, want 2", v.N)
	}
	mustBeBusy(t, bayes.url("/models/sb/events"))
}
