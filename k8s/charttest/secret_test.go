package charttest

import (
	"bytes"
	"fmt"
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

func redisPassword(t *testing.T, r *release) []byte {
	t.Helper()
	s := secret(r, fullname(r)+"-redis")
	if s == nil {
		t.Fatalf("no Secret %s-redis", fullname(r))
	}
	return s.Data["redis-password"]
}

// The password is generated on install and read back on every upgrade: a
// new random password on upgrade would lock api and bayes out of the Redis
// whose data (and requirepass) the volume keeps.
func TestRedisPasswordKeptAcrossUpgrades(t *testing.T) {
	first := redisPassword(t, render(t, renderOpts{clients: fakeCluster(t)}))
	if len(first) < 32 {
		t.Fatalf("generated password has %d bytes", len(first))
	}
	second := redisPassword(t, render(t, renderOpts{clients: fakeCluster(t)}))
	if bytes.Equal(first, second) {
		t.Fatalf("two installs generated the same password")
	}
	live := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "event-driven-bayes-redis", Namespace: "default"},
		Data:       map[string][]byte{"redis-password": first},
	}
	upgraded := redisPassword(t, render(t, renderOpts{clients: fakeCluster(t, live)}))
	if !bytes.Equal(first, upgraded) {
		t.Fatalf("upgrade changed the password: %q -> %q", first, upgraded)
	}
	// A Secret in another namespace is not this release's.
	elsewhere := live.DeepCopy()
	elsewhere.Namespace = "other"
	if got := redisPassword(t, render(t, renderOpts{clients: fakeCluster(t, elsewhere)})); bytes.Equal(got, first) {
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
