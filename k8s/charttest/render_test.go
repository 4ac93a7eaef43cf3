package charttest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// Paths from this package's directory (go test runs tests there).
var (
	repoRoot       = filepath.Join("..", "..")
	chartDir       = filepath.Join(repoRoot, "charts", "event-driven-bayes")
	kindValuesFile = filepath.Join(chartDir, "values-kind.yaml")
)

// serviceMonitor is the part of the prometheus-operator ServiceMonitor
// (monitoring.coreos.com/v1) the chart uses. It is decoded as strictly as the
// built-in kinds, so a field the chart writes but this struct lacks fails:
// add it here only after checking the CRD has it.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames,omitempty"`
			Any        bool     `json:"any,omitempty"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// release is one rendering of the chart, every object decoded into its type.
type release struct {
	name, namespace string
	values          chartutil.Values // the coalesced .Values the templates saw

	deployments     []*appsv1.Deployment
	statefulSets    []*appsv1.StatefulSet
	services        []*corev1.Service
	secrets         []*corev1.Secret
	configMaps      []*corev1.ConfigMap
	claims          []*corev1.PersistentVolumeClaim
	volumes         []*corev1.PersistentVolume
	serviceAccounts []*corev1.ServiceAccount
	pdbs            []*policyv1.PodDisruptionBudget
	netpols         []*networkingv1.NetworkPolicy
	serviceMonitors []*serviceMonitor
	pods            []*corev1.Pod // helm test hooks

	notes string
}

// workload is a Deployment or StatefulSet reduced to what the invariants need.
type workload struct {
	kind, name string
	component  string // app.kubernetes.io/component
	selector   *metav1.LabelSelector
	template   corev1.PodTemplateSpec
	replicas   int32
}

func (r *release) workloads() []workload {
	var ws []workload
	for _, d := range r.deployments {
		ws = append(ws, workload{"Deployment", d.Name, d.Labels["app.kubernetes.io/component"], d.Spec.Selector, d.Spec.Template, deref(d.Spec.Replicas, 1)})
	}
	for _, s := range r.statefulSets {
		ws = append(ws, workload{"StatefulSet", s.Name, s.Labels["app.kubernetes.io/component"], s.Spec.Selector, s.Spec.Template, deref(s.Spec.Replicas, 1)})
	}
	return ws
}

// component returns the one workload of a component ("api", "bayes",
// "redis"), failing the test if there is not exactly one.
func (r *release) component(t *testing.T, c string) workload {
	t.Helper()
	var found []workload
	for _, w := range r.workloads() {
		if w.component == c {
			found = append(found, w)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one workload of component %q, got %d", c, len(found))
	}
	return found[0]
}

func (r *release) service(name string) *corev1.Service {
	for _, s := range r.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (r *release) statefulSet(t *testing.T, component string) *appsv1.StatefulSet {
	t.Helper()
	w := r.component(t, component)
	for _, s := range r.statefulSets {
		if s.Name == w.name {
			return s
		}
	}
	t.Fatalf("component %q is a %s, want a StatefulSet", component, w.kind)
	return nil
}

// renderOpts says how to render: release name and namespace, user values,
// and optionally a client for lookup and extra chart files.
type renderOpts struct {
	name, namespace string
	values          map[string]any
	clients         engine.ClientProvider
	extraFiles      []*chart.File
}

// loadChart loads the chart from disk, fresh for every render so extra
// files never leak between tests.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading chart %s: %v", chartDir, err)
	}
	return ch
}

// renderRaw runs the templates and returns the rendered files by name, or
// the error (a failed schema or a template's fail).
func renderRaw(t *testing.T, o renderOpts) (map[string]string, chartutil.Values, error) {
	t.Helper()
	ch := loadChart(t)
	ch.Files = append(ch.Files, o.extraFiles...)
	if o.name == "" {
		o.name = "event-driven-bayes"
	}
	if o.namespace == "" {
		o.namespace = "default"
	}
	vals, err := chartutil.ToRenderValues(ch, o.values, chartutil.ReleaseOptions{
		Name: o.name, Namespace: o.namespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, nil, err
	}
	var out map[string]string
	if o.clients != nil {
		out, err = engine.RenderWithClientProvider(ch, vals, o.clients)
	} else {
		out, err = engine.Render(ch, vals)
	}
	if err != nil {
		return nil, nil, err
	}
	v, err := vals.Table("Values")
	if err != nil {
		t.Fatalf("render values have no .Values: %v", err)
	}
	return out, v, nil
}

// render renders and decodes every object strictly; any failure fails t.
func render(t *testing.T, o renderOpts) *release {
	t.Helper()
	files, vals, err := renderRaw(t, o)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	r := &release{name: o.name, namespace: o.namespace, values: vals}
	if r.name == "" {
		r.name = "event-driven-bayes"
	}
	if r.namespace == "" {
		r.namespace = "default"
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := map[string]string{}
	for _, file := range names {
		content := files[file]
		if strings.HasSuffix(file, "NOTES.txt") {
			r.notes = content
			continue
		}
		if strings.HasPrefix(filepath.Base(file), "_") {
			continue
		}
		docs := releaseutil.SplitManifests(content)
		keys := make([]string, 0, len(docs))
		for k := range docs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			id, err := r.add([]byte(docs[k]))
			if err != nil {
				t.Fatalf("%s: %v\n---\n%s", file, err, docs[k])
			}
			if id == "" {
				continue
			}
			if prev, dup := seen[id]; dup {
				t.Fatalf("%s renders %s, already rendered by %s", file, id, prev)
			}
			seen[id] = file
		}
	}
	return r
}

// add decodes one YAML document into its type and files it; it returns
// "kind/name", or "" for a document with no object (only comments).
func (r *release) add(doc []byte) (string, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	var generic map[string]any
	if err := yaml.Unmarshal(doc, &generic); err != nil {
		return "", fmt.Errorf("not YAML: %w", err)
	}
	if len(generic) == 0 {
		return "", nil
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return "", err
	}
	if errs := validation.IsDNS1123Subdomain(head.Metadata.Name); len(errs) > 0 {
		return "", fmt.Errorf("%s name %q: %s", head.Kind, head.Metadata.Name, strings.Join(errs, "; "))
	}
	if head.Metadata.Namespace != "" {
		return "", fmt.Errorf("%s %s sets metadata.namespace; the release's namespace applies", head.Kind, head.Metadata.Name)
	}
	into := func(v any, list func()) error {
		if err := decodeStrict(doc, v); err != nil {
			return fmt.Errorf("%s/%s %s: %w", head.APIVersion, head.Kind, head.Metadata.Name, err)
		}
		list()
		return nil
	}
	var err error
	switch head.APIVersion + "/" + head.Kind {
	case "apps/v1/Deployment":
		o := &appsv1.Deployment{}
		err = into(o, func() { r.deployments = append(r.deployments, o) })
	case "apps/v1/StatefulSet":
		o := &appsv1.StatefulSet{}
		err = into(o, func() { r.statefulSets = append(r.statefulSets, o) })
	case "v1/Service":
		o := &corev1.Service{}
		if errs := validation.IsDNS1035Label(head.Metadata.Name); len(errs) > 0 {
			return "", fmt.Errorf("Service name %q: %s", head.Metadata.Name, strings.Join(errs, "; "))
		}
		err = into(o, func() { r.services = append(r.services, o) })
	case "v1/Secret":
		o := &corev1.Secret{}
		err = into(o, func() { r.secrets = append(r.secrets, o) })
	case "v1/ConfigMap":
		o := &corev1.ConfigMap{}
		err = into(o, func() { r.configMaps = append(r.configMaps, o) })
	case "v1/PersistentVolumeClaim":
		o := &corev1.PersistentVolumeClaim{}
		err = into(o, func() { r.claims = append(r.claims, o) })
	case "v1/PersistentVolume":
		o := &corev1.PersistentVolume{}
		err = into(o, func() { r.volumes = append(r.volumes, o) })
	case "v1/ServiceAccount":
		o := &corev1.ServiceAccount{}
		err = into(o, func() { r.serviceAccounts = append(r.serviceAccounts, o) })
	case "policy/v1/PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		err = into(o, func() { r.pdbs = append(r.pdbs, o) })
	case "networking.k8s.io/v1/NetworkPolicy":
		o := &networkingv1.NetworkPolicy{}
		err = into(o, func() { r.netpols = append(r.netpols, o) })
	case "v1/Pod":
		o := &corev1.Pod{}
		err = into(o, func() { r.pods = append(r.pods, o) })
	case "monitoring.coreos.com/v1/ServiceMonitor":
		o := &serviceMonitor{}
		err = into(o, func() { r.serviceMonitors = append(r.serviceMonitors, o) })
	default:
		return "", fmt.Errorf("unexpected object %s/%s %s: add its type to the test", head.APIVersion, head.Kind, head.Metadata.Name)
	}
	if err != nil {
		return "", err
	}
	return head.Kind + "/" + head.Metadata.Name, nil
}

// decodeStrict decodes YAML into v the way the API server's strict field
// validation does (sigs.k8s.io/json): field names match case-sensitively,
// and an unknown or duplicate field is an error. encoding/json alone would
// accept `readOnlyRootFileSystem` for readOnlyRootFilesystem.
func decodeStrict(doc []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(js, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// valuesFrom parses YAML into a values map, as `-f file` would.
func valuesFrom(t *testing.T, s string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("test values are not YAML: %v", err)
	}
	return m
}

func valuesFile(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return valuesFrom(t, string(b))
}

// lookupValue walks a dotted path in a values map.
func lookupValue(v map[string]any, path string) (any, bool) {
	var cur any = v
	for _, k := range strings.Split(path, ".") {
		var m map[string]any
		switch c := cur.(type) {
		case map[string]any:
			m = c
		case chartutil.Values:
			m = c
		default:
			return nil, false
		}
		next, ok := m[k]
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
