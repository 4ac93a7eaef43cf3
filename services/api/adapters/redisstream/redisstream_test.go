package redisstream_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/adapters/redisstream"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/shardcount"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/wait"
)

const stream = "update_model_test"

// newClient builds the client exactly as the service does, from REDIS_URL
// through redisconf, so the timeouts under test are the production ones.
func newClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	r := envconf.New(envconf.FromMap(map[string]string{"REDIS_URL": srv.URL()}))
	opts := redisconf.Read(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestPublishStoresDecodableEvent(t *testing.T) {
	srv := redistest.Start(t)
	pub, err := redisstream.NewPublisher(newClient(t, srv), stream, 2*time.Second)
	if pub != nil {
		t.Cleanup(pub.Close)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := []events.Event{
		{Trial: events.TrialWater, PublishedAt: time.UnixMicro(1767322800123456), Source: events.SourceAPI},
		{Trial: events.TrialLand, PublishedAt: time.UnixMicro(1767322800999999), Source: events.SourceAPI},
		// Optional fields absent: Decode must read them back as empty.
		{Trial: events.TrialWater},
	}
	var ids []string
	for _, o := range want {
		id, err := pub.Publish(ctx, o)
		if err != nil {
			t.Fatalf("Publish(%+v): %v", o, err)
		}
		ids = append(ids, id)
	}

	entries, err := srv.Client().XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Fatalf("stream has %d entries, want %d", len(entries), len(want))
	}
	for i, e := range entries {
		if e.ID != ids[i] {
			t.Errorf("entry %d id = %s, Publish returned %s", i, e.ID, ids[i])
		}
		got, err := events.Decode(e.Values)
		if err != nil {
			t.Fatalf("Decode(%v): %v", e.Values, err)
		}
		if !got.PublishedAt.Equal(want[i].PublishedAt) {
			t.Errorf("entry %d PublishedAt = %v, want %v", i, got.PublishedAt, want[i].PublishedAt)
		}
		got.PublishedAt, want[i].PublishedAt = time.Time{}, time.Time{}
		// Decode fills in what the entry leaves out as defaults.
		if want[i].Kind == "" {
			want[i].Kind = events.KindObserve
		}
		if want[i].Model == "" {
			want[i].Model = events.DefaultModel
		}
		if got != want[i] {
			t.Errorf("entry %d decoded as %+v, want %+v", i, got, want[i])
		}
	}
}

func TestPublishRejectsInvalidTrial(t *testing.T) {
	srv := redistest.Start(t)
	pub, _ := redisstream.NewPublisher(newClient(t, srv), stream, 2*time.Second)
	t.Cleanup(pub.Close)
	if _, err := pub.Publish(context.Background(), events.Event{Trial: "x"}); err == nil {
		t.Fatal("Publish accepted trial x")
	}
	if n, _ := srv.Client().XLen(context.Background(), stream).Result(); n != 0 {
		t.Fatalf("stream has %d entries after a rejected publish", n)
	}
}

func TestPublishFailsWhileRedisIsDownAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv)
	pub, _ := redisstream.NewPublisher(client, stream, 2*time.Second)
	t.Cleanup(pub.Close)
	ping, _ := redisstream.NewPinger(client, events.OneShard(stream))
	ctx := context.Background()
	obs := events.Event{Trial: events.TrialWater, PublishedAt: time.Now(), Source: events.SourceAPI}

	if _, err := pub.Publish(ctx, obs); err != nil {
		t.Fatalf("Publish before the outage: %v", err)
	}

	srv.Kill()
	// Publish must come back with an error rather than hang. The bound is
	// generous so a slow machine does not flake; it only has to catch a hang.
	done := make(chan error, 1)
	go func() {
		_, err := pub.Publish(ctx, obs)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Publish succeeded with Redis killed")
		}
		t.Logf("Publish while down: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Publish did not return within 10s with Redis killed")
	}
	if err := ping.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with Redis killed")
	}

	srv.Restart()
	// Same client, no restart of ours: go-redis must reconnect by itself.
	// Poll with a deadline; the pool may hold back dials briefly after errors.
	deadline := time.Now().Add(15 * time.Second)
	var lastErr error
	for {
		if _, lastErr = pub.Publish(ctx, obs); lastErr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish still failing 15s after Redis came back: %v", lastErr)
		}
		time.Sleep(50 * time.Millisecond) // poll interval; the deadline bounds the wait
	}
	if err := ping.Ping(ctx); err != nil {
		t.Fatalf("Ping after recovery: %v", err)
	}
	// The restarted server has no persistence, so exactly the one entry
	// published after recovery is there.
	if n, err := srv.Client().XLen(ctx, stream).Result(); err != nil || n != 1 {
		t.Fatalf("XLEN after recovery = %d, %v; want 1", n, err)
	}
}

func TestConstructorsRejectBadDependencies(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := redisstream.NewPublisher(nil, stream, time.Second); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := redisstream.NewPublisher(c, "", time.Second); err == nil {
		t.Error("empty stream accepted")
	}
	if _, err := redisstream.NewPublisher(c, stream, 0); err == nil {
		t.Error("zero timeout accepted")
	}
	if _, err := redisstream.NewPinger(nil, events.OneShard(stream)); err == nil {
		t.Error("nil client accepted by NewPinger")
	}
}

// Group commit: requests that arrive while a round trip is in flight go out
// together in the next one, and each gets its own id.
func TestConcurrentPublishesShareRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv)
	hook := &pipelineCounter{}
	client.AddHook(hook)
	pub, err := redisstream.NewPublisher(client, stream, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	ctx := context.Background()
	admin := srv.Client()
	// Hold writes so the first round trip stays in flight while the rest
	// queue up behind it.
	if err := admin.Do(ctx, "CLIENT", "PAUSE", "10000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	const n = 200
	ids := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			id, err := pub.Publish(ctx, events.Event{Trial: events.TrialWater})
			if err != nil {
				errs <- err
				return
			}
			ids <- id
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for pub.Waiting() < n { // the first round trip is stuck; the rest queue behind it
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests waiting", pub.Waiting())
		}
		time.Sleep(time.Millisecond) // poll interval; the deadline bounds it
	}
	if err := admin.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range n {
		select {
		case id := <-ids:
			seen[id] = true
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatal("a publish never returned")
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids for %d publishes", len(seen), n)
	}
	if l := admin.XLen(ctx, stream).Val(); l != n {
		t.Fatalf("stream has %d entries, want %d", l, n)
	}
	if got := hook.pipelines.Load(); got > 3 {
		t.Fatalf("%d round trips for %d queued publishes; group commit should need 2", got, n)
	}
}

func TestCloseWritesWhatIsQueuedThenRefuses(t *testing.T) {
	srv := redistest.Start(t)
	pub, err := redisstream.NewPublisher(newClient(t, srv), stream, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(context.Background(), events.Event{Trial: "w"}); err != nil {
		t.Fatal(err)
	}
	pub.Close()
	if _, err := pub.Publish(context.Background(), events.Event{Trial: "w"}); !errors.Is(err, redisstream.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	pub.Close() // idempotent
}

type pipelineCounter struct{ pipelines atomic.Int64 }

func (h *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		return next(ctx, cmds)
	}
}

// Requests whose deadline passed while they queued behind a stuck round
// trip got their 503; they must not be written when Redis answers again.
func TestExpiredRequestsAreNotWritten(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv)
	stuck := &holdFirstPipeline{release: make(chan struct{})}
	client.AddHook(stuck)
	pub, err := redisstream.NewPublisher(client, stream, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	ctx := context.Background()
	errs := make(chan error, 10)
	publish := func() {
		_, err := pub.Publish(ctx, events.Event{Trial: events.TrialWater})
		errs <- err
	}
	go publish() // its round trip hangs (as on a dead connection)
	waitUntil(t, func() bool { return pub.Waiting() == 1 })
	for range 9 {
		go publish() // queue behind it and time out there
	}
	for range 10 {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("a publish succeeded while its round trip was stuck")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a publish never returned")
		}
	}
	close(stuck.release) // the connection comes back
	waitUntil(t, func() bool { return pub.Waiting() == 0 })
	if _, err := pub.Publish(ctx, events.Event{Trial: events.TrialLand}); err != nil {
		t.Fatal(err) // and the publisher works again
	}
	if l := srv.Client().XLen(ctx, stream).Val(); l != 1 {
		t.Fatalf("%d entries stored; only the last publish succeeded", l)
	}
}

// holdFirstPipeline blocks the first pipeline until release is closed.
type holdFirstPipeline struct {
	release chan struct{}
	once    sync.Once
}

func (h *holdFirstPipeline) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *holdFirstPipeline) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *holdFirstPipeline) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		first := false
		h.once.Do(func() { first = true })
		if first {
			<-h.release
		}
		return next(ctx, cmds)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	wait.Until(t, 10*time.Second, "condition", cond)
}

// A batch's timer fires at its first caller's deadline. A caller who
// joined the batch with a later deadline is not failed with it: it waits on
// to its own deadline, and is written and answered when the round trip
// ahead comes back in time.
func TestLateJoinerKeepsItsOwnDeadline(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv)
	stuck := &holdFirstPipeline{release: make(chan struct{})}
	client.AddHook(stuck)
	pub, err := redisstream.NewPublisher(client, stream, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	type answer struct {
		id  string
		err error
	}
	publish := func(ctx context.Context, model string) <-chan answer {
		c := make(chan answer, 1)
		go func() {
			id, err := pub.Publish(ctx, events.Event{Model: model, Trial: events.TrialWater})
			c <- answer{id, err}
		}()
		return c
	}
	a := publish(context.Background(), "a") // its round trip hangs until release
	waitUntil(t, func() bool { return pub.Waiting() == 1 })
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	b := publish(short, "b") // opens the next batch: its timer fires at b's deadline
	waitUntil(t, func() bool { return pub.Waiting() == 2 })
	c := publish(context.Background(), "c") // joins b's batch, 5 s to go
	waitUntil(t, func() bool { return pub.Waiting() == 3 })

	select {
	case r := <-b:
		if !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("b: %q, %v; want its deadline exceeded", r.id, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b did not give up at its deadline")
	}
	select {
	case r := <-c:
		t.Fatalf("c answered (%q, %v) when its batch's first deadline passed; it has its own", r.id, r.err)
	default:
	}
	close(stuck.release)
	for name, ch := range map[string]<-chan answer{"a": a, "c": c} {
		select {
		case r := <-ch:
			if r.err != nil || r.id == "" {
				t.Fatalf("%s: %q, %v; want stored", name, r.id, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s never answered", name)
		}
	}
	entries, err := srv.Client().XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var models []string
	for _, e := range entries {
		models = append(models, e.Values[events.FieldModel].(string))
	}
	if len(models) != 2 || models[0] != "a" || models[1] != "c" {
		t.Fatalf("stored models %v, want [a c]: b gave up and must not be written", models)
	}
}

// The api is not ready while its STREAM_SHARDS disagrees with the number
// recorded for the deployment: it would write models where no bayes looks.
func TestPingRefusesAnotherNumberOfShards(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv)
	ctx := context.Background()
	three, err := events.NewShards(stream, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	ping3, _ := redisstream.NewPinger(client, three)
	// The first to start records its number.
	if err := ping3.Ping(ctx); err != nil {
		t.Fatalf("Ping with nothing recorded: %v", err)
	}
	if got, _ := srv.Client().Get(ctx, three.ShardsKey()).Result(); got != "3" {
		t.Fatalf("%s = %q after the first ready api, want 3", three.ShardsKey(), got)
	}
	one, _ := redisstream.NewPinger(client, events.OneShard(stream))
	if err := one.Ping(ctx); !errors.Is(err, shardcount.ErrChanged) || !strings.Contains(err.Error(), "records 3") {
		t.Fatalf("an api with one shard on a deployment of 3: Ping = %v, want ErrChanged naming 3", err)
	}
	two, _ := events.NewShards(stream, 2, false)
	ping2, _ := redisstream.NewPinger(client, two)
	if err := ping2.Ping(ctx); !errors.Is(err, shardcount.ErrChanged) {
		t.Fatalf("an api with 2 shards on a deployment of 3: Ping = %v, want ErrChanged", err)
	}
	if err := ping3.Ping(ctx); err != nil {
		t.Fatalf("the agreeing api: %v", err)
	}
}
