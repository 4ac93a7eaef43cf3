package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	corev1 "k8s.io/api/core/v1"
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

func skaffoldSetValue(t *testing.T, release, key string) any {
	t.Helper()
	return loadSkaffold(t).release(t, release).SetValues[key]
}

// imageVar is skaffold's name for an artifact in templates:
// IMAGE_REPO_<image with every non-alphanumeric replaced by _>.
func imageVar(prefix, image string) string {
	return prefix + regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(image, "_")
}

func TestSkaffold(t *testing.T) {
	cfg := loadSkaffold(t)
	if cfg.APIVersion != "skaffold/v4beta13" || cfg.Kind != "Config" {
		t.Errorf("skaffold.yaml is %s %s, want skaffold/v4beta13 Config", cfg.APIVersion, cfg.Kind)
	}
	if cfg.Build.Local == nil || cfg.Build.Local.Push == nil || *cfg.Build.Local.Push {
		t.Errorf("build.local.push must be false: kind has no registry, skaffold loads images into it")
	}

	// Both Dockerfiles, each built from the repository root.
	imageOf := map[string]string{} // component -> artifact image
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
		imageOf[comp] = a.Image
	}
	if len(imageOf) != 2 || len(cfg.Build.Artifacts) != 2 {
		t.Fatalf("artifacts %v, want exactly Dockerfile.api and Dockerfile.bayes", imageOf)
	}

	// Monitoring first, pinned, then the chart.
	rels := cfg.Deploy.Helm.Releases
	if len(rels) != 2 || rels[0].Name != "monitoring" {
		t.Fatalf("want releases [monitoring, chart], got %d", len(rels))
	}
	mon := rels[0]
	if mon.RemoteChart != "kube-prometheus-stack" || !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(mon.Version) || !strings.HasPrefix(mon.Repo, "https://") {
		t.Errorf("monitoring release %s@%q from %q: want kube-prometheus-stack at an exact version over https", mon.RemoteChart, mon.Version, mon.Repo)
	}
	rel := rels[1]
	if filepath.Clean(rel.ChartPath) != filepath.Join("charts", "event-driven-bayes") {
		t.Errorf("release %s deploys %q, want charts/event-driven-bayes", rel.Name, rel.ChartPath)
	}
	if !slices.Contains(rel.DependsOn, mon.Name) {
		t.Errorf("release %s does not depend on %s (it needs the ServiceMonitor CRD)", rel.Name, mon.Name)
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

	// Port forwards: the chart's Services on their ports, and Grafana of the
	// monitoring release; local ports unique.
	local := map[int]bool{}
	for _, pf := range cfg.PortForward {
		if local[pf.LocalPort] {
			t.Errorf("local port %d forwarded twice", pf.LocalPort)
		}
		local[pf.LocalPort] = true
		if pf.ResourceType != "service" {
			t.Errorf("port-forward %s: type %s, want service", pf.ResourceName, pf.ResourceType)
		}
		switch pf.Namespace {
		case rel.Namespace:
			svc := r.service(pf.ResourceName)
			if svc == nil {
				t.Errorf("port-forward to %s/%s: the chart renders no such Service", pf.Namespace, pf.ResourceName)
				continue
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == pf.Port }) {
				t.Errorf("port-forward to %s:%d: not a port of the Service", pf.ResourceName, pf.Port)
			}
		case mon.Namespace:
			if pf.ResourceName != mon.Name+"-grafana" {
				t.Errorf("port-forward to %s in %s: want %s-grafana", pf.ResourceName, mon.Namespace, mon.Name)
			}
		default:
			t.Errorf("port-forward to %s in unknown namespace %q", pf.ResourceName, pf.Namespace)
		}
	}
	for _, want := range []string{fullname(r) + "-api", fullname(r) + "-bayes", mon.Name + "-grafana"} {
		if !slices.ContainsFunc(cfg.PortForward, func(pf skaffoldPortForward) bool { return pf.ResourceName == want }) {
			t.Errorf("skaffold does not port-forward %s", want)
		}
	}
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
