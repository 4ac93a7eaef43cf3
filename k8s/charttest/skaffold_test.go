package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var skaffoldFile = filepath.Join(repoRoot, "skaffold.yaml")

// skaffoldConfig is the part of the skaffold/v4beta13 schema this project
// uses, field names as in skaffold's published JSON schema. It is decoded
// strictly: a misspelt key fails here instead of being ignored by skaffold's
// own lenient upgrade path. (skaffold's Go module cannot be fetched here, so
// its types cannot be imported.)
type skaffoldConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Build struct {
		Local *struct {
			Push        *bool `json:"push,omitempty"`
			UseBuildkit *bool `json:"useBuildkit,omitempty"`
			Concurrency *int  `json:"concurrency,omitempty"`
		} `json:"local,omitempty"`
		TagPolicy map[string]any `json:"tagPolicy,omitempty"`
		Artifacts []struct {
			Image   string `json:"image"`
			Context string `json:"context,omitempty"`
			Docker  *struct {
				Dockerfile string            `json:"dockerfile"`
				BuildArgs  map[string]string `json:"buildArgs,omitempty"`
				Network    string            `json:"network,omitempty"`
				Target     string            `json:"target,omitempty"`
			} `json:"docker,omitempty"`
		} `json:"artifacts"`
	} `json:"build"`
	Deploy struct {
		Helm struct {
			Releases []skaffoldRelease `json:"releases"`
		} `json:"helm"`
	} `json:"deploy"`
	PortForward []skaffoldPortForward `json:"portForward"`
	Profiles    []skaffoldProfile     `json:"profiles,omitempty"`
}

// skaffoldProfile is a profile made of JSON patches only (skaffold's
// profiles may also replace whole sections; this project does not).
type skaffoldProfile struct {
	Name    string `json:"name"`
	Patches []struct {
		Op    string `json:"op,omitempty"`
		Path  string `json:"path"`
		From  string `json:"from,omitempty"`
		Value any    `json:"value,omitempty"`
	} `json:"patches"`
}

type skaffoldPortForward struct {
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	Namespace    string `json:"namespace,omitempty"`
	Port         int    `json:"port"`
	LocalPort    int    `json:"localPort,omitempty"`
	Address      string `json:"address,omitempty"`
}

type skaffoldRelease struct {
	Name              string            `json:"name"`
	ChartPath         string            `json:"chartPath,omitempty"`
	RemoteChart       string            `json:"remoteChart,omitempty"`
	Repo              string            `json:"repo,omitempty"`
	Version           string            `json:"version,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	CreateNamespace   *bool             `json:"createNamespace,omitempty"`
	Wait              *bool             `json:"wait,omitempty"`
	UpgradeOnChange   *bool             `json:"upgradeOnChange,omitempty"`
	DependsOn         []string          `json:"dependsOn,omitempty"`
	ValuesFiles       []string          `json:"valuesFiles,omitempty"`
	SetValues         map[string]any    `json:"setValues,omitempty"`
	SetValueTemplates map[string]string `json:"setValueTemplates,omitempty"`
}

func loadSkaffold(t *testing.T) *skaffoldConfig {
	t.Helper()
	raw, err := os.ReadFile(skaffoldFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &skaffoldConfig{}
	if err := decodeStrict(raw, cfg); err != nil {
		t.Fatalf("skaffold.yaml: %v", err)
	}
	return cfg
}

// loadSkaffoldProfile is skaffold.yaml with the named profile applied as
// skaffold applies patches (pkg/skaffold/schema/profiles.go): each is first
// tried alone on the unpatched config, then all are applied in order; the
// result is decoded strictly again.
func loadSkaffoldProfile(t *testing.T, name string) *skaffoldConfig {
	t.Helper()
	base := loadSkaffold(t)
	var prof *skaffoldProfile
	for i := range base.Profiles {
		if base.Profiles[i].Name == name {
			prof = &base.Profiles[i]
		}
	}
	if prof == nil {
		t.Fatalf("skaffold.yaml has no profile %q", name)
	}
	raw, err := os.ReadFile(skaffoldFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// Profiles are dropped once applied.
	delete(doc.(map[string]any), "profiles")
	for _, p := range prof.Patches {
		if _, err := jsonPatchAdd(deepCopyJSON(doc), p.Op, p.Path, p.Value); err != nil {
			t.Fatalf("profile %s: patch %s %s does not apply to the unpatched config (skaffold refuses it): %v", name, p.Op, p.Path, err)
		}
	}
	for _, p := range prof.Patches {
		if doc, err = jsonPatchAdd(doc, p.Op, p.Path, p.Value); err != nil {
			t.Fatalf("profile %s: patch %s %s: %v", name, p.Op, p.Path, err)
		}
	}
	patched, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &skaffoldConfig{}
	if err := decodeStrict(patched, cfg); err != nil {
		t.Fatalf("skaffold.yaml with profile %s: %v\n%s", name, err, patched)
	}
	return cfg
}

// jsonPatchAdd applies one RFC 6902 "add" to a decoded YAML document (the
// only operation the profiles use): into a map it sets the key, into a
// list it inserts at the index, or appends for "-".
func jsonPatchAdd(doc any, op, path string, value any) (any, error) {
	if op != "add" {
		return nil, fmt.Errorf("op %q: this test knows only add", op)
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q does not start with /", path)
	}
	var add func(cur any, tokens []string) (any, error)
	add = func(cur any, tokens []string) (any, error) {
		key := strings.NewReplacer("~1", "/", "~0", "~").Replace(tokens[0])
		switch c := cur.(type) {
		case map[string]any:
			if len(tokens) == 1 {
				c[key] = value
				return c, nil
			}
			next, ok := c[key]
			if !ok {
				return nil, fmt.Errorf("no key %q", key)
			}
			v, err := add(next, tokens[1:])
			c[key] = v
			return c, err
		case []any:
			if len(tokens) == 1 && key == "-" {
				return append(c, value), nil
			}
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i > len(c) || (len(tokens) > 1 && i == len(c)) {
				return nil, fmt.Errorf("no index %q in a list of %d", key, len(c))
			}
			if len(tokens) == 1 {
				return slices.Insert(c, i, value), nil
			}
			v, err := add(c[i], tokens[1:])
			c[i] = v
			return c, err
		}
		return nil, fmt.Errorf("%q is inside a scalar", key)
	}
	return add(doc, strings.Split(path[1:], "/"))
}

func deepCopyJSON(v any) any {
	switch c := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, x := range c {
			m[k] = deepCopyJSON(x)
		}
		return m
	case []any:
		l := make([]any, len(c))
		for i, x := range c {
			l[i] = deepCopyJSON(x)
		}
		return l
	}
	return v
}

func (c *skaffoldConfig) release(t *testing.T, name string) *skaffoldRelease {
	t.Helper()
	for i := range c.Deploy.Helm.Releases {
		if c.Deploy.Helm.Releases[i].Name == name {
			return &c.Deploy.Helm.Releases[i]
		}
	}
	t.Fatalf("skaffold.yaml has no release %q", name)
	return nil
}

// skaffoldSetValue is a setValues entry of a release of the monitoring
// profile, the only place kube-prometheus-stack is installed.
func skaffoldSetValue(t *testing.T, release, key string) any {
	t.Helper()
	return loadSkaffoldProfile(t, "monitoring").release(t, release).SetValues[key]
}

// imageVar is skaffold's name for an artifact in templates:
// IMAGE_REPO_<image with every non-alphanumeric replaced by _>.
func imageVar(prefix, image string) string {
	return prefix + regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(image, "_")
}

// Plain `skaffold dev`: the chart alone, with nothing from the internet.
func TestSkaffold(t *testing.T) {
	cfg := loadSkaffold(t)
	if cfg.APIVersion != "skaffold/v4beta13" || cfg.Kind != "Config" {
		t.Errorf("skaffold.yaml is %s %s, want skaffold/v4beta13 Config", cfg.APIVersion, cfg.Kind)
	}
	if len(cfg.Profiles) != 1 || cfg.Profiles[0].Name != "monitoring" {
		t.Errorf("profiles %v, want exactly one, monitoring", cfg.Profiles)
	}
	r := checkSkaffold(t, cfg, false)
	if len(r.serviceMonitors) != 0 {
		t.Errorf("plain skaffold renders a ServiceMonitor: its CRD comes only with the monitoring profile")
	}
}

// `skaffold dev -p monitoring`: kube-prometheus-stack first, then the chart
// with its ServiceMonitor, and Grafana forwarded.
func TestSkaffoldMonitoringProfile(t *testing.T) {
	r := checkSkaffold(t, loadSkaffoldProfile(t, "monitoring"), true)
	if len(r.serviceMonitors) != 1 {
		t.Errorf("the monitoring profile renders %d ServiceMonitors, want 1", len(r.serviceMonitors))
	}
}

// checkSkaffold checks a skaffold config (plain or with the monitoring
// profile applied) and returns the chart as it would install it.
func checkSkaffold(t *testing.T, cfg *skaffoldConfig, monitoring bool) *release {
	t.Helper()
	if cfg.Build.Local == nil || cfg.Build.Local.Push == nil || *cfg.Build.Local.Push {
		t.Errorf("build.local.push must be false: kind has no registry, skaffold loads images into it")
	}

	// Both Dockerfiles, each built from the repository root, into the
	// repositories the chart's values name.
	imageOf := map[string]string{} // component -> artifact image
	defaults := valuesFile(t, filepath.Join(chartDir, "values.yaml"))
	for _, a := range cfg.Build.Artifacts {
		if a.Docker == nil {
			t.Errorf("artifact %s is not a docker build", a.Image)
			continue
		}
		if a.Context != "." && a.Context != "" {
			t.Errorf("artifact %s: context %q, want the repository root", a.Image, a.Context)
		}
		comp := strings.TrimPrefix(a.Docker.Dockerfile, "Dockerfile.")
		if comp != "api" && comp != "bayes" {
			t.Errorf("artifact %s builds %s", a.Image, a.Docker.Dockerfile)
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot, a.Docker.Dockerfile)); err != nil {
			t.Errorf("artifact %s: %v", a.Image, err)
		}
		if repo, _ := lookupValue(defaults, comp+".image.repository"); repo != a.Image {
			t.Errorf("artifact %s, but the chart's %s.image.repository is %v: one name for both", a.Image, comp, repo)
		}
		imageOf[comp] = a.Image
	}
	if len(imageOf) != 2 || len(cfg.Build.Artifacts) != 2 {
		t.Fatalf("artifacts %v, want exactly Dockerfile.api and Dockerfile.bayes", imageOf)
	}

	// Plain: the chart alone. Monitoring: kube-prometheus-stack, pinned,
	// first, and the chart depending on it with its ServiceMonitor on.
	rels := cfg.Deploy.Helm.Releases
	var rel skaffoldRelease
	var mon *skaffoldRelease
	if monitoring {
		if len(rels) != 2 || rels[0].Name != "monitoring" {
			t.Fatalf("want releases [monitoring, chart], got %d", len(rels))
		}
		mon, rel = &rels[0], rels[1]
		if mon.RemoteChart != "kube-prometheus-stack" || !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(mon.Version) || !strings.HasPrefix(mon.Repo, "https://") {
			t.Errorf("monitoring release %s@%q from %q: want kube-prometheus-stack at an exact version over https", mon.RemoteChart, mon.Version, mon.Repo)
		}
		if !slices.Contains(rel.DependsOn, mon.Name) {
			t.Errorf("release %s does not depend on %s (it needs the ServiceMonitor CRD)", rel.Name, mon.Name)
		}
		if rel.SetValues["metrics.serviceMonitor.enabled"] != true {
			t.Errorf("the monitoring profile does not set metrics.serviceMonitor.enabled=true")
		}
	} else {
		if len(rels) != 1 {
			t.Fatalf("want one release, the chart, got %d", len(rels))
		}
		rel = rels[0]
		if len(rel.DependsOn) > 0 || rel.RemoteChart != "" {
			t.Errorf("plain skaffold: release %s depends on %v", rel.Name, rel.DependsOn)
		}
	}
	if filepath.Clean(rel.ChartPath) != filepath.Join("charts", "event-driven-bayes") {
		t.Errorf("release %s deploys %q, want charts/event-driven-bayes", rel.Name, rel.ChartPath)
	}

	// Image values wired through setValueTemplates to the built artifacts.
	fake := map[string]string{}
	for comp, image := range imageOf {
		repoKey, tagKey := comp+".image.repository", comp+".image.tag"
		if got, want := rel.SetValueTemplates[repoKey], "{{."+imageVar("IMAGE_REPO_", image)+"}}"; got != want {
			t.Errorf("setValueTemplates %s = %q, want %q", repoKey, got, want)
		}
		if got, want := rel.SetValueTemplates[tagKey], "{{."+imageVar("IMAGE_TAG_", image)+"}}"; got != want {
			t.Errorf("setValueTemplates %s = %q, want %q", tagKey, got, want)
		}
		fake[imageVar("IMAGE_REPO_", image)] = "skaffold.local/" + image
		fake[imageVar("IMAGE_TAG_", image)] = "built-" + comp
	}

	// Render the chart as skaffold would install it: its values files, then
	// setValues, then the templates filled with what a build would produce.
	vals := map[string]any{}
	for _, f := range rel.ValuesFiles {
		vals = mergeValues(vals, valuesFile(t, filepath.Join(repoRoot, f)))
	}
	for k, v := range rel.SetValues {
		setPath(vals, k, v)
	}
	for k, tmpl := range rel.SetValueTemplates {
		var b strings.Builder
		if err := template.Must(template.New(k).Option("missingkey=error").Parse(tmpl)).Execute(&b, fake); err != nil {
			t.Fatalf("setValueTemplates %s: %v", k, err)
		}
		setPath(vals, k, b.String())
	}
	r := render(t, renderOpts{name: rel.Name, namespace: rel.Namespace, values: vals})
	for comp := range imageOf {
		c := container(t, r.component(t, comp).template.Spec, comp)
		if want := "skaffold.local/" + imageOf[comp] + ":built-" + comp; c.Image != want {
			t.Errorf("%s runs %q, want the image skaffold built (%s)", comp, c.Image, want)
		}
	}

	// Port forwards: the chart's Services on their ports (and Grafana of
	// the monitoring release with the profile); local ports unique.
	local := map[int]bool{}
	for _, pf := range cfg.PortForward {
		if local[pf.LocalPort] {
			t.Errorf("local port %d forwarded twice", pf.LocalPort)
		}
		local[pf.LocalPort] = true
		if pf.ResourceType != "service" {
			t.Errorf("port-forward %s: type %s, want service", pf.ResourceName, pf.ResourceType)
		}
		switch {
		case pf.Namespace == rel.Namespace:
			svc := r.service(pf.ResourceName)
			if svc == nil {
				t.Errorf("port-forward to %s/%s: the chart renders no such Service", pf.Namespace, pf.ResourceName)
				continue
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == pf.Port }) {
				t.Errorf("port-forward to %s:%d: not a port of the Service", pf.ResourceName, pf.Port)
			}
		case mon != nil && pf.Namespace == mon.Namespace:
			if pf.ResourceName != mon.Name+"-grafana" {
				t.Errorf("port-forward to %s in %s: want %s-grafana", pf.ResourceName, mon.Namespace, mon.Name)
			}
		default:
			t.Errorf("port-forward to %s in namespace %q, which this config does not deploy", pf.ResourceName, pf.Namespace)
		}
	}
	want := []string{fullname(r) + "-api", fullname(r) + "-bayes"}
	if mon != nil {
		want = append(want, mon.Name+"-grafana")
	}
	for _, w := range want {
		if !slices.ContainsFunc(cfg.PortForward, func(pf skaffoldPortForward) bool { return pf.ResourceName == w }) {
			t.Errorf("skaffold does not port-forward %s", w)
		}
	}
	if len(cfg.PortForward) != len(want) {
		t.Errorf("skaffold forwards %d ports, want %d", len(cfg.PortForward), len(want))
	}
	return r
}

// mergeValues merges src into dst as successive -f files do.
func mergeValues(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// setPath sets a dotted key as --set does (no escaped dots, no lists).
func setPath(m map[string]any, key string, v any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}
