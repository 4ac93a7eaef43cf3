package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisacl"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

const (
	apiPassword   = "api-secret"
	bayesPassword = "bayes-secret"
	adminPassword = "admin-secret"
)

// aclRedis starts redis-server, creates the deployment's users from
// platform/redisacl (the same rules as the ACL file compose and the chart
// load) and switches the default user off. It returns a client logged in as
// edb-admin, for the test's own looking and poking.
func aclRedis(t *testing.T) (*redistest.Server, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	ctx := context.Background()
	boot := srv.Client() // the default user, for the last time
	for _, u := range []struct {
		user redisacl.User
		pw   string
	}{
		{redisacl.Admin(), adminPassword},
		{redisacl.API(redisacl.Config{}), apiPassword},
		{redisacl.Bayes(redisacl.Config{}), bayesPassword},
	} {
		if err := boot.Do(ctx, u.user.SetUserArgs(u.pw)...).Err(); err != nil {
			t.Fatalf("ACL SETUSER %s: %v", u.user.Name, err)
		}
	}
	admin := userClient(t, srv, redisacl.AdminUser, adminPassword)
	if err := admin.Do(ctx, redisacl.DefaultOff().SetUserArgs("")...).Err(); err != nil {
		t.Fatalf("switching the default user off: %v", err)
	}
	_ = boot.Close()
	if err := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1}).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("the default user still answers: %v", err)
	}
	if err := admin.Do(ctx, "ACL", "LOG", "RESET").Err(); err != nil {
		t.Fatal(err)
	}
	return srv, admin
}

func userClient(t *testing.T, srv *redistest.Server, user, password string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: user, Password: password, MaxRetries: -1, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func userURL(srv *redistest.Server, user, password string) string {
	return fmt.Sprintf("redis://%s:%s@%s/0", user, password, srv.Addr())
}

// aclDenials is what Redis recorded in ACL LOG since the last reset.
func aclDenials(t *testing.T, admin *redis.Client) []string {
	t.Helper()
	entries, err := admin.Do(context.Background(), "ACL", "LOG").Slice()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// noDenialInLog fails if a service's log mentions an ACL refusal: NOPERM,
// or Redis 7.0's wording for a refused redis.call inside a script.
func noDenialInLog(t *testing.T, p *proc) {
	t.Helper()
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "NOPERM") || strings.Contains(line, "executing the script can't") ||
			strings.Contains(line, "WRONGPASS") || strings.Contains(line, "NOAUTH") {
			t.Errorf("%s was refused by Redis: %s", p.name, line)
		}
	}
}

func scrape(t *testing.T, p *proc) {
	t.Helper()
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s /metrics: %s", p.name, resp.Status)
	}
}

// TestACLUsersRunThePipeline runs both binaries as their own least-privilege
// ACL users through everything they do: appends, group creation, batched
// commits, dead letters, claims of a dead consumer's entries, removal of
// that consumer, trims, the pub/sub bridge with its lease, metrics, and a
// clean shutdown. Exact counts prove nothing was silently refused; the
// logs and Redis' ACL LOG prove not even a harmless command was.
func TestACLUsersRunThePipeline(t *testing.T) {
	srv, admin := aclRedis(t)
	ctx := context.Background()
	s := &system{redis: srv, rdb: admin, graphs: t.TempDir()}
	s.api = startProc(t, "api", "api", "REDIS_URL="+userURL(srv, redisacl.APIUser, apiPassword))

	// A consumer that read entries and died: bayes must claim them.
	const early = 40
	for range early {
		if status, _, err := record(s.api, http.MethodGet, "w"); err != nil || status != http.StatusCreated {
			t.Fatalf("record: %d %v", status, err)
		}
	}
	if err := admin.XGroupCreateMkStream(ctx, "update_model", "bayes", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := admin.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "bayes", Consumer: "ghost",
		Streams: []string{"update_model", ">"}, Count: 25}).Result(); err != nil || len(got[0].Messages) != 25 {
		t.Fatalf("ghost read %v, %v", got, err)
	}

	bayes := startProc(t, "bayes", "bayes",
		"REDIS_URL="+userURL(srv, redisacl.BayesUser, bayesPassword),
		"GRAPHS_DIR="+s.graphs, "CONSUMER_NAME=a", "PRIOR=uniform", "LOG_LEVEL=debug",
		"CLAIM_MIN_IDLE=500ms", "CLAIM_INTERVAL=200ms", "TRIM_INTERVAL=200ms", "STALE_CONSUMER_AFTER=1s")

	tl := load(t, s.api, 8, 300, nil)
	w, n := tl.w.Load()+early, tl.n.Load()+early

	// A named model, defined and fed a batch through the same users.
	if code := call(t, "PUT", s.api.url("/models/acl"), `{"prior":"uniform","grid_points":30}`, nil); code != http.StatusAccepted {
		t.Fatalf("PUT /models/acl: %d", code)
	}
	if code := call(t, "POST", s.api.url("/models/acl/observations"), `{"w":3,"l":4}`, nil); code != http.StatusCreated {
		t.Fatalf("POST /models/acl/observations: %d", code)
	}

	// The original's manual path, through the bridge's lease and fenced forward.
	eventually(t, 20*time.Second, "the bridge subscribed to update_model", func() (bool, string) {
		m, err := admin.PubSubNumSub(ctx, "update_model").Result()
		return err == nil && m["update_model"] == 1, fmt.Sprint(m, err)
	})
	if got, err := admin.Publish(ctx, "update_model", "w").Result(); err != nil || got != 1 {
		t.Fatalf("PUBLISH reached %d subscribers (%v)", got, err)
	}
	w, n = w+1, n+1
	// Malformed entries go to the dead letters.
	for _, fields := range [][]any{{"trial", "x"}, {"foo", "bar"}} {
		if err := admin.XAdd(ctx, &redis.XAddArgs{Stream: "update_model", Values: fields}).Err(); err != nil {
			t.Fatal(err)
		}
	}

	s.settled(t, bayes, w, n)
	if m := waitModel(t, bayes, "acl", 7); m.W != 3 || m.PriorSpec != "uniform" || m.GridPoints != 30 {
		t.Fatalf("model acl = %+v", m)
	}
	// The api reads the spec (its one read) to refuse a conflicting definition.
	if code := call(t, "PUT", s.api.url("/models/acl"), `{"prior":"beta:2,2","grid_points":30}`, nil); code != http.StatusConflict {
		t.Fatalf("conflicting PUT /models/acl: %d", code)
	}
	if got, err := admin.XLen(ctx, "update_model:dead").Result(); err != nil || got != 2 {
		t.Fatalf("dead letters %d (%v), want 2", got, err)
	}
	eventually(t, 30*time.Second, "the ghost consumer removed and the stream trimmed", func() (bool, string) {
		cs, err := admin.XInfoConsumers(ctx, "update_model", "bayes").Result()
		if err != nil {
			return false, err.Error()
		}
		length, err := admin.XLen(ctx, "update_model").Result()
		if err != nil {
			return false, err.Error()
		}
		// Trimming keeps the last delivered entry, the bound it trims below.
		return len(cs) == 1 && cs[0].Name == "a" && length <= 1, fmt.Sprintf("consumers %v, stream length %d", cs, length)
	})
	scrape(t, s.api)
	scrape(t, bayes)

	if d := aclDenials(t, admin); len(d) != 0 {
		t.Fatalf("Redis refused the services %d time(s): %v", len(d), d)
	}

	t.Run("the api's credentials cannot read, change or delete the models", func(t *testing.T) {
		api := userClient(t, srv, redisacl.APIUser, apiPassword)
		const state = "update_model:model:default"
		for what, err := range map[string]error{
			"HGETALL":         api.HGetAll(ctx, state).Err(),
			"HMGET":           api.HMGet(ctx, state, "w", "n").Err(),
			"HSET":            api.HSet(ctx, state, "n", 0).Err(),
			"HINCRBY":         api.HIncrBy(ctx, state, "n", 1000).Err(),
			"DEL":             api.Del(ctx, state).Err(),
			"EVAL on state":   api.Eval(ctx, "return redis.call('DEL', KEYS[1])", []string{state}).Err(),
			"XTRIM stream":    api.XTrimMaxLen(ctx, "update_model", 0).Err(),
			"DEL stream":      api.Del(ctx, "update_model").Err(),
			"XRANGE stream":   api.XRange(ctx, "update_model", "-", "+").Err(),
			"XADD dead":       api.XAdd(ctx, &redis.XAddArgs{Stream: "update_model:dead", Values: []any{"a", "b"}}).Err(),
			"FLUSHALL":        api.FlushAll(ctx).Err(),
			"PUBLISH channel": api.Publish(ctx, "update_model", "w").Err(),
			"HGETALL named":   api.HGetAll(ctx, "update_model:model:acl").Err(),
			"SET spec":        api.Set(ctx, "update_model:spec:acl", `{"prior":"uniform","grid_points":3}`, 0).Err(),
			"DEL spec":        api.Del(ctx, "update_model:spec:acl").Err(),
			"XADD on spec":    api.XAdd(ctx, &redis.XAddArgs{Stream: "update_model:spec:new", Values: []any{"a", "b"}}).Err(),
			"SMEMBERS models": api.SMembers(ctx, "update_model:models").Err(),
			"SADD models":     api.SAdd(ctx, "update_model:models", "x").Err(),
		} {
			if err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Errorf("%s as edb-api: err = %v, want NOPERM", what, err)
			}
		}
		if got, err := admin.HGetAll(ctx, state).Result(); err != nil || got["n"] != fmt.Sprint(n) || got["w"] != fmt.Sprint(w) {
			t.Fatalf("state %v (%v), want w=%d n=%d untouched", got, err, w, n)
		}
		if got, err := api.Get(ctx, "update_model:spec:acl").Result(); err != nil || got != `{"prior":"uniform","grid_points":30}` {
			t.Fatalf("GET spec as edb-api = %q, %v; want the spec (its one read)", got, err)
		}
		if err := admin.Do(ctx, "ACL", "LOG", "RESET").Err(); err != nil {
			t.Fatal(err)
		}
	})

	// A clean shutdown releases the bridge's lease (GET + DEL in a script).
	for _, p := range []*proc{bayes, s.api} {
		if took, err := p.terminate(15 * time.Second); err != nil {
			t.Fatalf("%s after SIGTERM (%s): %v\n%s", p.name, took, err, p.logs())
		}
	}
	if got, err := admin.Exists(ctx, "update_model:pubsub-bridge").Result(); err != nil || got != 0 {
		t.Errorf("lease still held after bayes stopped: %d %v", got, err)
	}
	if d := aclDenials(t, admin); len(d) != 0 {
		t.Errorf("Redis refused the services during shutdown: %v", d)
	}
	noDenialInLog(t, s.api)
	noDenialInLog(t, bayes)
}
