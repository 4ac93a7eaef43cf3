package charttest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// clusterWith is a Helm ClientProvider over a fake cluster holding objs, so
// the chart's lookup sees them as on an upgrade.
type clusterWith struct{ client dynamic.Interface }

func (c clusterWith) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, false, err
	}
	return c.client.Resource(gv.WithResource(strings.ToLower(kind) + "s")), true, nil
}

func fakeCluster(t *testing.T, objs ...runtime.Object) clusterWith {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return clusterWith{dynamicfake.NewSimpleDynamicClient(scheme, objs...)}
}

func secretObject(namespace, name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Data:       data,
	}
}

// liveSecret is the passwords Secret as an install would have left it.
func liveSecret(namespace, name string, passwords map[string]string) *corev1.Secret {
	data := map[string][]byte{}
	for user, pw := range passwords {
		data[redisUsers[user]] = []byte(pw)
	}
	return secretObject(namespace, name, data)
}

// The passwords are generated on install and read back on every upgrade: a
// new random password on upgrade would lock api and bayes out until every
// pod restarted, and the ACL file must hash the same passwords the services
// are given.
func TestRedisPasswordsKeptAcrossUpgrades(t *testing.T) {
	const ns, name = "default", "event-driven-bayes-redis"
	install := render(t, renderOpts{clients: fakeCluster(t)})
	first := renderedPasswords(t, install)
	for user, pw := range first {
		if len(pw) < 32 {
			t.Errorf("generated password of %s has %d bytes", user, len(pw))
		}
	}
	if a, b, c := first["edb-api"], first["edb-bayes"], first["edb-admin"]; a == b || b == c || a == c {
		t.Fatalf("the three users got a shared password")
	}
	checkACL(t, install, first)

	second := renderedPasswords(t, render(t, renderOpts{clients: fakeCluster(t)}))
	for user := range first {
		if first[user] == second[user] {
			t.Errorf("two installs generated the same password for %s", user)
		}
	}

	upgrade := render(t, renderOpts{clients: fakeCluster(t, liveSecret(ns, name, first))})
	if got := renderedPasswords(t, upgrade); !maps.Equal(got, first) {
		t.Fatalf("upgrade changed the passwords")
	}
	if renderedACL(t, upgrade) != renderedACL(t, install) {
		t.Errorf("upgrade changed the ACL file:\n%s\n->\n%s", renderedACL(t, install), renderedACL(t, upgrade))
	}
	checkACL(t, upgrade, first)

	// A Secret with only some keys (an older chart's) keeps those and
	// generates the rest.
	old := secretObject(ns, name, map[string][]byte{"redis-password": []byte("the-old-shared-password-0123456"), "api-password": []byte(first["edb-api"])})
	partial := render(t, renderOpts{clients: fakeCluster(t, old)})
	got := renderedPasswords(t, partial)
	if got["edb-api"] != first["edb-api"] {
		t.Errorf("upgrade dropped the kept api-password")
	}
	for _, user := range []string{"edb-bayes", "edb-admin"} {
		if len(got[user]) < 32 || got[user] == "the-old-shared-password-0123456" {
			t.Errorf("%s: password %q, want a new generated one", user, got[user])
		}
	}
	if _, kept := secret(partial, name).Data["redis-password"]; kept {
		t.Errorf("the old shared redis-password is still rendered")
	}
	checkACL(t, partial, got)

	// A Secret in another namespace is not this release's.
	if got := renderedPasswords(t, render(t, renderOpts{clients: fakeCluster(t, liveSecret("other", name, first))})); got["edb-api"] == first["edb-api"] {
		t.Fatalf("lookup read a Secret of another namespace")
	}
}

// goSources concatenates the non-test Go files under the given
// repository-relative directories.
func goSources(t *testing.T, dirs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, d := range dirs {
		root := filepath.Join(repoRoot, filepath.FromSlash(d))
		err := filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "// %s\n%s\n", path, src)
			return nil
		})
		if err != nil {
			t.Fatalf("reading sources of %s: %v", d, err)
		}
	}
	return b.String()
}
