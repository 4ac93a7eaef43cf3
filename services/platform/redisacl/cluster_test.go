package redisacl_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisacl"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

var clusterRules = redisacl.Config{Cluster: true}

// dryRun asks Redis whether user may run cmd (ACL DRYRUN, Redis 7.0+),
// without running it: "OK", or Redis' sentence saying why not.
func dryRun(t *testing.T, admin *redis.Client, user string, cmd ...any) string {
	t.Helper()
	v, err := admin.Do(context.Background(), append([]any{"ACL", "DRYRUN", user}, cmd...)...).Text()
	if err != nil {
		return err.Error()
	}
	return v
}

// The cluster rules name every shard of every layout a deployment may have
// (1 to events.MaxShards shards): each key events.Shards gives shard i, with
// the commands the services run on it, is allowed, and keys of no shard, or
// of another kind, are not. ACL DRYRUN on one server checks the patterns of
// all 256 shards without a cluster of 256 masters.
func TestClusterRulesCoverEveryShard(t *testing.T) {
	s := startWithRules(t, clusterRules)
	admin := s.client(t, redisacl.AdminUser)
	api, bayes := redisacl.APIUser, redisacl.BayesUser
	for _, n := range []int{1, 2, 3, 10, 100, events.MaxShards} {
		sh, err := events.NewShards(stream, n, true)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			p, st := sh.Prefix(i), sh.Stream(i)
			allowed := []struct {
				user string
				cmd  []any
			}{
				{api, []any{"XADD", st, "*", "trial", "w"}},
				{api, []any{"GET", events.SpecKey(p, "m")}},
				{api, []any{"SCARD", sh.ModelsKey(i)}},
				{bayes, []any{"XREADGROUP", "GROUP", "bayes", "b-0", "COUNT", "10", "STREAMS", st, ">"}},
				{bayes, []any{"XAUTOCLAIM", st, "bayes", "b-0", "0", "0-0"}},
				{bayes, []any{"XTRIM", st, "MINID", "0"}},
				{bayes, []any{"XADD", p + ":dead", "*", "reason", "x"}},
				{bayes, []any{"HINCRBY", p + ":model:m", "n", "1"}},
				{bayes, []any{"SET", events.SpecKey(p, "m"), "{}"}},
				{bayes, []any{"DEL", p + ":model:m", events.SpecKey(p, "m")}},
				{bayes, []any{"SADD", sh.ModelsKey(i), "m"}},
				{bayes, []any{"ZRANGEBYLEX", p + ":models:index", "-", "+"}},
				{bayes, []any{"INCR", p + ":epochs"}},
				{bayes, []any{"EVALSHA", "0000000000000000000000000000000000000000", "3", st, p + ":dead", p + ":model:m"}},
			}
			for _, a := range allowed {
				if got := dryRun(t, admin, a.user, a.cmd...); got != "OK" {
					t.Fatalf("%d shards, shard %d: %s may not %v: %s", n, i, a.user, a.cmd, got)
				}
			}
			denied := []struct {
				user string
				cmd  []any
			}{
				{api, []any{"XADD", p + ":dead", "*", "a", "b"}},
				{api, []any{"HGET", p + ":model:m", "n"}},
				{api, []any{"XRANGE", st, "-", "+"}},
				{api, []any{"SMEMBERS", sh.ModelsKey(i)}},
				{bayes, []any{"DEL", st}},
				{bayes, []any{"SET", p + ":model:m", "x"}},
				{bayes, []any{"XTRIM", p + ":dead", "MAXLEN", "0"}},
			}
			for _, d := range denied {
				if got := dryRun(t, admin, d.user, d.cmd...); got == "OK" {
					t.Fatalf("%d shards, shard %d: %s may %v", n, i, d.user, d.cmd)
				}
			}
		}
		// Shard 0's keys that exist once: the lease and the shard count.
		lease := sh.Prefix(0) + ":pubsub-bridge"
		for _, cmd := range [][]any{{"SET", sh.ShardsKey(), "3", "NX"}, {"GET", sh.ShardsKey()},
			{"SET", lease, "tok", "NX", "PX", "5000"}, {"PEXPIRE", lease, "5000"}, {"DEL", lease},
			{"EVALSHA", "0000000000000000000000000000000000000000", "2", lease, sh.Stream(0)}} {
			if got := dryRun(t, admin, bayes, cmd...); got != "OK" {
				t.Fatalf("%d shards: bayes may not %v: %s", n, cmd, got)
			}
		}
	}
	// Names of no shard, and the one-server names, which a cluster does not
	// use: not a stream to append to, not a key to read.
	for _, key := range []string{"update_model:0", "update_model:01", "update_model:1000", "update_model:dead",
		"update_model:x", "other", "other:1", "{update_model}", "{update_model:0}:dead", "update_model_2"} {
		for _, user := range []string{api, bayes} {
			if got := dryRun(t, admin, user, "XADD", key, "*", "a", "b"); got == "OK" {
				t.Errorf("%s may XADD to %s", user, key)
			}
		}
	}
	for _, key := range []string{"update_model:spec:m", "update_model:model:m", "{update_model:0}:spec:m", "{other}:spec:m", "update_model:shards"} {
		if got := dryRun(t, admin, api, "GET", key); got == "OK" {
			t.Errorf("the api may GET %s", key)
		}
		if got := dryRun(t, admin, bayes, "HGET", key, "n"); got == "OK" {
			t.Errorf("bayes may HGET %s", key)
		}
	}
	for _, cmd := range [][]any{{"CLUSTER", "NODES"}, {"CLUSTER", "FAILOVER"}, {"CLUSTER", "RESET"}, {"READONLY"},
		{"SELECT", "1"}, {"CONFIG", "SET", "appendonly", "no"}, {"FLUSHALL"}, {"KEYS", "*"}} {
		for _, user := range []string{api, bayes} {
			if got := dryRun(t, admin, user, cmd...); got == "OK" {
				t.Errorf("%s may %v", user, cmd)
			}
		}
	}
	if got := dryRun(t, admin, bayes, "WAIT", "1", "0"); got == "OK" {
		t.Error("bayes may WAIT; only the api waits for replicas")
	}
}

// clusterWithUsers is a Redis Cluster of three masters with a replica each,
// every node holding the cluster rules' users with their passwords: the ACL
// is per node, so a deployment loads it on all of them (users-cluster.acl,
// or ACL SETUSER as here). The default user stays on, without a password:
// the harness and the replicas' links use it.
func clusterWithUsers(t *testing.T) *redistest.Cluster {
	t.Helper()
	c := redistest.StartCluster(t, 3, 1)
	ctx := context.Background()
	for _, n := range c.Nodes {
		for _, u := range append(redisacl.Users(clusterRules), redisacl.Admin()) {
			if err := n.Client().Do(ctx, u.SetUserArgs(passwords[u.Name])...).Err(); err != nil {
				t.Fatalf("ACL SETUSER %s on %s: %v", u.Name, n.Addr(), err)
			}
		}
	}
	return c
}

// clusterClient connects to c as user through redisconf, exactly as the
// services do with REDIS_CLUSTER_ADDRS.
func clusterClient(t *testing.T, c *redistest.Cluster, user string) *redis.ClusterClient {
	t.Helper()
	r := envconf.New(envconf.FromMap(map[string]string{
		"REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs(), ","),
		"REDIS_USERNAME":      user, "REDIS_PASSWORD": passwords[user],
	}))
	conn := redisconf.ReadConn(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	cc, ok := conn.NewClient().(*redis.ClusterClient)
	if !ok {
		t.Fatalf("REDIS_CLUSTER_ADDRS gave a %T, not a cluster client", conn.NewClient())
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// resetACLLogs empties every node's record of denials.
func resetACLLogs(t *testing.T, c *redistest.Cluster) {
	t.Helper()
	for _, n := range c.Nodes {
		if err := n.Client().Do(context.Background(), "ACL", "LOG", "RESET").Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// clusterACLLog is every node's record of denials since the last reset.
func clusterACLLog(t *testing.T, c *redistest.Cluster) []string {
	t.Helper()
	var out []string
	for _, n := range c.Nodes {
		for _, e := range aclLog(t, n.Client()) {
			out = append(out, n.Addr()+": "+e)
		}
	}
	return out
}

// modelPerShard names a model living on each shard of sh: "default" on
// shard 0, the first of m0, m1, … the layout places on each other.
func modelPerShard(t *testing.T, sh events.Shards) []string {
	t.Helper()
	names := make([]string, sh.Count())
	names[0] = events.DefaultModel
	for k, left := 0, sh.Count()-1; left > 0; k++ {
		if k > 10000 {
			t.Fatal("no model name found for every shard")
		}
		name := fmt.Sprintf("m%d", k)
		if i := sh.Of(name); names[i] == "" {
			names[i] = name
			left--
		}
	}
	return names
}

// The api's commands on a cluster of three shards, as its user, through
// the cluster client and the masters' node clients (XADD and WAIT in one
// pipeline, as the publisher sends them): none is denied on any node,
// not even the client's own discovery, and nothing beyond them is allowed.
func TestAPIUserOnACluster(t *testing.T) {
	c := clusterWithUsers(t)
	ctx := context.Background()
	sh, err := events.NewShards(stream, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	models := modelPerShard(t, sh)
	admin := c.Client()
	for i, m := range models {
		wantOK(t, "spec (admin)", admin.Set(ctx, sh.SpecKey(m), `{"prior":"uniform","grid_points":30}`, 0).Err())
		wantOK(t, "models set (admin)", admin.SAdd(ctx, sh.ModelsKey(i), m).Err())
		wantOK(t, "state (admin)", admin.HSet(ctx, sh.Prefix(i)+":model:"+m, "w", 7, "n", 10).Err())
	}
	resetACLLogs(t, c)

	api := clusterClient(t, c, redisacl.APIUser)
	for i := range sh.Count() {
		node, err := redisconf.MasterFor(ctx, api, sh.Stream(i))
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
		wantOK(t, "PING the shard's master", node.Ping(ctx).Err())
		var wait *redis.Cmd
		_, err = node.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.XAdd(ctx, &redis.XAddArgs{Stream: sh.Stream(i), Values: []any{"trial", "w", "model", models[i]}})
			wait = p.Do(ctx, "WAIT", 1, 5000)
			return nil
		})
		wantOK(t, fmt.Sprintf("XADD + WAIT on shard %d", i), err)
		if n, _ := wait.Int(); n < 1 {
			t.Errorf("shard %d: WAIT says %d replicas have the XADD, want 1", i, n)
		}
	}
	for i, m := range models {
		if got, err := api.Get(ctx, sh.SpecKey(m)).Result(); err != nil || got == "" {
			t.Errorf("GET the spec of %s (shard %d): %q %v", m, i, got, err)
		}
	}
	// The model count: every shard's SCARD in one pipeline.
	cmds, err := api.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range sh.Count() {
			p.SCard(ctx, sh.ModelsKey(i))
		}
		return nil
	})
	wantOK(t, "SCARD of every shard", err)
	for i, cmd := range cmds {
		if n := cmd.(*redis.IntCmd).Val(); n != 1 {
			t.Errorf("SCARD of shard %d: %d, want 1", i, n)
		}
	}
	wantOK(t, "PING (cluster client)", api.Ping(ctx).Err())
	if log := clusterACLLog(t, c); len(log) != 0 {
		t.Fatalf("the api's own commands were denied: %v", log)
	}

	node1, err := redisconf.MasterFor(ctx, api, sh.Stream(1))
	if err != nil {
		t.Fatal(err)
	}
	p1 := sh.Prefix(1)
	state := p1 + ":model:" + models[1]
	denied := map[string]error{
		"HGET state":             api.HGet(ctx, state, "w").Err(),
		"HSET state":             api.HSet(ctx, state, "w", 0).Err(),
		"DEL state":              api.Del(ctx, state).Err(),
		"DEL stream":             api.Del(ctx, sh.Stream(1)).Err(),
		"XRANGE stream":          api.XRange(ctx, sh.Stream(1), "-", "+").Err(),
		"XTRIM stream":           api.XTrimMaxLen(ctx, sh.Stream(2), 0).Err(),
		"XADD dead letters":      api.XAdd(ctx, &redis.XAddArgs{Stream: p1 + ":dead", Values: []any{"a", "b"}}).Err(),
		"XADD one-server name":   api.XAdd(ctx, &redis.XAddArgs{Stream: "update_model:dead", Values: []any{"a", "b"}}).Err(),
		"SET spec":               api.Set(ctx, sh.SpecKey(models[2]), "x", 0).Err(),
		"SMEMBERS models":        api.SMembers(ctx, sh.ModelsKey(2)).Err(),
		"SADD models":            api.SAdd(ctx, sh.ModelsKey(0), "x").Err(),
		"ZRANGE index":           api.ZRange(ctx, sh.Prefix(0)+":models:index", 0, -1).Err(),
		"DEL shards":             api.Del(ctx, sh.ShardsKey()).Err(),
		"EVAL":                   api.Eval(ctx, "return 1", []string{state}).Err(),
		"PUBLISH":                api.Publish(ctx, channel, "w").Err(),
		"CLUSTER NODES":          node1.ClusterNodes(ctx).Err(),
		"CLUSTER FAILOVER":       node1.Do(ctx, "CLUSTER", "FAILOVER").Err(),
		"CONFIG SET":             node1.ConfigSet(ctx, "appendonly", "no").Err(),
		"FLUSHALL on the master": node1.FlushAll(ctx).Err(),
	}
	for what, err := range denied {
		wantNoPerm(t, what, err)
	}
	if got, err := admin.HGetAll(ctx, state).Result(); err != nil || got["w"] != "7" || got["n"] != "10" {
		t.Fatalf("state after the api's attempts: %v %v, want w=7 n=10 untouched", got, err)
	}
}

// bayes' commands on a cluster of three shards, as its user: the consumer
// group, claims, commit, lifecycle and trim scripts of each shard on that
// shard's keys, the start-up shard count, the pub/sub bridge, and reads of
// every shard in one pipeline. None is denied on any node; nothing else is
// allowed.
func TestBayesUserOnACluster(t *testing.T) {
	c := clusterWithUsers(t)
	ctx := context.Background()
	sh, err := events.NewShards(stream, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	models := modelPerShard(t, sh)
	resetACLLogs(t, c)
	api := clusterClient(t, c, redisacl.APIUser)
	bayes := clusterClient(t, c, redisacl.BayesUser)

	// Start-up: record the number of shards, as the first replica does.
	wantOK(t, "SET NX shards", bayes.SetNX(ctx, sh.ShardsKey(), sh.Count(), 0).Err())
	if got, err := bayes.Get(ctx, sh.ShardsKey()).Int(); err != nil || got != sh.Count() {
		t.Errorf("GET shards: %d %v", got, err)
	}
	wantOK(t, "SCRIPT LOAD (every master)", bayes.ScriptLoad(ctx, "return 1").Err())

	commit := commitProbe
	lifecycle := lifecycleProbe
	trim := trimProbe

	for i := range sh.Count() {
		st, p, m := sh.Stream(i), sh.Prefix(i), models[i]
		state := p + ":model:" + m
		what := func(s string) string { return fmt.Sprintf("shard %d: %s", i, s) }
		wantOK(t, what("XGROUP CREATE MKSTREAM"), bayes.XGroupCreateMkStream(ctx, st, "bayes", "0").Err())
		wantOK(t, what("XGROUP CREATECONSUMER"), bayes.XGroupCreateConsumer(ctx, st, "bayes", "b-1").Err())
		for range 3 {
			wantOK(t, what("api XADD"), api.XAdd(ctx, &redis.XAddArgs{Stream: st, Values: []any{"trial", "w", "model", m}}).Err())
		}
		msgs, err := bayes.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "bayes", Consumer: "b-1", Streams: []string{st, ">"}, Count: 3, Block: -1}).Result()
		if err != nil || len(msgs) != 1 || len(msgs[0].Messages) != 3 {
			t.Fatalf("%s: %v %v", what("XREADGROUP >"), msgs, err)
		}
		ids := msgs[0].Messages
		wantOK(t, what("XREADGROUP own pending"), bayes.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "bayes", Consumer: "b-1", Streams: []string{st, "0"}, Count: 10, Block: -1}).Err())
		wantOK(t, what("XAUTOCLAIM"), bayes.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: st, Group: "bayes", Consumer: "b-2", MinIdle: 0, Start: "0-0", Count: 10}).Err())
		wantOK(t, what("XPENDING"), bayes.XPending(ctx, st, "bayes").Err())
		wantOK(t, what("XRANGE"), bayes.XRange(ctx, st, ids[0].ID, ids[0].ID).Err())
		wantOK(t, what("XINFO GROUPS"), bayes.XInfoGroups(ctx, st).Err())
		wantOK(t, what("XINFO CONSUMERS"), bayes.XInfoConsumers(ctx, st, "bayes").Err())
		wantOK(t, what("XLEN stream"), bayes.XLen(ctx, st).Err())
		wantOK(t, what("XLEN dead"), bayes.XLen(ctx, p+":dead").Err())
		keys := []string{st, p + ":dead", state}
		wantOK(t, what("commit script (EVALSHA, then EVAL)"), commit.Run(ctx, bayes, keys, "bayes", ids[0].ID).Err())
		wantOK(t, what("commit script again (EVALSHA)"), commit.Run(ctx, bayes, keys, "bayes", ids[1].ID).Err())
		wantOK(t, what("XACK"), bayes.XAck(ctx, st, "bayes", ids[2].ID).Err())
		wantOK(t, what("lifecycle script"), lifecycle.Run(ctx, bayes, []string{p + ":model:gone", sh.ModelsKey(i), p + ":models:index", events.SpecKey(p, "gone"), p + ":epochs"},
			`{"prior":"uniform","grid_points":3}`, "gone").Err())
		wantOK(t, what("SADD"), bayes.SAdd(ctx, sh.ModelsKey(i), m).Err())
		wantOK(t, what("SET spec"), bayes.Set(ctx, events.SpecKey(p, m), `{"prior":"uniform","grid_points":3}`, 0).Err())
		wantOK(t, what("ZADD NX"), bayes.ZAddNX(ctx, p+":models:index", redis.Z{Member: m}).Err())
		wantOK(t, what("ZRANGEBYLEX"), bayes.ZRangeByLex(ctx, p+":models:index", &redis.ZRangeBy{Min: "-", Max: "+", Count: 10}).Err())
		wantOK(t, what("ZCARD"), bayes.ZCard(ctx, p+":models:index").Err())
		wantOK(t, what("SSCAN"), bayes.SScan(ctx, sh.ModelsKey(i), 0, "", 1000).Err())
		wantOK(t, what("SMEMBERS"), bayes.SMembers(ctx, sh.ModelsKey(i)).Err())
		wantOK(t, what("trim and cleanup script"), trim.Run(ctx, bayes, []string{st}, "bayes").Err())
		wantOK(t, what("XTRIM"), bayes.XTrimMinID(ctx, st, "0").Err())
	}
	// The read side: every shard's states and cardinalities in one
	// pipeline, split by the cluster client per node.
	cmds, err := bayes.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range models {
			p.HMGet(ctx, sh.Prefix(i)+":model:"+m, "w", "n")
			p.SCard(ctx, sh.ModelsKey(i))
		}
		return nil
	})
	wantOK(t, "reads of every shard", err)
	for k := 0; k < len(cmds); k += 2 {
		if v := cmds[k].(*redis.SliceCmd).Val(); len(v) != 2 || v[0] != "2" || v[1] != "2" {
			t.Errorf("shard %d: state %v, want the two commits' w=2 n=2", k/2, v)
		}
	}

	// The pub/sub bridge: lease and fenced forward into shard 0, in one
	// slot; SUBSCRIBE through the cluster client.
	lease := sh.Prefix(0) + ":pubsub-bridge"
	wantOK(t, "SET NX lease", bayes.SetNX(ctx, lease, "tok", 5*time.Second).Err())
	forward := forwardProbe
	wantOK(t, "forward script", forward.Run(ctx, bayes, []string{lease, sh.Stream(0)}, "tok").Err())
	wantOK(t, "PEXPIRE lease", bayes.PExpire(ctx, lease, 5*time.Second).Err())
	sub := bayes.Subscribe(ctx, channel)
	_, err = sub.Receive(ctx)
	wantOK(t, "SUBSCRIBE", err)
	wantOK(t, "PING on the subscription", sub.Ping(ctx))
	_ = sub.Close()
	wantOK(t, "DEL lease", bayes.Del(ctx, lease).Err())
	wantOK(t, "PING", bayes.Ping(ctx).Err())

	if log := clusterACLLog(t, c); len(log) != 0 {
		t.Fatalf("bayes' commands were denied: %v", log)
	}

	node0, err := redisconf.MasterFor(ctx, bayes, sh.Stream(0))
	if err != nil {
		t.Fatal(err)
	}
	p1 := sh.Prefix(1)
	state := p1 + ":model:" + models[1]
	denied := map[string]error{
		"DEL stream":           bayes.Del(ctx, sh.Stream(1)).Err(),
		"DEL dead letters":     bayes.Del(ctx, p1+":dead").Err(),
		"DEL models":           bayes.Del(ctx, sh.ModelsKey(2)).Err(),
		"DEL shards":           bayes.Del(ctx, sh.ShardsKey()).Err(),
		"SET state":            bayes.Set(ctx, state, "x", 0).Err(),
		"HSET spec":            bayes.HSet(ctx, sh.SpecKey(models[2]), "n", 0).Err(),
		"XTRIM dead letters":   bayes.XTrimMaxLen(ctx, p1+":dead", 0).Err(),
		"XGROUP DESTROY":       bayes.XGroupDestroy(ctx, sh.Stream(2), "bayes").Err(),
		"XADD one-server name": bayes.XAdd(ctx, &redis.XAddArgs{Stream: "update_model:dead", Values: []any{"a", "b"}}).Err(),
		"HSET one-server name": bayes.HSet(ctx, "update_model:model:x", "n", 0).Err(),
		"SET one-server lease": bayes.Set(ctx, "update_model:pubsub-bridge", "x", 0).Err(),
		"XADD other key":       bayes.XAdd(ctx, &redis.XAddArgs{Stream: "other", Values: []any{"a", "b"}}).Err(),
		"script on other key":  bayes.Eval(ctx, "return 1", []string{"other"}).Err(),
		"PUBLISH":              bayes.Publish(ctx, channel, "w").Err(),
		"WAIT":                 node0.Do(ctx, "WAIT", 1, 10).Err(),
		"CLUSTER NODES":        node0.ClusterNodes(ctx).Err(),
		"CONFIG GET":           node0.ConfigGet(ctx, "*").Err(),
		"KEYS":                 node0.Keys(ctx, "*").Err(),
		"FLUSHALL":             node0.FlushAll(ctx).Err(),
		"SCRIPT FLUSH":         node0.ScriptFlush(ctx).Err(),
		"READONLY":             node0.ReadOnly(ctx).Err(),
	}
	for what, err := range denied {
		wantNoPerm(t, what, err)
	}
	wantScriptDenied(t, "DEL through a script", bayes.Eval(ctx, "return redis.call('DEL', KEYS[1])", []string{sh.Stream(1)}).Err())
	wantScriptDenied(t, "SET through a script", bayes.Eval(ctx, "return redis.call('SET', KEYS[1], 'x')", []string{state}).Err())
	other := bayes.Subscribe(ctx, "other-channel")
	_, err = other.Receive(ctx)
	wantNoPerm(t, "SUBSCRIBE other channel", err)
	_ = other.Close()
}
