package redisacl_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisacl"
)

var update = flag.Bool("update", false, "rewrite the golden ACL files in testdata from the rules")

// goldens are the ACL files deployments load (after appending passwords),
// one per layout. They are checked in so a change of the rules shows in
// review as a change of a file, and so copies elsewhere can be compared
// with them.
var goldens = map[string]redisacl.Config{
	"testdata/users.acl":         {},
	"testdata/users-cluster.acl": {Cluster: true},
}

// deployedCopies are the copies the Helm chart carries, by golden file;
// each must equal its golden file byte for byte. (docker compose's --user
// lines are checked against the golden files by services/e2e/compose.)
var deployedCopies = map[string]string{
	"testdata/users.acl":         filepath.Join("..", "..", "..", "charts", "event-driven-bayes", "files", "redis", "users.acl"),
	"testdata/users-cluster.acl": filepath.Join("..", "..", "..", "charts", "event-driven-bayes", "files", "redis", "users-cluster.acl"),
}

func TestGoldenFile(t *testing.T) {
	for golden, cfg := range goldens {
		got := redisacl.File(redisacl.Deployment(cfg), nil)
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s is stale; run `go test ./redisacl -run Golden -update` and review the diff.\ngot:\n%s\nwant:\n%s", golden, got, want)
		}
	}
}

func TestDeployedCopiesMatchTheGoldenFile(t *testing.T) {
	for golden, p := range deployedCopies {
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			t.Logf("%s does not exist (yet): nothing to compare", p)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s: copy the golden file there", p, golden)
		}
	}
}

func TestNoPasswordInTheRules(t *testing.T) {
	for _, u := range append(redisacl.Deployment(redisacl.Config{}), redisacl.Deployment(redisacl.Config{Cluster: true})...) {
		for _, r := range u.Rules {
			if strings.HasPrefix(r, ">") || strings.HasPrefix(r, "#") || r == "nopass" {
				t.Errorf("user %s has password rule %q; passwords belong to the deployment", u.Name, r)
			}
		}
	}
}

func TestPasswordsAreHashed(t *testing.T) {
	f := redisacl.File(redisacl.Users(redisacl.Config{}), map[string]string{redisacl.APIUser: "s3cret"})
	if strings.Contains(f, "s3cret") {
		t.Fatal("the file holds the password in clear")
	}
	if !strings.Contains(f, "user edb-api ") || !strings.Contains(f, " "+redisacl.PasswordRule("s3cret")+"\n") {
		t.Fatalf("no password rule for edb-api in\n%s", f)
	}
	for _, line := range strings.Split(strings.TrimSpace(f), "\n") {
		if strings.HasPrefix(line, "user edb-bayes ") && strings.Contains(line, "#") {
			t.Errorf("edb-bayes got a password it was not given: %s", line)
		}
	}
}

func TestStreamNamesAreMatchedLiterally(t *testing.T) {
	u := redisacl.API(redisacl.Config{Stream: "obs*[x]"})
	if !strings.Contains(u.Line(), `~obs\*\[x\] `) {
		t.Fatalf("pattern not escaped: %s", u.Line())
	}
	b := redisacl.Bayes(redisacl.Config{Stream: "s?", Channel: "c*"})
	if l := b.Line(); !strings.Contains(l, `~s\?:model:* `) || !strings.Contains(l, `&c\* `) || !strings.Contains(l, `(~s\?:pubsub-bridge `) {
		t.Fatalf("patterns not escaped: %s", l)
	}
}
