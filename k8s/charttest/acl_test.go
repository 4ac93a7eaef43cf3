package charttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The Redis ACL users of services/platform/redisacl that log in, each with
// its key in the passwords Secret (the chart's or redis.auth.existingSecret),
// and the user each service runs as.
var (
	redisUsers    = map[string]string{"edb-api": "api-password", "edb-bayes": "bayes-password", "edb-admin": "admin-password"}
	componentUser = map[string]string{"api": "edb-api", "bayes": "edb-bayes"}

	// The rules' golden file, and the chart's copy that Redis loads.
	goldenACLFile = filepath.Join(repoRoot, "services", "platform", "redisacl", "testdata", "users.acl")
	chartACLFile  = filepath.Join(chartDir, "files", "redis", "users.acl")
	// The rules for a Redis Cluster, and the chart's copy operators load
	// into their cluster (NOTES.txt says how).
	goldenClusterACLFile = filepath.Join(repoRoot, "services", "platform", "redisacl", "testdata", "users-cluster.acl")
	chartClusterACLFile  = filepath.Join(chartDir, "files", "redis", "users-cluster.acl")
)

func passwordSecretName(r *release) string {
	if ex, _ := lookupValue(r.values, "redis.auth.existingSecret"); ex != nil && ex != "" {
		return ex.(string)
	}
	return fullname(r) + "-redis"
}

func aclSecretName(r *release) string { return fullname(r) + "-redis-acl" }

// aclFileArg is the path after redis-server's --aclfile, "" if none.
func aclFileArg(c *corev1.Container) string {
	args := append(append([]string{}, c.Command...), c.Args...)
	if i := slices.Index(args, "--aclfile"); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// renderedPasswords are the passwords by user from the chart's generated
// Secret; nil when an existing Secret holds them (not visible to a render).
func renderedPasswords(t *testing.T, r *release) map[string]string {
	t.Helper()
	if passwordSecretName(r) != fullname(r)+"-redis" {
		return nil
	}
	s := secret(r, passwordSecretName(r))
	if s == nil {
		t.Fatalf("no Secret %s", passwordSecretName(r))
	}
	pw := map[string]string{}
	for user, key := range redisUsers {
		if len(s.Data[key]) == 0 {
			t.Fatalf("Secret %s has no %s", s.Name, key)
		}
		pw[user] = string(s.Data[key])
	}
	return pw
}

// renderedACL is the ACL file as the chart renders it.
func renderedACL(t *testing.T, r *release) string {
	t.Helper()
	s := secret(r, aclSecretName(r))
	if s == nil {
		t.Fatalf("no Secret %s", aclSecretName(r))
	}
	return string(s.Data["users.acl"])
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// checkACL: Redis loads, read-only and readable by its user, a file that is
// the golden rules line by line, each user that logs in with " #<sha256 of
// its password>" appended. passwords nil means the render could not know
// them (an existing Secret without a cluster to look it up): then no line
// may carry a password, so nobody can log in rather than anyone.
func checkACL(t *testing.T, r *release, passwords map[string]string) {
	if onCluster(r) {
		// The users live on the cluster's nodes; the chart renders none.
		if secret(r, aclSecretName(r)) != nil {
			t.Errorf("ACL Secret %s rendered for an external Redis Cluster", aclSecretName(r))
		}
		return
	}
	sts := r.statefulSet(t, "redis")
	spec := sts.Spec.Template.Spec
	c := container(t, spec, "redis")
	file := aclFileArg(c)
	if file == "" || !path.IsAbs(file) {
		t.Fatalf("redis --aclfile %q, want an absolute path", file)
	}
	mount := mountAt(c, path.Dir(file))
	if mount == nil {
		t.Fatalf("nothing is mounted at %s, the directory of --aclfile", path.Dir(file))
	}
	if !mount.ReadOnly || mount.SubPath != "" {
		t.Errorf("ACL mount %+v: want read-only, without subPath (so a changed Secret reaches the file)", mount)
	}
	v := volume(spec, mount.Name)
	if v == nil || v.Secret == nil {
		t.Fatalf("ACL volume %s is not a Secret", mount.Name)
	}
	if v.Secret.SecretName != aclSecretName(r) {
		t.Errorf("ACL volume from Secret %s, want %s", v.Secret.SecretName, aclSecretName(r))
	}
	key, mode := path.Base(file), v.Secret.DefaultMode
	if len(v.Secret.Items) > 0 {
		key = ""
		for _, it := range v.Secret.Items {
			if it.Path == path.Base(file) {
				key = it.Key
				if it.Mode != nil {
					mode = it.Mode
				}
			}
		}
	}
	// Readable by the redis user (runAsUser 999, not root) through the
	// pod's fsGroup, which owns the volume's files, and by no one else.
	m := deref(mode, 0o644)
	psc := spec.SecurityContext
	if m&0o040 == 0 || psc == nil || psc.FSGroup == nil {
		t.Errorf("ACL file mode %#o with fsGroup %v: redis (uid %v) cannot read it", m, psc.FSGroup, psc.RunAsUser)
	}
	if m&0o007 != 0 {
		t.Errorf("ACL file mode %#o: open to other users", m)
	}
	s := secret(r, v.Secret.SecretName)
	if s == nil {
		t.Fatalf("ACL Secret %s is not rendered", v.Secret.SecretName)
	}
	if _, ok := s.Data[key]; !ok {
		t.Fatalf("ACL Secret %s has no key %q", s.Name, key)
	}
	checkACLContent(t, string(s.Data[key]), passwords)
}

var passwordHashRule = regexp.MustCompile(` #[0-9a-f]{64}$`)

func checkACLContent(t *testing.T, content string, passwords map[string]string) {
	t.Helper()
	rules := strings.Split(strings.TrimSuffix(readFile(t, goldenACLFile), "\n"), "\n")
	if !strings.HasSuffix(content, "\n") {
		t.Errorf("ACL file does not end with a newline")
	}
	got := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	if len(got) != len(rules) {
		t.Fatalf("ACL file has %d lines, the golden rules %d:\n%s", len(got), len(rules), content)
	}
	users := map[string]bool{}
	for i, rule := range rules {
		user := strings.Fields(rule)[1]
		users[user] = true
		want := rule
		if _, logsIn := redisUsers[user]; logsIn && passwords != nil {
			want += " #" + sha256Hex(passwords[user])
			if !passwordHashRule.MatchString(got[i]) {
				t.Errorf("line %d (%s) does not end in a password hash: %q", i+1, user, got[i])
			}
		}
		if got[i] != want {
			t.Errorf("ACL line %d:\n got %q\nwant %q", i+1, got[i], want)
		}
	}
	for user := range redisUsers {
		if !users[user] {
			t.Errorf("the golden rules have no user %s", user)
		}
	}
	// Off, but with its permissions: Redis 7.0 replays the AOF as the
	// default user (see services/platform/redisacl.DefaultOff).
	if !users["default"] || !strings.Contains(content, "user default reset off ~* &* +@all\n") {
		t.Errorf("the ACL file does not switch the default user off")
	}
	for user, pw := range passwords {
		if strings.Contains(content, pw) {
			t.Errorf("the ACL file holds %s's password in clear", user)
		}
	}
}

// The chart's copy of the rules is the golden file (services/platform/
// redisacl checks the same from its side).
func TestChartACLRulesAreTheGoldenFile(t *testing.T) {
	for chartFile, golden := range map[string]string{chartACLFile: goldenACLFile, chartClusterACLFile: goldenClusterACLFile} {
		if readFile(t, chartFile) != readFile(t, golden) {
			t.Errorf("%s differs from %s: copy the golden file", chartFile, golden)
		}
	}
}

// The rules name the default stream's keys and channel: another name would
// start services that Redis denies, so the chart refuses it.
func TestACLRulesRefuseAnotherStream(t *testing.T) {
	for vals, want := range map[string][]string{
		"redis: {stream: observations}": {"redis.stream", `"observations"`, `"update_model"`, "users.acl"},
		"bayes: {channel: events}":      {"bayes.channel", `"events"`, `"update_model"`, "users.acl"},
	} {
		_, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, vals)})
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want a failure naming %s", vals, err, w)
			}
		}
	}
	if _, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, "redis: {stream: update_model}\nbayes: {channel: update_model}")}); err != nil {
		t.Errorf("the default names, set explicitly: %v", err)
	}
	// The same on an external cluster, whose rules name them too.
	const cluster = "redis: {auth: {existingSecret: rc}, cluster: {addrs: [rc-0:6379]}%s}\n%s"
	for vals, want := range map[string][]string{
		fmt.Sprintf(cluster, ", stream: observations", ""):   {"redis.stream", `"observations"`, `"update_model"`, "users-cluster.acl"},
		fmt.Sprintf(cluster, "", "bayes: {channel: events}"): {"bayes.channel", `"events"`, `"update_model"`, "users-cluster.acl"},
	} {
		_, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, vals)})
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("cluster and %s: err = %v, want a failure naming %s", vals, err, w)
			}
		}
	}
}

// redis.auth.existingSecret: the chart renders no passwords of its own,
// hashes the existing ones into the ACL file, and points every user at its
// key there.
func TestExistingSecretHonoured(t *testing.T) {
	// Characters that mean something in an ACL line; hashed, they cannot.
	pw := map[string]string{"edb-api": "api pass >x", "edb-bayes": `bayes "#2"`, "edb-admin": "admin ~* +@all\n"}
	data := map[string][]byte{}
	for user, key := range redisUsers {
		data[key] = []byte(pw[user])
	}
	opts := renderOpts{name: "prod", namespace: "bayes-prod", values: valuesFrom(t, "redis: {auth: {existingSecret: redis-credentials}}"),
		clients: fakeCluster(t, secretObject("bayes-prod", "redis-credentials", data))}
	r := render(t, opts)
	if passwordSecretName(r) != "redis-credentials" {
		t.Fatalf("passwordSecretName = %s", passwordSecretName(r))
	}
	checkACL(t, r, pw)
	checkEnv(t, r)
	checkRedis(t, r)
	checkSecretRefs(t, r)
	if strings.Contains(r.notes, "generated once") {
		t.Errorf("NOTES claim generated passwords with an existing Secret:\n%s", r.notes)
	}

	// A key missing from the existing Secret is an error naming it.
	delete(data, "bayes-password")
	opts.clients = fakeCluster(t, secretObject("bayes-prod", "redis-credentials", data))
	_, _, err := renderRaw(t, opts)
	if err == nil || !strings.Contains(err.Error(), "redis-credentials") || !strings.Contains(err.Error(), "bayes-password") {
		t.Errorf("existing Secret without bayes-password: err = %v, want a failure naming the Secret and the key", err)
	}
}

// The rendered ACL file in a real redis-server started with the chart's own
// arguments: the probes pass as edb-admin, each service's password opens
// its own user only, and the default user is off.
func TestRenderedACLFileWorksInRedis(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-cli", "sh"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found on PATH: install it with `apt-get install -y redis-server` (or run .ci/run)", bin)
		}
	}
	port := freePort(t)
	r := render(t, renderOpts{values: valuesFrom(t, fmt.Sprintf("redis: {port: %d}", port))})
	pw := renderedPasswords(t, r)
	c := container(t, r.statefulSet(t, "redis").Spec.Template.Spec, "redis")

	// The container's command line, with its data directory and ACL file
	// moved into a temporary directory.
	dir := t.TempDir()
	data, acl := filepath.Join(dir, "data"), filepath.Join(dir, "users.acl")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(acl, []byte(renderedACL(t, r)), 0o400); err != nil {
		t.Fatal(err)
	}
	args := slices.Clone(c.Args)
	for i, a := range args {
		switch a {
		case "/data":
			args[i] = data
		case aclFileArg(c):
			args[i] = acl
		}
	}
	logFile := filepath.Join(dir, "redis.log")
	args = append(args, "--bind", "127.0.0.1", "--save", "", "--logfile", logFile)
	server := exec.Command(c.Command[0], args...)
	var early bytes.Buffer // what redis-server says before its log file opens
	server.Stdout, server.Stderr = &early, &early
	if err := server.Start(); err != nil {
		t.Fatalf("starting %s: %v", c.Command[0], err)
	}
	exited := make(chan struct{})
	go func() { _ = server.Wait(); close(exited) }()
	t.Cleanup(func() { _ = server.Process.Kill(); <-exited })

	// probe runs a probe's command as the kubelet would, with REDISCLI_AUTH
	// as the container has it.
	probe := func(p *corev1.Probe, auth string) error {
		cmd := exec.Command(p.Exec.Command[0], p.Exec.Command[1:]...)
		cmd.Env = append(envWithout("REDISCLI_AUTH"), "REDISCLI_AUTH="+auth)
		return cmd.Run()
	}
	logs := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	deadline := time.Now().Add(10 * time.Second)
	for err := probe(c.ReadinessProbe, pw["edb-admin"]); err != nil; err = probe(c.ReadinessProbe, pw["edb-admin"]) {
		select {
		case <-exited:
			t.Fatalf("redis-server refused the chart's arguments or ACL file: %s%s", early.String(), logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness probe still failing after 10s: %v\n%s", err, logs())
		}
		time.Sleep(20 * time.Millisecond) // poll interval; the deadline bounds it
	}
	if err := probe(c.LivenessProbe, pw["edb-admin"]); err != nil {
		t.Errorf("liveness probe fails: %v", err)
	}
	if probe(c.ReadinessProbe, pw["edb-api"]) == nil {
		t.Errorf("readiness probe passes with a password that is not edb-admin's")
	}

	cli := func(user, password string, cmd ...string) string {
		args := []string{"-h", "127.0.0.1", "-p", fmt.Sprint(port)}
		if user != "" {
			args = append(args, "--user", user)
		}
		x := exec.Command("redis-cli", append(args, cmd...)...)
		x.Env = envWithout("REDISCLI_AUTH")
		if password != "" {
			x.Env = append(x.Env, "REDISCLI_AUTH="+password)
		}
		out, _ := x.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	for _, user := range slices.Sorted(maps.Keys(redisUsers)) {
		if out := cli(user, pw[user], "ping"); out != "PONG" {
			t.Errorf("%s with its password from the Secret: PING -> %q", user, out)
		}
		for other := range redisUsers {
			if other != user && strings.Contains(cli(user, pw[other], "ping"), "PONG") {
				t.Errorf("%s logs in with %s's password", user, other)
			}
		}
	}
	if out := cli("", "", "ping"); !strings.Contains(out, "NOAUTH") {
		t.Errorf("PING without a user: %q, want NOAUTH (default user off)", out)
	}
	if out := cli("edb-api", pw["edb-api"], "hgetall", "update_model:model:default"); !strings.Contains(out, "NOPERM") {
		t.Errorf("edb-api reads the model: %q, want NOPERM", out)
	}
	if out := cli("edb-bayes", pw["edb-bayes"], "hmget", "update_model:model:default", "n"); strings.Contains(out, "ERR") || strings.Contains(out, "NOPERM") {
		t.Errorf("edb-bayes cannot read the model: %q", out)
	}
}

func envWithout(name string) []string {
	return slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, name+"=") })
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
