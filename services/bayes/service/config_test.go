package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
)

func TestDefaults(t *testing.T) {
	c, err := service.LoadConfig(envconf.FromMap(map[string]string{"CONSUMER_NAME": "pod-0"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8001 || c.BatchSize != 1000 || c.Stream != "update_model" || c.Channel != "update_model" || c.GraphsDir != "graphs" ||
		c.GraphsKeep != 500 || c.MaxModels != 10_000 || c.GraphsInterval != 500*time.Millisecond || c.GridPoints != 120 || c.Prior.String() != "step:0.1" || c.ConsumerName != "pod-0" ||
		c.Redis.Single == nil || c.Redis.Cluster != nil || c.Redis.Single.Addr != "localhost:6379" ||
		c.Shards.Count() != 1 || c.Shards.Cluster() || c.Shards.Stream(0) != "update_model" || c.ShutdownTimeout != 10*time.Second || c.ClaimMinIdle != 30*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestEveryVariable(t *testing.T) {
	c, err := service.LoadConfig(envconf.FromMap(map[string]string{
		"PORT": "9001", "REDIS_URL": "redis://r:6380/1", "REDIS_STREAM": "s", "REDIS_CHANNEL": "ch",
		"CONSUMER_NAME": "b-1", "BATCH_SIZE": "64", "CLAIM_MIN_IDLE": "2s", "CLAIM_INTERVAL": "1s",
		"TRIM_INTERVAL": "0s", "STALE_CONSUMER_AFTER": "10m", "GRAPHS_DIR": "/g", "GRAPHS_KEEP": "0", "GRAPHS_MIN_INTERVAL": "2s",
		"GRID_POINTS": "200", "PRIOR": "beta:2,2", "LOG_LEVEL": "debug", "SHUTDOWN_TIMEOUT": "5s",
		"MAX_MODELS": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9001 || c.Redis.Single.Addr != "r:6380" || c.Redis.Single.DB != 1 || c.Shards != events.OneShard("s") || c.Stream != "s" || c.Channel != "ch" ||
		c.ConsumerName != "b-1" || c.BatchSize != 64 || c.ClaimMinIdle != 2*time.Second || c.ClaimInterval != time.Second ||
		c.TrimInterval != 0 || c.StaleConsumer != 10*time.Minute || c.GraphsDir != "/g" || c.GraphsKeep != 0 || c.GraphsInterval != 2*time.Second ||
		c.GridPoints != 200 || c.Prior.String() != "beta:2,2" || c.LogLevel != "debug" || c.ShutdownTimeout != 5*time.Second || c.MaxModels != 0 {
		t.Fatalf("values: %+v", c)
	}
}

func TestInvalidValuesNameTheVariable(t *testing.T) {
	for env, want := range map[string]string{
		"PORT=0": "PORT", "GRID_POINTS=two": "GRID_POINTS", "PRIOR=normal:0,1": "PRIOR", "BATCH_SIZE=-1": "BATCH_SIZE",
		"CLAIM_MIN_IDLE=soon": "CLAIM_MIN_IDLE", "GRAPHS_KEEP=-3": "GRAPHS_KEEP", "REDIS_PORT=x": "REDIS_PORT",
		"PLOT_WORKERS=-1": "PLOT_WORKERS", "PLOT_WORKERS=many": "PLOT_WORKERS",
		"LOG_LEVEL=verbose": "LOG_LEVEL", "MAX_MODELS=-1": "MAX_MODELS",
		"STREAM_SHARDS=0": "STREAM_SHARDS", "STREAM_SHARDS=257": "STREAM_SHARDS", "STREAM_SHARDS=two": "STREAM_SHARDS",
		"REDIS_CLUSTER_ADDRS=r1": "REDIS_CLUSTER_ADDRS",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := service.LoadConfig(envconf.FromMap(map[string]string{k: v}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to name %s", env, err, want)
		}
	}
	// A prior and grid that cannot work together are refused at start-up.
	_, err := service.LoadConfig(envconf.FromMap(map[string]string{"PRIOR": "step:0.9", "GRID_POINTS": "5"}))
	if err == nil || !strings.Contains(err.Error(), "PRIOR") || !strings.Contains(err.Error(), "GRID_POINTS") {
		t.Errorf("err = %v", err)
	}
}

// REDIS_CLUSTER_ADDRS and STREAM_SHARDS: the shards are laid out for a
// cluster (hash-tagged keys) when Redis is one, and a deployment must say
// which Redis it means.
func TestClusterAndShards(t *testing.T) {
	c, err := service.LoadConfig(envconf.FromMap(map[string]string{
		"REDIS_CLUSTER_ADDRS": "r1:7000, r2:7001", "REDIS_USERNAME": "bayes", "REDIS_PASSWORD": "pw", "STREAM_SHARDS": "3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := events.NewShards("update_model", 3, true)
	if c.Redis.Single != nil || c.Redis.Cluster == nil || strings.Join(c.Redis.Cluster.Addrs, ",") != "r1:7000,r2:7001" ||
		c.Redis.Cluster.Username != "bayes" || c.Shards != want || c.Shards.Prefix(0) != "{update_model}" {
		t.Fatalf("cluster config: %+v %+v", c.Redis, c.Shards)
	}
	if s := c.Redis.String(); strings.Contains(s, "pw") || !strings.Contains(s, "r1:7000") {
		t.Fatalf("log-safe description %q", s)
	}
	// Shards on one server: shard 0 keeps today's names.
	c, err = service.LoadConfig(envconf.FromMap(map[string]string{"REDIS_URL": "redis://r:6379/0", "STREAM_SHARDS": "4"}))
	if err != nil || c.Shards.Count() != 4 || c.Shards.Cluster() || c.Shards.Prefix(0) != "update_model" {
		t.Fatalf("one server, 4 shards: %+v, %v", c.Shards, err)
	}
	_, err = service.LoadConfig(envconf.FromMap(map[string]string{"REDIS_CLUSTER_ADDRS": "r1:7000", "REDIS_URL": "redis://r:6379/0"}))
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("both kinds of Redis: err = %v, want it to name REDIS_URL", err)
	}
}
