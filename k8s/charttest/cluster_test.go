package charttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// On an external Redis Cluster the chart renders api and bayes only, each
// told the seed nodes, the shards and (the api) the replicas to wait for,
// and its own user's password from the existing Secret. TestInvariants'
// cluster set checks the invariants; this, the values as given.
func TestClusterValues(t *testing.T) {
	r := render(t, renderOpts{name: "edb", values: valuesFrom(t, clusterValues)})
	if len(r.statefulSets) != 1 || len(r.deployments) != 1 || len(r.netpols) != 0 || len(r.services) != 3 {
		t.Errorf("rendered %d StatefulSets, %d Deployments, %d NetworkPolicies, %d Services; want bayes', the api's, none, and api, bayes and bayes' headless",
			len(r.statefulSets), len(r.deployments), len(r.netpols), len(r.services))
	}
	seeds := "redis-cluster-0.redis-cluster-headless:6379,redis-cluster-1.redis-cluster-headless:6379,redis-cluster-2.redis-cluster-headless:6379"
	for comp, want := range map[string]map[string]string{
		"api":   {"REDIS_CLUSTER_ADDRS": seeds, "REDIS_USERNAME": "edb-api", "STREAM_SHARDS": "3", "REDIS_WAIT_REPLICAS": "1", "REDIS_STREAM": "update_model"},
		"bayes": {"REDIS_CLUSTER_ADDRS": seeds, "REDIS_USERNAME": "edb-bayes", "STREAM_SHARDS": "3", "REDIS_STREAM": "update_model"},
	} {
		c := container(t, r.component(t, comp).template.Spec, comp)
		for name, v := range want {
			if got := envValue(c, name); got != v {
				t.Errorf("%s: %s=%q, want %q", comp, name, got, v)
			}
		}
		if ref := c.Env[slicesIndex(c.Env, "REDIS_PASSWORD")].ValueFrom.SecretKeyRef; ref.Name != "redis-cluster-credentials" || ref.Key != comp+"-password" {
			t.Errorf("%s: REDIS_PASSWORD from %s/%s, want redis-cluster-credentials/%s-password", comp, ref.Name, ref.Key, comp)
		}
	}
	// The helm test hook still runs, from the Redis image (busybox and
	// wget), which the release no longer runs as a server.
	if len(r.pods) != 1 || !strings.HasPrefix(r.pods[0].Spec.Containers[0].Image, "docker.io/library/redis:") {
		t.Errorf("helm test hook: %d pods, want one running the Redis image", len(r.pods))
	}

	// A cluster without ACL users (Bitnami's, one password): no
	// REDIS_USERNAME, the default user, and no ACL instructions.
	d := render(t, renderOpts{values: mergeValues(valuesFrom(t, clusterValues), valuesFrom(t, `redis: {cluster: {users: {api: "", bayes: ""}}}`))})
	for _, comp := range []string{"api", "bayes"} {
		if e := envVar(container(t, d.component(t, comp).template.Spec, comp), "REDIS_USERNAME"); e != nil {
			t.Errorf("%s: REDIS_USERNAME=%q with redis.cluster.users.%s empty; want the default user", comp, e.Value, comp)
		}
	}
	if !strings.Contains(d.notes, "the default user") || strings.Contains(d.notes, "ACL SETUSER") {
		t.Errorf("NOTES.txt for a cluster without ACL users:\n%s", d.notes)
	}
}

// slicesIndex is the index of the variable name in env, -1 if absent.
func slicesIndex(env []corev1.EnvVar, name string) int {
	for i, e := range env {
		if e.Name == name {
			return i
		}
	}
	return -1
}

// What cannot work is refused at render time, naming the value: shards or
// replicas the chart's own Redis cannot have, a cluster without the Secret
// of its passwords, or a Secret lacking one.
func TestClusterValuesRefused(t *testing.T) {
	for vals, want := range map[string]string{
		"streamShards: 2":                           "streamShards is 2",
		"api: {redisWaitReplicas: 1}":               "api.redisWaitReplicas is 1",
		"redis: {cluster: {addrs: [rc-0:6379]}}":    "redis.auth.existingSecret",
		"redis: {cluster: {addrs: ['[::1]:7000']}}": "redis.auth.existingSecret", // an IPv6 seed passes the schema
	} {
		_, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, vals)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want a failure saying %q", vals, err, want)
		}
	}
	vals := valuesFrom(t, clusterValues)
	opts := renderOpts{namespace: "bayes", values: vals, clients: fakeCluster(t, secretObject("bayes", "redis-cluster-credentials",
		map[string][]byte{"api-password": []byte("a-password")}))}
	_, _, err := renderRaw(t, opts)
	if err == nil || !strings.Contains(err.Error(), "redis-cluster-credentials") || !strings.Contains(err.Error(), "bayes-password") {
		t.Errorf("existing Secret without bayes-password: err = %v, want a failure naming the Secret and the key", err)
	}
	// Both services' keys are enough: the chart has no use for an admin's.
	opts.clients = fakeCluster(t, secretObject("bayes", "redis-cluster-credentials",
		map[string][]byte{"api-password": []byte("a-password"), "bayes-password": []byte("b-password")}))
	if _, _, err := renderRaw(t, opts); err != nil {
		t.Errorf("existing Secret with api-password and bayes-password: %v", err)
	}
}

// The commands NOTES.txt prints to load the users into a cluster's node,
// run as printed (on the chart's own users-cluster.acl, with a node's
// address and an admin put in) against a real redis-server: both users
// exist afterwards, log in with their passwords, and have the cluster
// rules (ACL DRYRUN of a shard's commands).
func TestClusterNotesLoadTheUsers(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-cli", "sh", "sed"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found on PATH: install it with `apt-get install -y redis-server` (or run .ci/run)", bin)
		}
	}
	r := render(t, renderOpts{values: valuesFrom(t, clusterValues)})
	lines := regexp.MustCompile(`(?m)^\s*(\(set -f; redis-cli .*ACL SETUSER .*\))\s*$`).FindAllStringSubmatch(r.notes, -1)
	if len(lines) != 2 {
		t.Fatalf("NOTES.txt has %d ACL SETUSER commands, want 2 (api and bayes):\n%s", len(lines), r.notes)
	}

	dir := t.TempDir()
	port := freePort(t)
	server := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--logfile", filepath.Join(dir, "redis.log"), "--user", "admin", "on", ">admin-pw", "~*", "&*", "+@all")
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = server.Wait(); close(exited) }()
	t.Cleanup(func() { _ = server.Process.Kill(); <-exited })
	cli := func(user, password string, args ...string) string {
		full := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "--user", user}, args...)
		x := exec.Command("redis-cli", full...)
		x.Env = append(envWithout("REDISCLI_AUTH"), "REDISCLI_AUTH="+password)
		out, _ := x.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	deadline := time.Now().Add(10 * time.Second)
	for cli("admin", "admin-pw", "ping") != "PONG" {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server does not answer")
		}
		time.Sleep(20 * time.Millisecond) // poll interval; the deadline bounds it
	}

	for _, l := range lines {
		cmd := strings.NewReplacer("-h NODE", "-h 127.0.0.1", "-p PORT", "-p "+strconv.Itoa(port), "--user ADMIN", "--user admin").Replace(l[1])
		x := exec.Command("sh", "-c", cmd)
		x.Dir = filepath.Join(chartDir, "files", "redis")
		x.Env = append(envWithout("REDISCLI_AUTH"), "REDISCLI_AUTH=admin-pw", "API_PASSWORD=api pw", "BAYES_PASSWORD=bayes-pw")
		if out, err := x.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "OK" {
			t.Fatalf("%s: %v %s", cmd, err, out)
		}
	}
	for user, pw := range map[string]string{"edb-api": "api pw", "edb-bayes": "bayes-pw"} {
		if out := cli(user, pw, "ping"); out != "PONG" {
			t.Errorf("%s with its password: PING -> %q", user, out)
		}
	}
	for user, cmd := range map[string][]string{
		"edb-api":   {"XADD", "update_model:2", "*", "trial", "w"},
		"edb-bayes": {"HINCRBY", "{update_model:2}:model:m", "n", "1"},
	} {
		if out := cli("admin", "admin-pw", append([]string{"ACL", "DRYRUN", user}, cmd...)...); out != "OK" {
			t.Errorf("%s may not %v after loading the NOTES' rules: %s", user, cmd, out)
		}
	}
	if out := cli("admin", "admin-pw", "ACL", "DRYRUN", "edb-api", "HGET", "{update_model:2}:model:m", "n"); out == "OK" {
		t.Error("edb-api may read a model's state after loading the NOTES' rules")
	}
}
