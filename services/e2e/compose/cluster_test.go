package compose_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// The cluster profile (docker compose --profile cluster up): six Redis
// nodes, the one-shot job that joins them into a cluster, and the api and
// bayes on it.
const (
	clusterProfile = "cluster"
	clusterCreate  = "redis-cluster-create"
	clusterNetwork = "redis-cluster"
	clusterShards  = "3"
)

var (
	clusterNodes = []string{"redis-cluster-1", "redis-cluster-2", "redis-cluster-3", "redis-cluster-4", "redis-cluster-5", "redis-cluster-6"}
	// The cluster's api and bayes, by the default service whose binary,
	// image and settings they share.
	clusterServices = map[string]string{"api-publisher-cluster": "api-publisher", "bayes-subscriber-cluster": "bayes-subscriber"}
	// The services `docker compose up` starts: the default profile, which
	// the cluster profile must leave as it is.
	defaultServices = []string{"api-publisher", "bayes-subscriber", "grafana", "graphs-init", "prometheus", "redis"}
)

// TestComposeFileDefaultProfile: `docker compose up` starts the services it
// always started and nothing of the cluster profile.
func TestComposeFileDefaultProfile(t *testing.T) {
	p := loadProject(t, nil)
	var got []string
	for name, s := range p.Services {
		if len(s.Profiles) == 0 {
			got = append(got, name)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, defaultServices) {
		t.Errorf("services without a profile (docker compose up) are %v, want %v", got, defaultServices)
	}
	for _, name := range append(append([]string{clusterCreate}, clusterNodes...), "api-publisher-cluster", "bayes-subscriber-cluster") {
		if s := service(t, p, name); !slices.Equal(s.Profiles, []string{clusterProfile}) {
			t.Errorf("%s: profiles %v, want [%s]", name, s.Profiles, clusterProfile)
		}
	}
}

// aclLines are the user lines of an ACL file.
func aclLines(t *testing.T, file string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(readFile(t, file), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// userLines splits a redis-server command line into its --user lines
// (redis-server reads every argument after --user, up to the next --option,
// as one config line), each without its password, and the passwords.
func userLines(command []string) (lines []string, passwords map[string]string) {
	passwords = map[string]string{}
	for i, a := range command {
		if a != "--user" {
			continue
		}
		var fields []string
		for _, f := range command[i+1:] {
			if strings.HasPrefix(f, "--") {
				break
			}
			fields = append(fields, f)
		}
		if n := len(fields); n > 0 && strings.HasPrefix(fields[n-1], ">") {
			passwords[fields[0]] = strings.TrimPrefix(fields[n-1], ">")
			fields = fields[:n-1]
		}
		lines = append(lines, "user "+strings.Join(fields, " "))
	}
	return lines, passwords
}

// option is the value after a redis-server --name in command ("" if none;
// the last one wins, as in redis-server).
func option(command []string, name string) string {
	v := ""
	for i, a := range command {
		if a == name && i+1 < len(command) {
			v = command[i+1]
		}
	}
	return v
}

// TestComposeFileClusterNodes: each node is the default Redis (image, AOF,
// ACL users with the default user off) in cluster mode, with the users of
// the cluster rules (services/platform/redisacl/testdata/users-cluster.acl)
// and the default profile's passwords, its data on a volume of its own and
// a fixed address on the cluster's network.
func TestComposeFileClusterNodes(t *testing.T) {
	p := loadProject(t, nil)
	redis := service(t, p, redisService)
	_, passwords := userLines(redis.Command)
	want := aclLines(t, filepath.Join("..", "..", "platform", "redisacl", "testdata", "users-cluster.acl"))

	network, ok := p.Networks[clusterNetwork]
	if !ok || len(network.Ipam.Config) != 1 {
		t.Fatalf("network %s: %+v, want one with a fixed subnet", clusterNetwork, network)
	}
	_, subnet, err := net.ParseCIDR(network.Ipam.Config[0].Subnet)
	if err != nil {
		t.Fatalf("network %s subnet: %v", clusterNetwork, err)
	}
	addrs := map[string]string{}
	volumes := map[string]bool{}
	for _, name := range clusterNodes {
		s := service(t, p, name)
		if s.Image != redis.Image {
			t.Errorf("%s: image %s, want the default Redis' %s", name, s.Image, redis.Image)
		}
		cmd := strings.Join(s.Command, " ")
		for _, want := range []string{"redis-server ", "--cluster-enabled yes", "--appendonly yes", "--appendfsync everysec", "--cluster-config-file nodes.conf", "--dir /data", "--masteruser edb-admin"} {
			if !strings.Contains(cmd, want) {
				t.Errorf("%s: command %q lacks %q", name, cmd, want)
			}
		}
		got, pw := userLines(s.Command)
		if !slices.Equal(got, want) {
			t.Errorf("%s: --user rules differ from users-cluster.acl:\n got %q\nwant %q", name, got, want)
		}
		if _, on := pw["default"]; on {
			t.Errorf("%s: the default user has a password; it must be off", name)
		}
		for _, u := range []string{"edb-api", "edb-bayes", "edb-admin"} {
			if pw[u] == "" || pw[u] != passwords[u] {
				t.Errorf("%s: %s's password is not the default Redis' one", name, u)
			}
		}
		// A replica logs in to its master as edb-admin: the default user
		// is off there too.
		if got := option(s.Command, "--masterauth"); got != passwords["edb-admin"] {
			t.Errorf("%s: --masterauth is not edb-admin's password", name)
		}
		if v, _ := envValue(s, "REDISCLI_AUTH"); v != passwords["edb-admin"] {
			t.Errorf("%s: REDISCLI_AUTH is not edb-admin's password: the health check would fail", name)
		}
		if hc := strings.Join(s.HealthCheck.Test, " "); !strings.Contains(hc, "redis-cli --user edb-admin ping") {
			t.Errorf("%s: health check %q is not a PING as edb-admin", name, hc)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
		}
		if len(s.Ports) != 0 {
			t.Errorf("%s publishes %+v on the host", name, s.Ports)
		}
		var data string
		for _, v := range s.Volumes {
			if v.Target == "/data" && v.Type == types.VolumeTypeVolume {
				data = v.Source
			}
		}
		if _, named := p.Volumes[data]; !named || volumes[data] {
			t.Errorf("%s: /data is not a named volume of its own: %+v", name, s.Volumes)
		}
		volumes[data] = true
		var ip net.IP
		if n := s.Networks[clusterNetwork]; n != nil {
			ip = net.ParseIP(n.Ipv4Address)
		}
		if ip == nil || !subnet.Contains(ip) {
			t.Errorf("%s: no fixed address in %s on network %s: %+v", name, subnet, clusterNetwork, s.Networks)
			continue
		}
		if other, dup := addrs[ip.String()]; dup {
			t.Errorf("%s and %s share the address %s", name, other, ip)
		}
		addrs[ip.String()] = name
	}

	// The job that joins them: once they answer, every node, one replica
	// per master.
	c := service(t, p, clusterCreate)
	if c.Image != redis.Image || c.Restart != types.RestartPolicyNo {
		t.Errorf("%s: image %s restart %q, want the Redis image as a one-shot job", clusterCreate, c.Image, c.Restart)
	}
	for _, name := range clusterNodes {
		if dep, ok := c.DependsOn[name]; !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on %s %+v, want service_healthy", clusterCreate, name, dep)
		}
	}
	script := strings.Join(append(slices.Clone(c.Entrypoint), c.Command...), " ")
	for _, want := range []string{"--cluster create $NODES", "--cluster-replicas 1", "--cluster-yes", "--user edb-admin", "cluster_state:ok"} {
		if !strings.Contains(script, want) {
			t.Errorf("%s: script lacks %q:\n%s", clusterCreate, want, script)
		}
	}
	nodes, _ := envValue(c, "NODES")
	var got []string
	for _, a := range strings.Fields(nodes) {
		host, port, err := net.SplitHostPort(a)
		if err != nil || port != "6379" || addrs[host] == "" {
			t.Errorf("%s: NODES entry %q is not a node's fixed address and port 6379", clusterCreate, a)
			continue
		}
		got = append(got, addrs[host])
	}
	slices.Sort(got)
	if !slices.Equal(got, clusterNodes) {
		t.Errorf("%s: NODES %q name %v, want every node once", clusterCreate, nodes, got)
	}
	if v, _ := envValue(c, "REDISCLI_AUTH"); v != passwords["edb-admin"] {
		t.Errorf("%s: REDISCLI_AUTH is not edb-admin's password", clusterCreate)
	}
	if _, ok := c.Networks[clusterNetwork]; !ok {
		t.Errorf("%s is not on network %s", clusterCreate, clusterNetwork)
	}
}

// TestComposeFileClusterServices: the cluster's api and bayes are the
// default ones' images and binaries, reach the six nodes by
// REDIS_CLUSTER_ADDRS as their own ACL users, agree on the number of
// shards, and the api waits for a replica; they start once the cluster is
// made, on ports of their own.
func TestComposeFileClusterServices(t *testing.T) {
	p := loadProject(t, nil)
	_, passwords := userLines(service(t, p, redisService).Command)
	var seeds []string
	for _, n := range clusterNodes {
		seeds = append(seeds, n+":6379")
	}
	shards := map[string]string{}
	published := map[string]string{}
	for name, def := range clusterServices {
		s, d := service(t, p, name), service(t, p, def)
		b := binaries[def]
		if s.Image != d.Image || s.Build == nil || d.Build == nil || s.Build.Dockerfile != d.Build.Dockerfile || s.Build.Context != d.Build.Context {
			t.Errorf("%s: image %s build %+v, want %s's image and build", name, s.Image, s.Build, def)
		}
		for key := range s.Environment {
			if !slices.Contains(b.env, key) {
				t.Errorf("%s sets %s, which %s does not read (it reads %v)", name, key, b.dir, b.env)
			}
		}
		for _, key := range []string{"REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_DB"} {
			if _, set := envValue(s, key); set {
				t.Errorf("%s sets %s: with REDIS_CLUSTER_ADDRS that is a start-up error", name, key)
			}
		}
		if v, _ := envValue(s, "REDIS_CLUSTER_ADDRS"); !slices.Equal(strings.Split(v, ","), seeds) {
			t.Errorf("%s: REDIS_CLUSTER_ADDRS=%q, want every node: %s", name, v, strings.Join(seeds, ","))
		}
		user, _ := envValue(d, "REDIS_USERNAME")
		if v, _ := envValue(s, "REDIS_USERNAME"); v != user {
			t.Errorf("%s: REDIS_USERNAME=%q, want %s's user %s", name, v, def, user)
		}
		if v, _ := envValue(s, "REDIS_PASSWORD"); v == "" || v != passwords[user] {
			t.Errorf("%s: REDIS_PASSWORD is not %s's password", name, user)
		}
		shards[name], _ = envValue(s, "STREAM_SHARDS")
		if _, ok := s.Networks[clusterNetwork]; !ok {
			t.Errorf("%s is not on network %s, where the nodes' addresses are", name, clusterNetwork)
		}
		if dep, ok := s.DependsOn[clusterCreate]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: depends_on %s %+v, want service_completed_successfully", name, clusterCreate, dep)
		}
		if _, ok := s.DependsOn[redisService]; ok {
			t.Errorf("%s depends on the default profile's redis", name)
		}
		port := b.defaultPort
		if v, ok := envValue(s, "PORT"); ok {
			port, _ = strconv.Atoi(v)
		}
		if len(s.Ports) != 1 || int(s.Ports[0].Target) != port {
			t.Errorf("%s: ports %+v, want one mapping to container port %d", name, s.Ports, port)
		} else {
			published[name] = s.Ports[0].Published
			if s.Ports[0].Published == d.Ports[0].Published {
				t.Errorf("%s is published on %s's host port %s: both profiles cannot run at once", name, def, d.Ports[0].Published)
			}
		}
		if hc := s.HealthCheck; hc == nil || !slices.Equal(hc.Test, d.HealthCheck.Test) {
			t.Errorf("%s: health check %+v, want %s's", name, hc, def)
		}
		if v, _ := envValue(s, "CONSUMER_NAME"); def == "bayes-subscriber" && v == "" {
			t.Errorf("%s: no CONSUMER_NAME; a re-created container would not find its pending entries", name)
		}
	}
	api, bayes := service(t, p, "api-publisher-cluster"), service(t, p, "bayes-subscriber-cluster")
	if shards["api-publisher-cluster"] != clusterShards || shards["bayes-subscriber-cluster"] != clusterShards {
		t.Errorf("STREAM_SHARDS: %v, want %s for both (they must agree; one shard per master)", shards, clusterShards)
	}
	if v, _ := envValue(api, "REDIS_WAIT_REPLICAS"); v != "1" {
		t.Errorf("api-publisher-cluster: REDIS_WAIT_REPLICAS=%q, want 1 (each master has one replica)", v)
	}
	// The live page's buttons and CORS: bayes' page calls this api.
	if v, _ := envValue(bayes, "API_PUBLIC_URL"); v != "http://localhost:"+published["api-publisher-cluster"] {
		t.Errorf("bayes-subscriber-cluster: API_PUBLIC_URL=%q, want the cluster api's host port %s", v, published["api-publisher-cluster"])
	}
	if v, _ := envValue(api, "CORS_ALLOW_ORIGINS"); !strings.Contains(v, "http://localhost:"+published["bayes-subscriber-cluster"]) {
		t.Errorf("api-publisher-cluster: CORS_ALLOW_ORIGINS=%q does not allow the cluster bayes' page", v)
	}
	// Plots: inside the mounted ./graphs, made writable by graphs-init.
	dir, _ := envValue(bayes, graphsEnv)
	source := bindSource(t, bayes, "/graphs")
	if !strings.HasPrefix(dir, "/graphs/") || source != filepath.Join(repoRoot(t), "graphs") {
		t.Errorf("bayes-subscriber-cluster: %s=%q with /graphs from %s, want a folder under the mounted ./graphs", graphsEnv, dir, source)
	}
	if dep, ok := bayes.DependsOn[graphsInit]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("bayes-subscriber-cluster: depends_on %s %+v, want service_completed_successfully", graphsInit, dep)
	}
}

// TestComposeClusterProfileOnLoopback runs the cluster profile's own
// commands without Docker: six redis-server with a node's command line
// (moved to loopback ports and temporary directories) and the create job's
// script against them. The cluster comes up with a replica per master and
// the ACL users; the script run again leaves it as it is; the api's user
// may append to a shard and wait for a replica, and nothing else.
func TestComposeClusterProfileOnLoopback(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-cli", "sh"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found on PATH: install it with `apt-get install -y redis-server` (or run .ci/run)", bin)
		}
	}
	p := loadProject(t, nil)
	node := service(t, p, clusterNodes[0])
	create := service(t, p, clusterCreate)
	_, passwords := userLines(node.Command)

	var addrs []string
	for i := range clusterNodes {
		dir := t.TempDir()
		port, bus := freePort(t), freePort(t)
		// redis-server changes into --dir as it reads it: the data folder
		// is replaced, not overridden by a later --dir.
		args := slices.Clone(node.Command[1:])
		if i := slices.Index(args, "--dir"); i >= 0 && i+1 < len(args) {
			args[i+1] = dir
		}
		args = append(args, "--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus),
			"--bind", "127.0.0.1", "--save", "", "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log"))
		cmd := exec.Command(node.Command[0], args...)
		var early strings.Builder // what redis-server says before its log file opens
		cmd.Stdout, cmd.Stderr = &early, &early
		if err := cmd.Start(); err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		addr := "127.0.0.1:" + strconv.Itoa(port)
		addrs = append(addrs, addr)
		deadline := time.Now().Add(10 * time.Second)
		for redisCLI(t, addr, "edb-admin", passwords["edb-admin"], "ping") != "PONG" {
			select {
			case <-exited:
				log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
				t.Fatalf("node %d refused its command line: %s%s", i+1, early.String(), log)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d does not answer PING as edb-admin", i+1)
			}
			time.Sleep(20 * time.Millisecond) // poll interval; the deadline bounds it
		}
	}
	if out := redisCLI(t, addrs[0], "", "", "ping"); !strings.Contains(out, "NOAUTH") {
		t.Errorf("PING without a user: %q, want NOAUTH (default user off)", out)
	}

	run := func() string {
		t.Helper()
		cmd := exec.Command(create.Entrypoint[0], append(create.Entrypoint[1:], create.Command...)...)
		auth, _ := envValue(create, "REDISCLI_AUTH")
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+auth, "NODES="+strings.Join(addrs, " "))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", clusterCreate, err, out)
		}
		return string(out)
	}
	if out := run(); !strings.Contains(out, "cluster ok") || strings.Contains(out, "already") {
		t.Fatalf("first run of %s did not make the cluster:\n%s", clusterCreate, out)
	}
	if out := run(); !strings.Contains(out, "already form the cluster") || !strings.Contains(out, "cluster ok") {
		t.Fatalf("second run of %s (a restart of the profile) did not leave the cluster as it was:\n%s", clusterCreate, out)
	}
	masters := 0
	for _, a := range addrs {
		info := redisCLI(t, a, "edb-admin", passwords["edb-admin"], "info", "replication")
		switch {
		case strings.Contains(info, "role:master"):
			masters++
			if !strings.Contains(info, "connected_slaves:1") {
				t.Errorf("master %s: %s, want one replica", a, info)
			}
		case !strings.Contains(info, "master_link_status:up"):
			t.Errorf("replica %s is not linked to its master: %s", a, info)
		}
	}
	if masters != 3 {
		t.Errorf("%d masters, want 3", masters)
	}

	// The api's user on shard 2's stream, following the redirection to
	// its master (-c), then WAIT there; and not the state.
	if out := redisCLI(t, addrs[0], "edb-api", passwords["edb-api"], "-c", "xadd", "update_model:2", "*", "trial", "w"); !strings.Contains(out, "-") || strings.Contains(out, "ERR") || strings.Contains(out, "NOPERM") {
		t.Errorf("edb-api XADD update_model:2: %q", out)
	}
	slot := redisCLI(t, addrs[0], "edb-admin", passwords["edb-admin"], "cluster", "keyslot", "update_model:2")
	waited := 0
	for _, a := range addrs {
		// WAIT on the master of that slot: it has one replica.
		if redisCLI(t, a, "edb-admin", passwords["edb-admin"], "cluster", "countkeysinslot", slot) != "1" ||
			!strings.HasPrefix(redisCLI(t, a, "edb-admin", passwords["edb-admin"], "role"), "master") {
			continue
		}
		waited++
		if out := redisCLI(t, a, "edb-api", passwords["edb-api"], "wait", "1", "5000"); out != "1" {
			t.Errorf("edb-api WAIT 1 on %s: %q, want 1", a, out)
		}
	}
	if waited != 1 {
		t.Errorf("%d masters hold update_model:2, want 1", waited)
	}
	if out := redisCLI(t, addrs[0], "edb-api", passwords["edb-api"], "-c", "hgetall", "{update_model:2}:model:m"); !strings.Contains(out, "NOPERM") {
		t.Errorf("edb-api HGETALL of a model's state: %q, want NOPERM", out)
	}
	if out := redisCLI(t, addrs[0], "edb-bayes", passwords["edb-bayes"], "-c", "set", "{update_model}:shards", clusterShards, "nx"); out != "OK" {
		t.Errorf("edb-bayes SET NX of the shard count: %q", out)
	}
}

// redisCLI runs redis-cli against addr as user (none: no login), the password
// in REDISCLI_AUTH, and returns its trimmed output.
func redisCLI(t *testing.T, addr, user, password string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	full := []string{"-h", host, "-p", port}
	if user != "" {
		full = append(full, "--user", user)
	}
	x := exec.Command("redis-cli", append(full, args...)...)
	x.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "REDISCLI_AUTH=") })
	if password != "" {
		x.Env = append(x.Env, "REDISCLI_AUTH="+password)
	}
	out, _ := x.CombinedOutput()
	return strings.TrimSpace(string(out))
}
