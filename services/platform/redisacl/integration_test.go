package redisacl_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisacl"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

const (
	stream = "update_model"
	dead   = "update_model:dead"
	state  = "update_model:model:default"
	spec   = "update_model:spec:default"
	models = "update_model:models"
	index  = "update_model:models:index"
	epochs = "update_model:epochs"
	lease  = "update_model:pubsub-bridge"
	// shardsKey is events.Shards.ShardsKey of one shard on one server.
	shardsKey = "update_model:shards"
	channel   = "update_model"
)

var passwords = map[string]string{
	redisacl.APIUser:   "api-pw",
	redisacl.BayesUser: "bayes-pw",
	redisacl.AdminUser: "admin-pw",
}

// aclServer is a redis-server started with the rendered ACL file, the way a
// deployment starts it: the default user off from the first moment.
// (platform/redistest pings without credentials, so it cannot start one.)
type aclServer struct {
	addr string
	dir  string
	args []string
	stop func()
}

func startWithACLFile(t *testing.T, extra ...string) *aclServer {
	t.Helper()
	return startWithRules(t, redisacl.Config{}, extra...)
}

// startWithRules is startWithACLFile with the rules of cfg.
func startWithRules(t *testing.T, cfg redisacl.Config, extra ...string) *aclServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal(redistest.InstallHint)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "users.acl")
	if err := os.WriteFile(file, []byte(redisacl.File(redisacl.Deployment(cfg), passwords)), 0o600); err != nil {
		t.Fatal(err)
	}
	port := redistest.FreePort(t)
	s := &aclServer{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, args: append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--loglevel", "warning",
		"--logfile", filepath.Join(dir, "redis.log"), "--aclfile", file}, extra...)}
	s.start(t)
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *aclServer) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command("redis-server", s.args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.stop = func() { _ = cmd.Process.Signal(syscall.SIGKILL); <-exited }

	admin := s.client(t, redisacl.AdminUser)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := admin.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			t.Fatalf("redis-server refused the ACL file: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server with the ACL file did not answer: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval; the deadline bounds it
	}
}

// restart kills the server (SIGKILL) and starts it again on its data.
func (s *aclServer) restart(t *testing.T) {
	t.Helper()
	s.stop()
	s.start(t)
}

// client connects as user through redisconf, exactly as the services do.
func (s *aclServer) client(t *testing.T, user string) *redis.Client {
	t.Helper()
	r := envconf.New(envconf.FromMap(map[string]string{
		"REDIS_HOST": "127.0.0.1", "REDIS_PORT": strings.Split(s.addr, ":")[1],
		"REDIS_USERNAME": user, "REDIS_PASSWORD": passwords[user],
	}))
	o := redisconf.Read(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	o.MaxRetries = -1
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func wantNoPerm(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("%s: err = %v, want NOPERM", what, err)
	}
}

// wantScriptDenied accepts the error of a redis.call refused inside a
// script: NOPERM on Redis 7.2+, "The user executing the script can't ..."
// on 7.0.
func wantScriptDenied(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !(strings.Contains(err.Error(), "NOPERM") || strings.Contains(err.Error(), "The user executing the script can't")) {
		t.Errorf("%s: err = %v, want an ACL denial", what, err)
	}
}

func wantOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Errorf("%s: %v", what, err)
	}
}

// aclLog returns the denials Redis recorded since the last reset.
func aclLog(t *testing.T, admin *redis.Client) []string {
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

func TestDefaultUserIsOff(t *testing.T) {
	s := startWithACLFile(t)
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	err := c.Ping(context.Background()).Err()
	if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without credentials: err = %v, want NOAUTH", err)
	}
	bad := redis.NewClient(&redis.Options{Addr: s.addr, Username: redisacl.APIUser, Password: "wrong", MaxRetries: -1})
	defer bad.Close()
	if err := bad.Ping(context.Background()).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: err = %v, want WRONGPASS", err)
	}
}

func TestAPIUserMayOnlyAppendAndPing(t *testing.T) {
	s := startWithACLFile(t)
	ctx := context.Background()
	admin := s.client(t, redisacl.AdminUser)
	if err := admin.HSet(ctx, state, "w", 7, "n", 10).Err(); err != nil {
		t.Fatal(err)
	}
	wantOK(t, "XGROUP CREATE (admin)", admin.XGroupCreateMkStream(ctx, stream, "bayes", "0").Err())
	wantOK(t, "ACL LOG RESET", admin.Do(ctx, "ACL", "LOG", "RESET").Err())

	if err := admin.Set(ctx, spec, `{"prior":"uniform","grid_points":30}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.SAdd(ctx, models, "default", "ab").Err(); err != nil {
		t.Fatal(err)
	}
	wantOK(t, "ACL LOG RESET", admin.Do(ctx, "ACL", "LOG", "RESET").Err())

	api := s.client(t, redisacl.APIUser)
	wantOK(t, "PING", api.Ping(ctx).Err())
	id, err := api.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"trial", "w", "ts", "1", "source", "api"}}).Result()
	wantOK(t, "XADD", err)
	// Its reads: a spec (409 for a conflicting definition, 404 for a
	// deletion of a missing model) and the number of models (MAX_MODELS),
	// in one pipeline as the api sends them.
	if got, err := api.Get(ctx, spec).Result(); err != nil || got == "" {
		t.Errorf("GET spec: %q %v", got, err)
	}
	cmds, err := api.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "update_model:spec:nope")
		p.SCard(ctx, models)
		return nil
	})
	if !errors.Is(err, redis.Nil) || len(cmds) != 2 || cmds[1].(*redis.IntCmd).Val() != 2 {
		t.Errorf("GET + SCARD pipeline: %v %v, want nil and 2", cmds, err)
	}
	// The connection handshake (HELLO 3 AUTH, no CLIENT SETINFO) and the
	// commands above must not have been denied, not even harmlessly.
	if log := aclLog(t, admin); len(log) != 0 {
		t.Fatalf("the api's own commands were denied: %v", log)
	}

	denied := map[string]error{
		"HGET state":        api.HGet(ctx, state, "w").Err(),
		"HGETALL state":     api.HGetAll(ctx, state).Err(),
		"HMGET state":       api.HMGet(ctx, state, "w", "n").Err(),
		"HSET state":        api.HSet(ctx, state, "w", 0).Err(),
		"HINCRBY state":     api.HIncrBy(ctx, state, "n", 1).Err(),
		"DEL state":         api.Del(ctx, state).Err(),
		"UNLINK state":      api.Unlink(ctx, state).Err(),
		"RENAME state":      api.Rename(ctx, state, "x").Err(),
		"DEL stream":        api.Del(ctx, stream).Err(),
		"XTRIM stream":      api.XTrimMaxLen(ctx, stream, 0).Err(),
		"XDEL stream":       api.XDel(ctx, stream, id).Err(),
		"XRANGE stream":     api.XRange(ctx, stream, "-", "+").Err(),
		"XACK stream":       api.XAck(ctx, stream, "bayes", id).Err(),
		"XGROUP DESTROY":    api.XGroupDestroy(ctx, stream, "bayes").Err(),
		"XGROUP SETID":      api.XGroupSetID(ctx, stream, "bayes", "$").Err(),
		"XADD dead letters": api.XAdd(ctx, &redis.XAddArgs{Stream: dead, Values: []any{"a", "b"}}).Err(),
		"XADD other key":    api.XAdd(ctx, &redis.XAddArgs{Stream: "other", Values: []any{"a", "b"}}).Err(),
		"SET lease":         api.Set(ctx, lease, "x", 0).Err(),
		"SET spec":          api.Set(ctx, spec, "x", 0).Err(),
		"DEL spec":          api.Del(ctx, spec).Err(),
		"SMEMBERS models":   api.SMembers(ctx, models).Err(),
		"SSCAN models":      api.SScan(ctx, models, 0, "", 10).Err(),
		"SISMEMBER models":  api.SIsMember(ctx, models, "ab").Err(),
		"SADD models":       api.SAdd(ctx, models, "x").Err(),
		"SREM models":       api.SRem(ctx, models, "ab").Err(),
		"DEL models":        api.Del(ctx, models).Err(),
		"SCARD other set":   api.SCard(ctx, "other").Err(),
		"SCARD the index":   api.SCard(ctx, index).Err(),
		"ZRANGE index":      api.ZRange(ctx, index, 0, -1).Err(),
		"INCR epochs":       api.Incr(ctx, epochs).Err(),
		"EVAL":              api.Eval(ctx, "return redis.call('DEL', KEYS[1])", []string{state}).Err(),
		"EVALSHA":           api.EvalSha(ctx, "0000000000000000000000000000000000000000", []string{state}).Err(),
		"FUNCTION":          api.FunctionFlush(ctx).Err(),
		"FLUSHALL":          api.FlushAll(ctx).Err(),
		"FLUSHDB":           api.FlushDB(ctx).Err(),
		"KEYS":              api.Keys(ctx, "*").Err(),
		"CONFIG SET":        api.ConfigSet(ctx, "appendonly", "no").Err(),
		"PUBLISH":           api.Publish(ctx, channel, "w").Err(),
		"MULTI":             api.Do(ctx, "MULTI").Err(),
		"ACL SETUSER":       api.Do(ctx, "ACL", "SETUSER", redisacl.APIUser, "+@all").Err(),
		"SET shards":        api.Set(ctx, shardsKey, "2", 0).Err(),
		"WAIT":              api.Do(ctx, "WAIT", 0, 1).Err(),
		"XADD shard 1":      api.XAdd(ctx, &redis.XAddArgs{Stream: "update_model:1", Values: []any{"a", "b"}}).Err(),
	}
	for what, err := range denied {
		wantNoPerm(t, what, err)
	}
	if got, err := admin.HGetAll(ctx, state).Result(); err != nil || got["w"] != "7" || got["n"] != "10" || len(got) != 2 {
		t.Fatalf("state after the api's attempts: %v %v, want w=7 n=10 untouched", got, err)
	}
	if n, err := admin.XLen(ctx, stream).Result(); err != nil || n != 1 {
		t.Fatalf("stream length %d %v, want the one XADD", n, err)
	}
	if n, err := admin.SCard(ctx, models).Result(); err != nil || n != 2 {
		t.Fatalf("models set has %d names %v, want the two untouched", n, err)
	}
}

func TestBayesUserCanDoWhatBayesDoes(t *testing.T) {
	s := startWithACLFile(t)
	ctx := context.Background()
	admin := s.client(t, redisacl.AdminUser)
	api := s.client(t, redisacl.APIUser)
	bayes := s.client(t, redisacl.BayesUser)

	// Every command of bayes' adapters, in go-redis' own argument forms.
	wantOK(t, "PING", bayes.Ping(ctx).Err())
	wantOK(t, "XGROUP CREATE MKSTREAM", bayes.XGroupCreateMkStream(ctx, stream, "bayes", "0").Err())
	wantOK(t, "XGROUP CREATECONSUMER", bayes.XGroupCreateConsumer(ctx, stream, "bayes", "b-1").Err())
	for i := range 5 {
		trial := "w"
		if i%2 == 1 {
			trial = "l"
		}
		wantOK(t, "api XADD", api.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"trial", trial}}).Err())
	}
	msgs, err := bayes.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "bayes", Consumer: "b-1", Streams: []string{stream, ">"}, Count: 3}).Result()
	wantOK(t, "XREADGROUP >", err)
	wantOK(t, "XREADGROUP own pending", bayes.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "bayes", Consumer: "b-1", Streams: []string{stream, "0"}, Count: 10, Block: -1}).Err())
	wantOK(t, "XAUTOCLAIM", bayes.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: "bayes", Consumer: "b-2", MinIdle: 0, Start: "0-0", Count: 10}).Err())
	wantOK(t, "XPENDING", bayes.XPending(ctx, stream, "bayes").Err())
	wantOK(t, "XINFO GROUPS", bayes.XInfoGroups(ctx, stream).Err())
	wantOK(t, "XINFO CONSUMERS", bayes.XInfoConsumers(ctx, stream, "bayes").Err())
	wantOK(t, "XLEN stream", bayes.XLen(ctx, stream).Err())
	wantOK(t, "XLEN dead", bayes.XLen(ctx, dead).Err())

	// The commit script's shape: XACK, XADD to the dead letters, HINCRBY.
	commit := commitProbe
	wantOK(t, "commit script (EVALSHA, then EVAL)", commit.Run(ctx, bayes, []string{stream, dead, state}, "bayes", msgs[0].Messages[0].ID).Err())
	wantOK(t, "commit script again (EVALSHA)", commit.Run(ctx, bayes, []string{stream, dead, state}, "bayes", msgs[0].Messages[1].ID).Err())
	// Creation, reset and deletion of a model: spec, names set, sorted
	// index, epochs counter, counts hash (the commit script's other paths).
	lifecycle := lifecycleProbe
	const gone = "update_model:model:gone"
	wantOK(t, "lifecycle script", lifecycle.Run(ctx, bayes, []string{gone, models, index, "update_model:spec:gone", epochs}, `{"prior":"uniform","grid_points":3}`, "gone").Err())
	// The query side: pages of the index, the counts, the start-up indexing.
	wantOK(t, "ZADD NX", bayes.ZAddNX(ctx, index, redis.Z{Member: "default"}).Err())
	wantOK(t, "ZRANGEBYLEX", bayes.ZRangeByLex(ctx, index, &redis.ZRangeBy{Min: "(a", Max: "+", Count: 10}).Err())
	wantOK(t, "ZCARD", bayes.ZCard(ctx, index).Err())
	wantOK(t, "SCARD", bayes.SCard(ctx, models).Err())
	wantOK(t, "SSCAN", bayes.SScan(ctx, models, 0, "", 1000).Err())
	wantOK(t, "SMEMBERS", bayes.SMembers(ctx, models).Err())
	wantOK(t, "SCRIPT LOAD", bayes.ScriptLoad(ctx, "return 1").Err())
	wantOK(t, "XACK", bayes.XAck(ctx, stream, "bayes", msgs[0].Messages[2].ID).Err())
	wantOK(t, "HMGET", bayes.HMGet(ctx, state, "w", "n").Err())
	// The trim script's and the stale-consumer script's commands.
	trim := trimProbe
	wantOK(t, "trim and cleanup script", trim.Run(ctx, bayes, []string{stream}, "bayes").Err())
	wantOK(t, "XTRIM", bayes.XTrimMinID(ctx, stream, "0").Err())
	// The start-up check of the number of shards: one server has one.
	wantOK(t, "GET shards", bayes.Get(ctx, shardsKey).Err())

	// The pub/sub bridge: lease, fenced forward, renew, release, SUBSCRIBE.
	wantOK(t, "SET NX EX", bayes.SetNX(ctx, lease, "tok", 5*time.Second).Err())
	forward := forwardProbe
	wantOK(t, "forward script", forward.Run(ctx, bayes, []string{lease, stream}, "tok").Err())
	wantOK(t, "GET", bayes.Get(ctx, lease).Err())
	wantOK(t, "PEXPIRE", bayes.PExpire(ctx, lease, 5*time.Second).Err())
	sub := bayes.Subscribe(ctx, channel)
	_, err = sub.Receive(ctx)
	wantOK(t, "SUBSCRIBE", err)
	wantOK(t, "PING on the subscription", sub.Ping(ctx))
	_ = sub.Close()
	wantOK(t, "DEL lease", bayes.Del(ctx, lease).Err())

	if log := aclLog(t, admin); len(log) != 0 {
		t.Fatalf("bayes' commands were denied: %v", log)
	}

	// And nothing beyond: every command only on its own key.
	denied := map[string]error{
		"DEL stream":           bayes.Del(ctx, stream).Err(),
		"DEL dead letters":     bayes.Del(ctx, dead).Err(),
		"DEL state and stream": bayes.Del(ctx, state, stream).Err(),
		"DEL models":           bayes.Del(ctx, models).Err(),
		"DEL index":            bayes.Del(ctx, index).Err(),
		"DEL epochs":           bayes.Del(ctx, epochs).Err(),
		"SET state":            bayes.Set(ctx, state, "x", 0).Err(),
		"SET epochs":           bayes.Set(ctx, epochs, "0", 0).Err(),
		"DECR epochs":          bayes.Decr(ctx, epochs).Err(),
		"HSET spec":            bayes.HSet(ctx, spec, "n", 0).Err(),
		"ZREMRANGEBYLEX":       bayes.ZRemRangeByLex(ctx, index, "-", "+").Err(),
		"SPOP models":          bayes.SPop(ctx, models).Err(),
		"SADD other set":       bayes.SAdd(ctx, "other", "x").Err(),
		"HINCRBY other hash":   bayes.HIncrBy(ctx, "other", "n", 1).Err(),
		"XTRIM dead letters":   bayes.XTrimMaxLen(ctx, dead, 0).Err(),
		"XDEL stream":          bayes.XDel(ctx, stream, "0-1").Err(),
		"XGROUP DESTROY":       bayes.XGroupDestroy(ctx, stream, "bayes").Err(),
		"XADD other key":       bayes.XAdd(ctx, &redis.XAddArgs{Stream: "other", Values: []any{"a", "b"}}).Err(),
		"SET other key":        bayes.Set(ctx, "other", "x", 0).Err(),
		"script on other key":  bayes.Eval(ctx, "return 1", []string{"other"}).Err(),
		"FLUSHALL":             bayes.FlushAll(ctx).Err(),
		"KEYS":                 bayes.Keys(ctx, "*").Err(),
		"CONFIG GET":           bayes.ConfigGet(ctx, "*").Err(),
		"PUBLISH":              bayes.Publish(ctx, channel, "w").Err(),
		"SCRIPT FLUSH":         bayes.ScriptFlush(ctx).Err(),
		"SET shards":           bayes.Set(ctx, shardsKey, "3", 0).Err(),
		"DEL shards":           bayes.Del(ctx, shardsKey).Err(),
		"WAIT":                 bayes.Do(ctx, "WAIT", 0, 1).Err(),
		"CLUSTER SLOTS":        bayes.ClusterSlots(ctx).Err(),
		"XADD shard 1":         bayes.XAdd(ctx, &redis.XAddArgs{Stream: "update_model:1", Values: []any{"a", "b"}}).Err(),
	}
	for what, err := range denied {
		wantNoPerm(t, what, err)
	}
	// Scripts do not widen the ACL: every redis.call is checked.
	wantScriptDenied(t, "DEL through a script", bayes.Eval(ctx, "return redis.call('DEL', KEYS[1])", []string{stream}).Err())
	wantScriptDenied(t, "SET through a script", bayes.Eval(ctx, "return redis.call('SET', KEYS[1], 'x')", []string{state}).Err())
	wantScriptDenied(t, "XGROUP DESTROY through a script", bayes.Eval(ctx, "return redis.call('XGROUP', 'DESTROY', KEYS[1], 'bayes')", []string{stream}).Err())
	other := bayes.Subscribe(ctx, "other-channel")
	_, err = other.Receive(ctx)
	wantNoPerm(t, "SUBSCRIBE other channel", err)
	_ = other.Close()

	if got, err := admin.HMGet(ctx, state, "w", "n").Result(); err != nil || got[0] != "2" || got[1] != "2" {
		t.Fatalf("state %v %v, want the two commits' w=2 n=2", got, err)
	}
}

// Redis 7.0 replays the append-only file as the default user. With that user
// switched off *and* stripped of permissions, every script's effects (one
// MULTI/EXEC each in the AOF) failed with NOPERM on restart and the model's
// counts were lost; found by the compose stack's Redis restart.
func TestStateSurvivesRestartWithAOF(t *testing.T) {
	s := startWithACLFile(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	bayes := s.client(t, redisacl.BayesUser)
	script := redis.NewScript(`redis.call('HINCRBY', KEYS[1], 'w', 1) return redis.call('HINCRBY', KEYS[1], 'n', 1)`)
	for range 3 {
		wantOK(t, "script as bayes", script.Run(ctx, bayes, []string{state}).Err())
	}
	s.restart(t)
	got, err := s.client(t, redisacl.AdminUser).HGetAll(ctx, state).Result()
	if err != nil || got["n"] != "3" || got["w"] != "3" {
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		t.Fatalf("after restart: %v, %v; want n=3 w=3\n%s", got, err, log)
	}
}
