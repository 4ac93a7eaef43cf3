package charttest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

var kindConfigFile = filepath.Join(repoRoot, "k8s", "kind-config.yaml")

// loadKindConfig reads k8s/kind-config.yaml as kind's own loader does
// (pkg/internal/apis/config/encoding, which is internal to kind): kind and
// apiVersion first, then a strict decode into the v1alpha4 types with
// unknown fields rejected, then kind's defaults.
func loadKindConfig(t *testing.T) *v1alpha4.Cluster {
	t.Helper()
	raw, err := os.ReadFile(kindConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	var tm struct {
		Kind       string `yaml:"kind"`
		APIVersion string `yaml:"apiVersion"`
	}
	if err := yamlv3.Unmarshal(raw, &tm); err != nil {
		t.Fatalf("kind config: %v", err)
	}
	if tm.APIVersion != "kind.x-k8s.io/v1alpha4" || tm.Kind != "Cluster" {
		t.Fatalf("kind config is %s %s, want kind.x-k8s.io/v1alpha4 Cluster", tm.APIVersion, tm.Kind)
	}
	cfg := &v1alpha4.Cluster{}
	dec := yamlv3.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("kind config does not decode strictly: %v", err)
	}
	v1alpha4.SetDefaultsCluster(cfg)
	return cfg
}

func TestKindConfig(t *testing.T) {
	cfg := loadKindConfig(t)
	if len(cfg.Nodes) != 1 || cfg.Nodes[0].Role != v1alpha4.ControlPlaneRole {
		t.Fatalf("want one control-plane node (the graphs hostPath volume is node-local), got %+v", cfg.Nodes)
	}
	node := cfg.Nodes[0]
	if !strings.HasPrefix(node.Image, "kindest/node:v") || !strings.Contains(node.Image, "@sha256:") {
		t.Errorf("node image %q is not pinned by version and digest", node.Image)
	}

	// The graphs mount: the chart's kind values put the claim on the node
	// path that kind mounts from the repository's ./graphs.
	kindValues := valuesFile(t, kindValuesFile)
	hostPath, _ := lookupValue(kindValues, "graphs.persistence.hostPath")
	var mounted bool
	for _, m := range node.ExtraMounts {
		if m.ContainerPath != hostPath {
			continue
		}
		mounted = true
		if m.Readonly {
			t.Errorf("graphs mount %s is read-only", m.ContainerPath)
		}
		if filepath.IsAbs(m.HostPath) {
			t.Errorf("graphs hostPath %q is absolute: it must work on every checkout", m.HostPath)
		}
		// kind resolves a relative hostPath against its working directory:
		// the Makefile runs it from the repository root.
		if st, err := os.Stat(filepath.Join(repoRoot, m.HostPath)); err != nil || !st.IsDir() {
			t.Errorf("graphs hostPath %q is not a directory of the repository", m.HostPath)
		}
	}
	if !mounted {
		t.Errorf("no extraMount at %v (graphs.persistence.hostPath of values-kind.yaml)", hostPath)
	}

	// Port mappings: unique, loopback only, in the NodePort range, and
	// covering the NodePorts the kind values and skaffold.yaml use.
	mapped := map[int32]bool{}
	for _, pm := range node.ExtraPortMappings {
		if mapped[pm.HostPort] {
			t.Errorf("host port %d mapped twice", pm.HostPort)
		}
		mapped[pm.HostPort] = true
		if pm.ListenAddress != "127.0.0.1" {
			t.Errorf("port %d listens on %q, want 127.0.0.1", pm.HostPort, pm.ListenAddress)
		}
		if pm.ContainerPort < 30000 || pm.ContainerPort > 32767 {
			t.Errorf("container port %d is not a NodePort", pm.ContainerPort)
		}
		if pm.Protocol != v1alpha4.PortMappingProtocolTCP {
			t.Errorf("port %d protocol %s", pm.HostPort, pm.Protocol)
		}
	}
	for _, path := range []string{"api.service.nodePort", "bayes.service.nodePort"} {
		v, _ := lookupValue(kindValues, path)
		n, ok := asInt(v)
		if !ok || !mappedContainerPort(node, int32(n)) {
			t.Errorf("values-kind.yaml %s = %v is not mapped by kind-config.yaml", path, v)
		}
	}
	grafana := skaffoldSetValue(t, "monitoring", "grafana.service.nodePort")
	if n, ok := asInt(grafana); !ok || !mappedContainerPort(node, int32(n)) {
		t.Errorf("skaffold.yaml grafana.service.nodePort = %v is not mapped by kind-config.yaml", grafana)
	}
}

func mappedContainerPort(n v1alpha4.Node, port int32) bool {
	for _, pm := range n.ExtraPortMappings {
		if pm.ContainerPort == port {
			return true
		}
	}
	return false
}

// asInt accepts the number types the YAML decoders produce.
func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), n == float64(int(n))
	}
	return 0, false
}

// The kind values work without anything installed first (no ServiceMonitor,
// whose CRD only kube-prometheus-stack brings), and the live page works from
// both ways the docs open it: the port-forwards (NOTES.txt, skaffold, make
// port-forward) and kind's NodePort.
func TestKindValues(t *testing.T) {
	r := render(t, renderOpts{name: "event-driven-bayes", namespace: "event-driven-bayes", values: valuesFile(t, kindValuesFile)})
	if len(r.serviceMonitors) != 0 {
		t.Errorf("values-kind.yaml renders a ServiceMonitor: the install would fail without kube-prometheus-stack")
	}
	if v, ok := lookupValue(valuesFile(t, kindValuesFile), "metrics.serviceMonitor.enabled"); ok && v == true {
		t.Errorf("values-kind.yaml turns the ServiceMonitor on")
	}

	// The local ports skaffold forwards each Service to.
	skaffoldLocal := map[string]int{}
	for _, pf := range loadSkaffold(t).PortForward {
		skaffoldLocal[pf.ResourceName] = pf.LocalPort
	}
	apiLocal, bayesLocal := skaffoldLocal[fullname(r)+"-api"], skaffoldLocal[fullname(r)+"-bayes"]
	if apiLocal == 0 || bayesLocal == 0 {
		t.Fatalf("skaffold.yaml does not forward api and bayes: %v", skaffoldLocal)
	}
	bayesNode := r.service(fullname(r) + "-bayes").Spec.Ports[0].NodePort

	api := container(t, r.component(t, "api").template.Spec, "api")
	origins := strings.Split(envValue(api, "CORS_ALLOW_ORIGINS"), ",")
	for _, port := range []int{bayesLocal, int(bayesNode)} {
		for _, host := range []string{"localhost", "127.0.0.1"} {
			if o := "http://" + host + ":" + strconv.Itoa(port); !slices.Contains(origins, o) {
				t.Errorf("CORS_ALLOW_ORIGINS %v lacks %s: the live page opened there could not post", origins, o)
			}
		}
	}
	bayes := container(t, r.component(t, "bayes").template.Spec, "bayes")
	if got, want := envValue(bayes, "API_PUBLIC_URL"), "http://localhost:"+strconv.Itoa(apiLocal); got != want {
		t.Errorf("API_PUBLIC_URL=%q, want the api's port-forward %q", got, want)
	}
	// NOTES.txt forwards to the same local ports, and says what a page
	// opened on the NodePort needs.
	for _, want := range []string{
		"port-forward svc/" + fullname(r) + "-api " + strconv.Itoa(apiLocal) + ":",
		"port-forward svc/" + fullname(r) + "-bayes " + strconv.Itoa(bayesLocal) + ":",
		"open http://localhost:" + strconv.Itoa(int(bayesNode)) + "/",
		"bayes.apiPublicURL=http://localhost:30800",
	} {
		if !strings.Contains(r.notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, r.notes)
		}
	}
	if strings.Contains(r.notes, "fail") {
		t.Errorf("NOTES.txt warns with the kind values:\n%s", r.notes)
	}
}
