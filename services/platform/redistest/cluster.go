package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of real redis-server processes on loopback:
// masters and their replicas, made with `redis-cli --cluster create`, each
// node on free ports (client and bus) with its own data directory. Nodes
// stop when the test ends.
type Cluster struct {
	t        testing.TB
	Nodes    []*Server
	replicas int // replicas per master
}

// NodeTimeout is the cluster-node-timeout of test clusters: short, so a
// killed master's replica takes over within a few seconds.
const NodeTimeout = 1500 * time.Millisecond

// StartCluster starts masters × (1 + replicasPer) nodes, joins them into a
// cluster whose slots are spread over the masters, each with replicasPer
// replicas, and waits until every node sees the cluster healthy.
func StartCluster(t testing.TB, masters, replicasPer int) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli not found on PATH: install it with `apt-get install -y redis-tools` (or run .ci/run)")
	}
	c := &Cluster{t: t, replicas: replicasPer}
	addrs := make([]string, 0, masters*(1+replicasPer))
	for range masters * (1 + replicasPer) {
		n := Start(t, func(s *Server) {
			s.cluster, s.nodeTimeout, s.BusPort = true, NodeTimeout, FreePort(t)
		})
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPer), "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(30 * time.Second)
	return c
}

// Addrs are the nodes' host:port, the seeds for REDIS_CLUSTER_ADDRS.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// Client returns a cluster client closed when the test ends.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// Running are the nodes whose process is up.
func (c *Cluster) Running() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if n.cmd != nil {
			out = append(out, n)
		}
	}
	return out
}

// Role is ROLE's first word on n: "master" or "slave" ("" if n is down or
// does not answer).
func (n *Server) Role(ctx context.Context) string {
	if n.cmd == nil {
		return ""
	}
	cl := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
	defer cl.Close()
	v, err := cl.Do(ctx, "ROLE").Slice()
	if err != nil || len(v) == 0 {
		return ""
	}
	role, _ := v[0].(string)
	return role
}

// ReplicaOf is the running node that replicates master now.
func (c *Cluster) ReplicaOf(master *Server) *Server {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range c.Running() {
		if n == master || n.Role(ctx) != "slave" {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		info, err := cl.Info(ctx, "replication").Result()
		_ = cl.Close()
		if err == nil && strings.Contains(info, "master_port:"+strconv.Itoa(master.Port)+"\r\n") {
			return n
		}
	}
	c.t.Fatalf("no running replica of %s", master.Addr())
	return nil
}

// MasterOf is the node serving key's slot as master now, as the nodes that
// are up agree.
func (c *Cluster) MasterOf(key string) *Server {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range c.Running() {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		slot, err := cl.ClusterKeySlot(ctx, key).Result()
		var slots []redis.ClusterSlot
		if err == nil {
			slots, err = cl.ClusterSlots(ctx).Result()
		}
		_ = cl.Close()
		if err != nil {
			continue
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
				for _, m := range c.Nodes {
					if m.Addr() == r.Nodes[0].Addr {
						return m
					}
				}
			}
		}
	}
	c.t.Fatalf("no node says which master serves %q", key)
	return nil
}

// WaitHealthy polls until every running node reports cluster_state:ok,
// every master's replicas are linked (master_link_status:up), and the
// nodes agree on one master per slot range, or fails the test at timeout.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if last = c.unhealthy(true); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond) // poll interval; the deadline bounds the wait
	}
	c.t.Fatalf("redis cluster not healthy within %s: %s", timeout, last)
}

// unhealthy says what is not healthy yet, "" when all is. Without
// replicas, a master may have none (a promoted replica while its old
// master is down).
func (c *Cluster) unhealthy(replicas bool) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var view string
	for _, n := range c.Running() {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		info, err := cl.ClusterInfo(ctx).Result()
		var repl string
		if err == nil {
			repl, err = cl.Info(ctx, "replication").Result()
		}
		var slots []redis.ClusterSlot
		if err == nil {
			slots, err = cl.ClusterSlots(ctx).Result()
		}
		_ = cl.Close()
		switch {
		case err != nil:
			return fmt.Sprintf("%s: %v", n.Addr(), err)
		case !strings.Contains(info, "cluster_state:ok"):
			return n.Addr() + ": cluster_state not ok"
		case strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up"):
			return n.Addr() + ": replica not linked to its master"
		case replicas && strings.Contains(repl, "role:master") && c.replicas > 0 && strings.Contains(repl, "connected_slaves:0"):
			return n.Addr() + ": a master has no replica"
		case strings.Contains(repl, "role:master") && replicaNotOnline(repl):
			// A master counts a replica for WAIT from its first ACK after
			// the sync: until then a WAIT 1 would time out.
			return n.Addr() + ": a replica is not online on its master yet"
		}
		var b strings.Builder
		for _, r := range slots {
			fmt.Fprintf(&b, "%d-%d@%s;", r.Start, r.End, r.Nodes[0].Addr)
		}
		if view == "" {
			view = b.String()
		} else if view != b.String() {
			return "nodes disagree on the slot map"
		}
	}
	return ""
}

// Failover SIGKILLs master, waits until one of its replicas serves its
// slots, restarts it (it rejoins as a replica of the new master, its data
// replaced by a full sync) and waits until the whole cluster is healthy.
// It returns the node that took over.
func (c *Cluster) Failover(master *Server, key string, timeout time.Duration) *Server {
	c.t.Helper()
	master.Kill()
	deadline := time.Now().Add(timeout)
	var promoted *Server
	for promoted == nil {
		if time.Now().After(deadline) {
			c.t.Fatalf("no replica of %s took over %q within %s", master.Addr(), key, timeout)
		}
		if m := c.masterIfServing(key); m != nil && m != master {
			promoted = m
			break
		}
		time.Sleep(50 * time.Millisecond) // poll interval; the deadline bounds the wait
	}
	master.start()
	c.WaitHealthy(time.Until(deadline) + 10*time.Second)
	return promoted
}

// masterIfServing is the node that says itself master of key's slot and
// that the other running nodes agree on, nil while they do not.
func (c *Cluster) masterIfServing(key string) *Server {
	if c.unhealthy(false) != "" {
		return nil
	}
	return c.MasterOf(key)
}

// replicaNotOnline says whether INFO replication of a master lists a
// replica whose state is not online, or one that has not acknowledged any
// offset yet.
func replicaNotOnline(info string) bool {
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "slave") || !strings.Contains(line, "ip=") {
			continue
		}
		if !strings.Contains(line, "state=online") || strings.Contains(line, "offset=0,") {
			return true
		}
	}
	return false
}
