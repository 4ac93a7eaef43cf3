package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
)

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := service.LoadConfig(envconf.FromMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8000 || cfg.Stream != "update_model" || cfg.PublishTimeout != 2*time.Second ||
		cfg.LogLevel != "info" || cfg.ShutdownTimeout != 10*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}
	if r := cfg.Redis.Single; r == nil || cfg.Redis.Cluster != nil || r.Addr != "localhost:6379" || r.DB != 0 || r.Password != "" || r.Username != "" {
		t.Errorf("default redis options = %+v", cfg.Redis)
	}
	// One shard on a plain Redis, no WAIT: every key and answer as before.
	if cfg.Shards.Count() != 1 || cfg.Shards.Cluster() || cfg.Shards.Stream(0) != "update_model" ||
		cfg.Shards.SpecKey("ab") != "update_model:spec:ab" || cfg.WaitReplicas != 0 {
		t.Errorf("default shards %+v, wait replicas %d", cfg.Shards, cfg.WaitReplicas)
	}
	// No rate limit unless asked for: benchmarks and a default setup behind
	// one proxy address must not be throttled.
	if cfg.MaxRequestBytes != 4096 || cfg.RateLimit != 0 || cfg.RateLimitBurst != 0 {
		t.Errorf("limits = %d bytes, %d/s burst %d; want 4096, off", cfg.MaxRequestBytes, cfg.RateLimit, cfg.RateLimitBurst)
	}
	if cfg.PprofAddr != "" {
		t.Errorf("PprofAddr %q by default; want no profiling listener", cfg.PprofAddr)
	}
}

func TestLoadConfigReadsEveryVariable(t *testing.T) {
	t.Run("own variables", func(t *testing.T) {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{
			"PORT":             "18000",
			"REDIS_STREAM":     "obs",
			"PUBLISH_TIMEOUT":  "750ms",
			"LOG_LEVEL":        "DEBUG",
			"SHUTDOWN_TIMEOUT": "3s",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Port != 18000 || cfg.Stream != "obs" || cfg.PublishTimeout != 750*time.Millisecond ||
			cfg.LogLevel != "debug" || cfg.ShutdownTimeout != 3*time.Second {
			t.Errorf("config = %+v", cfg)
		}
	})
	t.Run("profiling", func(t *testing.T) {
		for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:6060", "127.0.0.2:0"} {
			cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{"PPROF_ADDR": addr}))
			if err != nil || cfg.PprofAddr != addr {
				t.Errorf("PPROF_ADDR=%s: %q, %v", addr, cfg.PprofAddr, err)
			}
		}
	})
	t.Run("limits", func(t *testing.T) {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{
			"MAX_REQUEST_BYTES": "1024", "RATE_LIMIT": "50", "RATE_LIMIT_BURST": "200",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.MaxRequestBytes != 1024 || cfg.RateLimit != 50 || cfg.RateLimitBurst != 200 {
			t.Errorf("config = %+v", cfg)
		}
	})
	t.Run("burst defaults to one second's worth", func(t *testing.T) {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{"RATE_LIMIT": "50"}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.RateLimit != 50 || cfg.RateLimitBurst != 50 {
			t.Errorf("RATE_LIMIT=50 gives %d/s burst %d, want burst 50", cfg.RateLimit, cfg.RateLimitBurst)
		}
	})
	t.Run("REDIS_USERNAME", func(t *testing.T) {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{
			"REDIS_HOST": "redis", "REDIS_USERNAME": "edb-api", "REDIS_PASSWORD": "s3cret",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Redis.Single.Username != "edb-api" || cfg.Redis.Single.Password != "s3cret" {
			t.Errorf("redis options = %+v", cfg.Redis)
		}
	})
	t.Run("REDIS_URL wins over the parts", func(t *testing.T) {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{
			"REDIS_URL":  "redis://:pw@cache:6380/2",
			"REDIS_HOST": "ignored",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Redis.Single.Addr != "cache:6380" || cfg.Redis.Single.DB != 2 || cfg.Redis.Single.Password != "pw" {
			t.Errorf("redis options = %+v", cfg.Redis)
		}
	})
	t.Run("REDIS_HOST and friends", func(t *testing.T) {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{
			"REDIS_HOST": "redis", "REDIS_PORT": "6390", "REDIS_DB": "3", "REDIS_PASSWORD": "s3cret",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Redis.Single.Addr != "redis:6390" || cfg.Redis.Single.DB != 3 || cfg.Redis.Single.Password != "s3cret" {
			t.Errorf("redis options = %+v", cfg.Redis)
		}
	})
	t.Run("a Redis Cluster, sharded, waiting for a replica", func(t *testing.T) {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{
			"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000, 10.0.0.2:7000", "REDIS_USERNAME": "edb-api", "REDIS_PASSWORD": "hunter2",
			"STREAM_SHARDS": "3", "REDIS_WAIT_REPLICAS": "1",
		}))
		if err != nil {
			t.Fatal(err)
		}
		c := cfg.Redis.Cluster
		if cfg.Redis.Single != nil || c == nil || strings.Join(c.Addrs, " ") != "10.0.0.1:7000 10.0.0.2:7000" ||
			c.Username != "edb-api" || c.Password != "hunter2" {
			t.Fatalf("redis = %+v", cfg.Redis)
		}
		if s := cfg.Shards; s.Count() != 3 || !s.Cluster() || s.Stream(0) != "update_model" || s.Stream(2) != "update_model:2" ||
			s.ModelsKey(0) != "{update_model}:models" || cfg.WaitReplicas != 1 {
			t.Errorf("shards %+v (models of shard 0 in %s), wait replicas %d", s, s.ModelsKey(0), cfg.WaitReplicas)
		}
		if got := cfg.Redis.String(); strings.Contains(got, "hunter2") || !strings.Contains(got, "10.0.0.2:7000") {
			t.Errorf("log-safe description %q", got)
		}
	})
	t.Run("shards of a renamed stream on one server", func(t *testing.T) {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{"REDIS_STREAM": "obs", "STREAM_SHARDS": "256"}))
		if err != nil {
			t.Fatal(err)
		}
		if s := cfg.Shards; s.Count() != 256 || s.Cluster() || s.Name() != "obs" || s.Stream(255) != "obs:255" || s.ModelsKey(0) != "obs:models" {
			t.Errorf("shards %+v", s)
		}
	})
	t.Run("empty values mean the default", func(t *testing.T) {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{"PORT": "", "REDIS_STREAM": "  "}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Port != 8000 || cfg.Stream != "update_model" {
			t.Errorf("config = %+v", cfg)
		}
	})
}

func TestLoadConfigCORSOrigins(t *testing.T) {
	cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{
		"CORS_ALLOW_ORIGINS": " http://localhost:8001 ,https://bayes.example.com,,",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.CORSOrigins, " ") != "http://localhost:8001 https://bayes.example.com" {
		t.Fatalf("origins %q", cfg.CORSOrigins)
	}
	if cfg, _ := service.LoadConfig(envconf.FromMap(nil)); cfg.CORSOrigins != nil {
		t.Fatalf("CORS is on by default: %q", cfg.CORSOrigins)
	}
}

func TestLoadConfigRejectsInvalidValues(t *testing.T) {
	tests := []struct{ name, value string }{
		{"PORT", "abc"},
		{"PORT", "0"},
		{"PORT", "70000"},
		{"PUBLISH_TIMEOUT", "2"},
		{"PUBLISH_TIMEOUT", "-1s"},
		{"PUBLISH_TIMEOUT", "1h"},
		{"SHUTDOWN_TIMEOUT", "soon"},
		{"SHUTDOWN_TIMEOUT", "0s"},
		{"LOG_LEVEL", "verbose"},
		{"REDIS_STREAM", "update model"},
		{"REDIS_URL", "http://:hunter2@cache:6379"},
		{"REDIS_PORT", "sixty"},
		{"REDIS_DB", "-1"},
		{"REDIS_USERNAME", "edb-api"}, // without REDIS_PASSWORD
		{"MAX_REQUEST_BYTES", "0"},
		{"MAX_REQUEST_BYTES", "4k"},
		{"MAX_REQUEST_BYTES", "1000000000"},
		{"RATE_LIMIT", "-1"},
		{"RATE_LIMIT", "fast"},
		{"RATE_LIMIT", "2.5"},
		{"RATE_LIMIT_BURST", "0"},
		{"RATE_LIMIT_BURST", "many"},
		{"CORS_ALLOW_ORIGINS", "localhost:8001"},
		{"CORS_ALLOW_ORIGINS", "http://localhost:8001/page"},
		{"CORS_ALLOW_ORIGINS", "http://ok:1, ftp://x"},
		{"STREAM_SHARDS", "0"},
		{"STREAM_SHARDS", "257"},
		{"STREAM_SHARDS", "three"},
		{"REDIS_WAIT_REPLICAS", "-1"},
		{"REDIS_WAIT_REPLICAS", "17"},
		{"REDIS_WAIT_REPLICAS", "all"},
		{"REDIS_CLUSTER_ADDRS", "10.0.0.1"},
		{"REDIS_CLUSTER_ADDRS", ","},
		{"PPROF_ADDR", "0.0.0.0:6060"}, // profiles are never served to the network
		{"PPROF_ADDR", ":6060"},
		{"PPROF_ADDR", "127.0.0.1"},
		{"PPROF_ADDR", "example.com:6060"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := service.LoadConfig(envconf.FromMap(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatalf("%s=%q accepted", tt.name, tt.value)
			}
			if !strings.Contains(err.Error(), tt.name) {
				t.Errorf("error %q does not name %s", err, tt.name)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the Redis password", err)
			}
		})
	}
}

// A deployment must say which Redis it means: a cluster and one server at
// once is refused, naming the variable.
func TestLoadConfigRefusesClusterAndServerAtOnce(t *testing.T) {
	_, err := service.LoadConfig(envconf.FromMap(map[string]string{
		"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000", "REDIS_URL": "redis://:hunter2@cache:6379/0",
	}))
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v, want REDIS_URL named without its password", err)
	}
}

func TestLoadConfigReportsEveryProblemAtOnce(t *testing.T) {
	_, err := service.LoadConfig(envconf.FromMap(map[string]string{"PORT": "abc", "LOG_LEVEL": "loud"}))
	if err == nil || !strings.Contains(err.Error(), "PORT") || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("error %v, want both PORT and LOG_LEVEL named", err)
	}
}
