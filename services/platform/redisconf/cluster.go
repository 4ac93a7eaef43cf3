package redisconf

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
)

// Conn is where a service's Redis is: one server (Single) or a Redis
// Cluster (Cluster, from REDIS_CLUSTER_ADDRS). Exactly one is set.
type Conn struct {
	Single  *redis.Options
	Cluster *redis.ClusterOptions
}

// ReadConn reads REDIS_CLUSTER_ADDRS when set (seed nodes of a Redis
// Cluster, host:port,host:port,…, with REDIS_USERNAME and REDIS_PASSWORD
// for its ACL user), else the one-server variables of Read. Setting both
// kinds is an error: a deployment must say which Redis it means.
func ReadConn(r *envconf.Reader) Conn {
	raw, ok := r.Lookup("REDIS_CLUSTER_ADDRS")
	if !ok {
		return Conn{Single: Read(r)}
	}
	for _, other := range []string{"REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_DB"} {
		if _, set := r.Lookup(other); set {
			r.Fail(other, "(set)", "unset when REDIS_CLUSTER_ADDRS is set (a cluster has no database number and is found through its seed nodes)")
		}
	}
	var addrs []string
	for _, a := range strings.Split(raw, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			r.Fail("REDIS_CLUSTER_ADDRS", raw, "host:port,host:port,… (seed nodes of the cluster; "+a+" is not host:port)")
			return Conn{}
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		r.Fail("REDIS_CLUSTER_ADDRS", raw, "host:port,host:port,… (at least one seed node)")
		return Conn{}
	}
	user, _ := r.Lookup("REDIS_USERNAME")
	pw, _ := r.Lookup("REDIS_PASSWORD")
	if user != "" && pw == "" {
		r.Fail("REDIS_USERNAME", user, "REDIS_PASSWORD set as well")
	}
	single := &redis.Options{Username: user, Password: pw}
	tune(single)
	return Conn{Cluster: &redis.ClusterOptions{
		Addrs: addrs, Username: user, Password: pw,
		DialTimeout: single.DialTimeout, ReadTimeout: single.ReadTimeout, WriteTimeout: single.WriteTimeout,
		ContextTimeoutEnabled: true,
		// Each node's client sends a command once (see Read). The cluster
		// client still follows MOVED and ASK, which say the command was not
		// run; the api sends its XADDs to the master itself, so a lost reply
		// is never answered by a second XADD (see the api's Publisher).
		MaxRetries:    -1,
		DialerRetries: single.DialerRetries, DialerRetryTimeout: single.DialerRetryTimeout,
		DisableIdentity: true,
	}}
}

// NewClient returns a client for c: a cluster client or a one-server one.
func (c Conn) NewClient() redis.UniversalClient {
	if c.Cluster != nil {
		return redis.NewClusterClient(c.Cluster)
	}
	return redis.NewClient(c.Single)
}

// String is a log-safe description: the user name and the address(es),
// never the password.
func (c Conn) String() string {
	if c.Cluster == nil {
		return Describe(c.Single)
	}
	user := ""
	if c.Cluster.Username != "" {
		user = url.PathEscape(c.Cluster.Username) + "@"
	}
	return fmt.Sprintf("redis-cluster://%s%s", user, strings.Join(c.Cluster.Addrs, ","))
}

// MasterFor returns the client of the node that serves key's slot now: the
// cluster's master of that slot, or the one server. Commands sent through
// it share its connections, so a WAIT sent in the same pipeline as a write
// counts the replicas of that write.
func MasterFor(ctx context.Context, c redis.UniversalClient, key string) (*redis.Client, error) {
	switch cc := c.(type) {
	case *redis.ClusterClient:
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("finding the master of %s: %w", key, err)
		}
		return node, nil
	case *redis.Client:
		return cc, nil
	default:
		return nil, fmt.Errorf("redis client %T: neither one server nor a cluster", c)
	}
}

// Reload makes a cluster client read the slot map again (after a failover
// moved a slot); it does nothing for one server.
func Reload(ctx context.Context, c redis.UniversalClient) {
	if cc, ok := c.(*redis.ClusterClient); ok {
		cc.ReloadState(ctx)
	}
}
