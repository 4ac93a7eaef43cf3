package compose_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/e2e/compose/standin"
)

// TestComposeClusterStack runs the cluster profile's Redis part in Docker:
// the six nodes on their fixed addresses, the create job, then the whole
// profile taken down and brought up again on the same volumes, as after a
// host's restart. The cluster must come back by itself (the nodes find each
// other at the addresses nodes.conf recorded) and the job must see it made
// rather than fail. api and bayes on the cluster are not run here: the
// loopback cluster tests of services/e2e run them against the same users.
// Docker and the compose CLI as for TestComposeStack; one to two minutes.
func TestComposeClusterStack(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the compose stack is not run")
	}
	unavailable := giveUp(t, "the cluster profile was not run")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		unavailable("`docker info` failed, no Docker engine to talk to: %v: %s", err, bytes.TrimSpace(out))
	}
	composeCmd, err := findCompose(ctx)
	if err != nil {
		unavailable("%v", err)
	}
	imgs, err := standin.Ensure(ctx, slog.New(slog.NewTextHandler(t.Output(), nil)), standin.FromEnv(os.Getenv))
	if err != nil {
		t.Fatal(err)
	}

	project := fmt.Sprintf("edb-e2e-cluster-%d-%d", os.Getpid(), time.Now().Unix()%100000)
	// A /24 of its own, so that runs beside each other (or a user's
	// cluster profile) do not collide; another one if Docker says it is
	// taken.
	var s *stack
	for attempt := 0; ; attempt++ {
		net := fmt.Sprintf("172.29.%d", 100+(os.Getpid()+attempt*37)%150)
		s = &stack{
			t: t, root: repoRoot(t), project: project, cmd: composeCmd,
			env: append(append(os.Environ(), imgs.Env()...), "COMPOSE_PROFILES="+clusterProfile, "REDIS_CLUSTER_NET="+net),
		}
		t.Cleanup(s.down)
		out, err := s.run(ctx, nodesUp()...)
		if err == nil {
			break
		}
		if !strings.Contains(out, "overlap") || attempt >= 5 {
			t.Fatalf("compose up of the nodes: %v\n%s", err, out)
		}
		s.down()
	}

	start := time.Now()
	out := s.compose(ctx, "run", "--rm", "-T", clusterCreate)
	if !strings.Contains(out, "cluster ok") || strings.Contains(out, "already form") {
		t.Fatalf("%s did not make the cluster:\n%s", clusterCreate, out)
	}
	t.Logf("FIGURE cluster profile: six nodes joined in %s", time.Since(start).Round(100*time.Millisecond))
	id := s.appendAsAPI(ctx)

	// Down, keeping the volumes, and up again: new containers, the same
	// addresses and nodes.conf.
	s.compose(ctx, "down", "--timeout", "10")
	s.compose(ctx, nodesUp()...)
	out = s.compose(ctx, "run", "--rm", "-T", clusterCreate)
	if !strings.Contains(out, "already form the cluster") || !strings.Contains(out, "cluster ok") {
		t.Fatalf("%s after the restart:\n%s", clusterCreate, out)
	}
	// The entry appended before the restart is still there (AOF), on the
	// same shard.
	got := s.compose(ctx, "exec", "-T", "-e", "REDISCLI_AUTH=edb-admin-dev-password", clusterNodes[0],
		"redis-cli", "-c", "--user", "edb-admin", "xrange", "update_model:2", id, id)
	if !strings.Contains(got, id) {
		t.Errorf("after the restart, XRANGE update_model:2 %s: %q", id, got)
	}
	s.appendAsAPI(ctx)
}

// nodesUp are the compose arguments that start the six nodes and wait for
// their health checks.
func nodesUp() []string {
	return append([]string{"up", "-d", "--wait", "--wait-timeout", "120"}, clusterNodes...)
}

// appendAsAPI appends one entry to shard 2's stream as edb-api through the
// first node (redis-cli -c follows the redirection to the shard's master)
// and returns its ID.
func (s *stack) appendAsAPI(ctx context.Context) string {
	s.t.Helper()
	out := s.compose(ctx, "exec", "-T", "-e", "REDISCLI_AUTH=edb-api-dev-password", clusterNodes[0],
		"redis-cli", "-c", "--user", "edb-api", "xadd", "update_model:2", "*", "trial", "w")
	id := regexp.MustCompile(`\d+-\d+`).FindString(out)
	if id == "" {
		s.t.Fatalf("edb-api XADD update_model:2: %q", out)
	}
	return id
}
