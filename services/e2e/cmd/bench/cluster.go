package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// The cluster rows (issue 15), on a Redis Cluster of three masters and
// three replicas on loopback:
//
//   - shards: the events/s one bayes applies while draining a backlog spread
//     over 64 models, with the models on one shard (one stream, one master)
//     against the same backlog on three shards (three streams on three
//     masters). On a machine of two cores a second and third master add no
//     core, so no gain is expected there: the figure is the per-shard
//     ceiling and what the shards cost, not the scaling.
//   - wait: the api's requests/s with REDIS_WAIT_REPLICAS=1 (every
//     group-commit batch confirmed by a replica before its 201s) against
//     REDIS_WAIT_REPLICAS=0, same cluster, same three shards, alternating.

const (
	clusterModels   = 64 // models of both rows' loads
	clusterMasters  = 3
	clusterReplicas = 1 // per master
)

// redisCluster is a Redis Cluster of redis-server processes on loopback,
// each configured as the bench's one Redis (AOF, fsync every second).
type redisCluster struct {
	nodes []*proc
	dirs  []string
	rdb   *redis.ClusterClient
}

// startCluster starts masters×(1+replicasPer) nodes, joins them with
// redis-cli --cluster create and waits until every node sees the cluster
// healthy.
func startCluster(masters, replicasPer int) *redisCluster {
	c := &redisCluster{}
	var addrs []string
	for range masters * (1 + replicasPer) {
		dir, err := os.MkdirTemp("", "edb-bench-cluster")
		if err != nil {
			log.Fatal(err)
		}
		port, bus := freePort(), freePort()
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--loglevel", "warning",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "5000", "--logfile", filepath.Join(dir, "redis.log"))
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		c.nodes, c.dirs = append(c.nodes, &proc{cmd: cmd, port: port}), append(c.dirs, dir)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	for _, a := range addrs {
		waitPing(a)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPer), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		log.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		why := clusterUnhealthy(addrs)
		if why == "" {
			break
		}
		if time.Now().After(deadline) {
			log.Fatalf("redis cluster not healthy within 30s: %s", why)
		}
		time.Sleep(50 * time.Millisecond) // poll interval; the deadline bounds it
	}
	c.rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, PoolSize: 64})
	return c
}

// waitPing polls addr until it answers PING, for 10 s at most.
func waitPing(addr string) {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer cl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for cl.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			log.Fatalf("redis-server on %s did not start", addr)
		}
		time.Sleep(10 * time.Millisecond) // poll interval; the deadline bounds it
	}
}

// clusterUnhealthy says what is not ready yet: a node whose cluster_state
// is not ok or a replica not linked to its master; "" when all are.
func clusterUnhealthy(addrs []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, a := range addrs {
		cl := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
		info, err := cl.ClusterInfo(ctx).Result()
		var repl string
		if err == nil {
			repl, err = cl.Info(ctx, "replication").Result()
		}
		_ = cl.Close()
		switch {
		case err != nil:
			return fmt.Sprintf("%s: %v", a, err)
		case !strings.Contains(info, "cluster_state:ok"):
			return a + ": cluster_state not ok"
		case strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up"):
			return a + ": replica not linked"
		}
	}
	return ""
}

func (c *redisCluster) addrs() string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, fmt.Sprintf("127.0.0.1:%d", n.port))
	}
	return strings.Join(out, ",")
}

func (c *redisCluster) stop() {
	_ = c.rdb.Close()
	for _, n := range c.nodes {
		n.stop()
	}
	for _, d := range c.dirs {
		_ = os.RemoveAll(d)
	}
}

// masterOf is the address of the master serving key's slot.
func (c *redisCluster) masterOf(ctx context.Context, key string) string {
	slot, err := c.rdb.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		log.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
	}
	slots, err := c.rdb.ClusterSlots(ctx).Result()
	if err != nil {
		log.Fatalf("CLUSTER SLOTS: %v", err)
	}
	for _, r := range slots {
		if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
			return r.Nodes[0].Addr
		}
	}
	log.Fatalf("no master serves %s (slot %d)", key, slot)
	return ""
}

// spreadShards returns the layout of n shards for a fresh stream name
// (prefix-k) whose shards' streams are served by n different masters (for
// n ≤ the masters), so the load of each shard lands on a master of its own.
func (c *redisCluster) spreadShards(ctx context.Context, prefix string, n int) events.Shards {
	for k := 0; k < 10_000; k++ {
		sh, err := events.NewShards(fmt.Sprintf("%s-%d", prefix, k), n, true)
		if err != nil {
			log.Fatal(err)
		}
		var masters []string
		for i := range n {
			if m := c.masterOf(ctx, sh.Stream(i)); !slices.Contains(masters, m) {
				masters = append(masters, m)
			}
		}
		if len(masters) == min(n, clusterMasters) {
			return sh
		}
	}
	log.Fatalf("no stream name %s-k spreads %d shards over %d masters", prefix, n, clusterMasters)
	return events.Shards{}
}

// clusterModelNames are the models of the cluster rows' loads.
func clusterModelNames() []string {
	out := make([]string, clusterModels)
	for i := range out {
		out[i] = fmt.Sprintf("m%02d", i)
	}
	return out
}

// benchShards: bayes' drain rate of the same backlog over clusterModels
// models on one shard and on three, alternating s.pairs times on one
// cluster (each run on fresh streams), median of each.
func benchShards(s settings) row {
	c := startCluster(clusterMasters, clusterReplicas)
	defer c.stop()
	ctx := context.Background()
	backlog := max(s.drainEvents/4, 100_000)
	var rates [2][]float64
	for pair := range s.pairs {
		for i, n := range []int{1, 3} {
			sh := c.spreadShards(ctx, fmt.Sprintf("drain%d-%d", n, pair), n)
			rates[i] = append(rates[i], drainOnCluster(s, c, sh, backlog))
		}
	}
	one, three := median(rates[0]), median(rates[1])
	ratio := three / one
	return row{
		figure: fmt.Sprintf("bayes drain on a %d-master cluster, %d events over %d models, 3 shards (3 streams on 3 masters), events/s",
			clusterMasters, backlog, clusterModels),
		reference: "the same backlog on 1 shard (one stream, one master)",
		value:     fmt.Sprintf("%.0f", three), refValue: fmt.Sprintf("%.0f", one), ratio: fmt.Sprintf("%.2f", ratio),
		target: "reported", ok: one > 0 && three > 0,
	}
}

// drainOnCluster writes a backlog of n one-trial observations, spread
// round-robin over the models, onto the shards of sh as the api would
// (each model's events on its shard's stream), then starts one bayes on
// those shards and returns the events/s it applied, from its first applied
// event to the last.
func drainOnCluster(s settings, c *redisCluster, sh events.Shards, n int) float64 {
	ctx := context.Background()
	names := clusterModelNames()
	now := time.Now()
	for done := 0; done < n; {
		pipe := c.rdb.Pipeline()
		for i := 0; i < 10_000 && done < n; i++ {
			m := names[done%len(names)]
			e := events.Event{Model: m, Trial: events.TrialLand, PublishedAt: now, Source: events.SourceAPI}
			if done%10 < 7 {
				e.Trial = events.TrialWater
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: sh.Stream(sh.Of(m)), Values: e.Fields()})
			done++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			log.Fatalf("writing the backlog: %v", err)
		}
	}
	graphs := tempDir()
	defer os.RemoveAll(graphs)
	bayes := start(s.bayesBin, freePort(), "REDIS_CLUSTER_ADDRS="+c.addrs(), "STREAM_SHARDS="+strconv.Itoa(sh.Count()),
		"REDIS_STREAM="+sh.Name(), "GRAPHS_DIR="+graphs, "CONSUMER_NAME=bench")
	defer func() {
		bayes.stop()
		// Every run starts on an empty cluster, whatever ran before it.
		if err := c.rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.FlushAll(ctx).Err() }); err != nil {
			log.Fatalf("FLUSHALL: %v", err)
		}
	}()
	var t0 time.Time
	deadline := time.Now().Add(10 * time.Minute)
	for {
		applied := clusterApplied(ctx, c, sh, names)
		if applied > 0 && t0.IsZero() {
			t0 = time.Now()
		}
		if applied >= int64(n) {
			return float64(n) / time.Since(t0).Seconds()
		}
		if time.Now().After(deadline) {
			log.Fatalf("shards row: bayes applied %d of %d events on %d shards within 10 minutes", applied, n, sh.Count())
		}
		time.Sleep(5 * time.Millisecond) // sampling resolution; the deadline bounds the loop
	}
}

// clusterApplied sums the models' n from their state hashes on their
// shards, in one pipeline (split by node).
func clusterApplied(ctx context.Context, c *redisCluster, sh events.Shards, names []string) int64 {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(names))
	for i, m := range names {
		cmds[i] = pipe.HGet(ctx, sh.Prefix(sh.Of(m))+":model:"+m, "n")
	}
	_, _ = pipe.Exec(ctx) // a model not created yet answers nil
	var sum int64
	for _, cmd := range cmds {
		v, _ := cmd.Int64()
		sum += v
	}
	return sum
}

// observeScript makes wrk post a batch of two observations to a random one
// of the cluster rows' models, so the load spreads over every shard.
const observeScript = `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"w":1,"l":1}'
request = function()
  return wrk.format(nil, string.format("/models/m%02d/observations", math.random(0, LAST)))
end
`

// benchWait: the api's requests/s with REDIS_WAIT_REPLICAS=1 against 0, two
// api processes on one cluster with three shards, loaded in turn by wrk
// with batches to random models (s.pairs runs each, medians).
func benchWait(s settings) row {
	c := startCluster(clusterMasters, clusterReplicas)
	defer c.stop()
	sh := c.spreadShards(context.Background(), "wait", 3)
	env := []string{"REDIS_CLUSTER_ADDRS=" + c.addrs(), "STREAM_SHARDS=3", "REDIS_STREAM=" + sh.Name(), "RATE_LIMIT=0"}
	var apis [2]*proc
	for i, k := range []int{0, 1} {
		apis[i] = start(s.apiBin, freePort(), append(slices.Clone(env), "REDIS_WAIT_REPLICAS="+strconv.Itoa(k))...)
		defer apis[i].stop()
		waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/readyz", apis[i].port))
	}
	script := filepath.Join(tempDir(), "observe.lua")
	defer os.RemoveAll(filepath.Dir(script))
	if err := os.WriteFile(script, []byte(strings.Replace(observeScript, "LAST", strconv.Itoa(clusterModels-1), 1)), 0o644); err != nil {
		log.Fatal(err)
	}
	var rps [2][]float64
	var bad [2]int
	for range s.pairs {
		for i, p := range apis {
			l := wrk(fmt.Sprintf("http://127.0.0.1:%d", p.port), s.wrkThreads, s.conns, s.apiDur, "-s", script)
			rps[i], bad[i] = append(rps[i], l.rps), bad[i]+l.bad
		}
	}
	off, on := median(rps[0]), median(rps[1])
	return row{
		figure: fmt.Sprintf("api POST /models/{name}/observations on a %d-master cluster, 3 shards, %d models, REDIS_WAIT_REPLICAS=1, req/s (%d not 201)",
			clusterMasters, clusterModels, bad[1]),
		reference: fmt.Sprintf("the same with REDIS_WAIT_REPLICAS=0 (%d not 201)", bad[0]),
		value:     fmt.Sprintf("%.0f", on), refValue: fmt.Sprintf("%.0f", off), ratio: fmt.Sprintf("%.2f", on/off),
		target: "reported, 0 not 201", ok: bad[0] == 0 && bad[1] == 0,
	}
}
