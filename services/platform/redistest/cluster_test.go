package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// The harness itself: a cluster of three masters and three replicas takes
// writes on every slot, and a killed master's replica takes over its slots
// with the data it had replicated.
func TestClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	ctx := context.Background()
	cl := c.Client()
	keys := []string{"a", "b", "c", "{update_model}:x", "update_model"}
	for _, k := range keys {
		if err := cl.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	old := c.MasterOf("update_model")
	if old.Role(ctx) != "master" {
		t.Fatalf("%s serves update_model but says it is %q", old.Addr(), old.Role(ctx))
	}
	// WAIT makes the write safe from the failover below.
	if n, err := old.Client().Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n < 1 {
		t.Fatalf("WAIT: %d %v", n, err)
	}
	now := c.Failover(old, "update_model", 30*time.Second)
	if now == old || now.Role(ctx) != "master" {
		t.Fatalf("after the failover %s serves update_model as %q", now.Addr(), now.Role(ctx))
	}
	if old.Role(ctx) != "slave" {
		t.Fatalf("the old master came back as %q, not as a replica", old.Role(ctx))
	}
	for _, k := range keys {
		if v, err := cl.Get(ctx, k).Result(); err != nil || v != "v" {
			t.Errorf("GET %s after the failover: %q %v", k, v, err)
		}
	}
}

func TestClusterReplicaOf(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	ctx := context.Background()
	m := c.MasterOf("k")
	r := c.ReplicaOf(m)
	if r == m || r.Role(ctx) != "slave" {
		t.Fatalf("ReplicaOf(%s) = %s, a %q", m.Addr(), r.Addr(), r.Role(ctx))
	}
	// Every master counts its replica for WAIT once the cluster is healthy.
	if n, err := m.Client().Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 on a healthy cluster's master: %d %v", n, err)
	}
}
