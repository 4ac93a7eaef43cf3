package charttest

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"helm.sh/helm/v3/pkg/chart"
)

// The environment each binary reads is scanned from its sources
// (binaryVars, env_test.go); the standard OpenTelemetry variables the chart
// sets are read by the SDK instead, so they are pinned here. A chart
// variable outside these is a typo or a setting that does nothing.
var (
	otelVars = []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES"}

	// Helper variables the binaries do not read: they exist only to be
	// expanded as $(NAME) in a later variable, which the test checks.
	expansionOnlyVars = []string{"K8S_POD_NAME"}

	// The GET endpoints each binary serves that a probe may use.
	servedProbePaths = map[string][]string{
		"api":   {"/healthz", "/readyz"},
		"bayes": {"/healthz", "/readyz"},
	}
	defaultPorts = map[string]int32{"api": 8000, "bayes": 8001}
)

// The value sets every invariant is checked against.
func valueSets(t *testing.T) map[string]renderOpts {
	return map[string]renderOpts{
		"defaults": {},
		// The non-default set: several replicas, tracing on, an
		// existing Secret, persistence off; plus explicit tags, a digest,
		// a ServiceMonitor and another release name and namespace.
		"non-default": {name: "prod", namespace: "bayes-prod", values: valuesFrom(t, `
api:
  replicas: 3
  image: {repository: registry.example.com/edb/api, tag: "1.2.3"}
  extraEnv:
    - name: GOMEMLIMIT
      valueFrom: {resourceFieldRef: {resource: limits.memory}}
bayes:
  replicas: 3
  extraEnv: [{name: TZ, value: UTC}]
  image:
    repository: registry.example.com/edb/bayes
    tag: "1.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
redis:
  auth: {existingSecret: redis-credentials}
  persistence: {enabled: false}
  networkPolicy: {enabled: true}
graphs:
  persistence: {enabled: false}
metrics:
  serviceMonitor: {enabled: true, labels: {release: monitoring}}
tracing:
  enabled: true
  endpoint: http://otel-collector.observability:4318
`)},
		// Several replicas sharing one ReadWriteMany claim for the plots.
		"shared-rwx": {name: "edb", values: valuesFrom(t, `
bayes: {replicas: 4}
graphs:
  persistence: {accessModes: [ReadWriteMany], storageClass: nfs-client, size: 5Gi}
metrics: {enabled: false}
serviceAccount: {create: false}
`)},
		// What make deploy and skaffold install on kind.
		"kind": {name: "event-driven-bayes", namespace: "event-driven-bayes", values: valuesFile(t, kindValuesFile)},
		// An external Redis Cluster: no Redis of the chart's own, models
		// on three shards, every 201 confirmed by a replica.
		"cluster": {name: "edb", namespace: "bayes-cluster", values: valuesFrom(t, clusterValues)},
	}
}

// clusterValues put a release on an external Redis Cluster (Bitnami's
// redis-cluster chart's headless names), with the passwords in an existing
// Secret.
const clusterValues = `
streamShards: 3
api: {replicas: 2, redisWaitReplicas: 1}
redis:
  auth: {existingSecret: redis-cluster-credentials}
  cluster:
    addrs:
      - redis-cluster-0.redis-cluster-headless:6379
      - redis-cluster-1.redis-cluster-headless:6379
      - redis-cluster-2.redis-cluster-headless:6379
`

// clusterAddrs are redis.cluster.addrs as rendered; none when the chart
// runs its own Redis.
func clusterAddrs(r *release) []string {
	v, _ := lookupValue(r.values, "redis.cluster.addrs")
	var out []string
	if l, ok := v.([]any); ok {
		for _, a := range l {
			out = append(out, fmt.Sprint(a))
		}
	}
	return out
}

// onCluster says the release uses an external Redis Cluster.
func onCluster(r *release) bool { return len(clusterAddrs(r)) > 0 }

// serviceUser is the ACL user a component logs in as: its own on the
// chart's Redis, redis.cluster.users' on a cluster ("" for the default user).
func serviceUser(r *release, comp string) string {
	if !onCluster(r) {
		return componentUser[comp]
	}
	v, _ := lookupValue(r.values, "redis.cluster.users."+comp)
	u, _ := v.(string)
	return u
}

func TestInvariants(t *testing.T) {
	for name, opts := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			r := render(t, opts)
			t.Run("workloads", func(t *testing.T) { checkWorkloads(t, r) })
			t.Run("rolls", func(t *testing.T) { checkRolls(t, r) })
			t.Run("selectors", func(t *testing.T) { checkSelectors(t, r) })
			t.Run("services", func(t *testing.T) { checkServices(t, r) })
			t.Run("env", func(t *testing.T) { checkEnv(t, r) })
			t.Run("probes", func(t *testing.T) { checkProbes(t, r) })
			t.Run("redis", func(t *testing.T) { checkRedis(t, r) })
			t.Run("secret", func(t *testing.T) { checkSecretRefs(t, r) })
			t.Run("acl", func(t *testing.T) { checkACL(t, r, renderedPasswords(t, r)) })
			t.Run("graphs", func(t *testing.T) { checkGraphs(t, r) })
			t.Run("security", func(t *testing.T) { checkSecurity(t, r) })
			t.Run("resources", func(t *testing.T) { checkResources(t, r) })
			t.Run("images", func(t *testing.T) { checkImages(t, r) })
			t.Run("pdb", func(t *testing.T) { checkPDBs(t, r) })
			t.Run("networkpolicy", func(t *testing.T) { checkNetworkPolicy(t, r) })
			t.Run("metrics", func(t *testing.T) { checkMetrics(t, r) })
			t.Run("tracing", func(t *testing.T) { checkTracing(t, r) })
			t.Run("notes", func(t *testing.T) { checkNotes(t, r) })
			t.Run("names", func(t *testing.T) { checkNames(t, r) })
		})
	}
}

func checkWorkloads(t *testing.T, r *release) {
	api := r.component(t, "api")
	if api.kind != "Deployment" {
		t.Errorf("api is a %s, want a Deployment", api.kind)
	}
	if want := intValue(t, r, "api.replicas"); api.replicas != int32(want) {
		t.Errorf("api replicas = %d, want api.replicas = %d", api.replicas, want)
	}
	// bayes must be a StatefulSet: its pod names are the consumer names.
	bayes := r.statefulSet(t, "bayes")
	if want := intValue(t, r, "bayes.replicas"); deref(bayes.Spec.Replicas, 1) != int32(want) {
		t.Errorf("bayes replicas = %d, want bayes.replicas = %d", deref(bayes.Spec.Replicas, 1), want)
	}
	c := container(t, bayes.Spec.Template.Spec, "bayes")
	cn := envVar(c, "CONSUMER_NAME")
	if cn == nil || cn.ValueFrom == nil || cn.ValueFrom.FieldRef == nil || cn.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("bayes CONSUMER_NAME = %+v, want the pod name (fieldRef metadata.name), stable in a StatefulSet", cn)
	}
	// Each StatefulSet's governing Service exists and is headless.
	for _, s := range r.statefulSets {
		svc := r.service(s.Spec.ServiceName)
		if svc == nil {
			t.Errorf("StatefulSet %s: serviceName %q is not rendered", s.Name, s.Spec.ServiceName)
			continue
		}
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("StatefulSet %s: governing Service %s is not headless", s.Name, svc.Name)
		}
		if !selects(svc.Spec.Selector, s.Spec.Template.Labels) {
			t.Errorf("StatefulSet %s: governing Service %s does not select its pods", s.Name, svc.Name)
		}
	}
	// The kubelet's grace period covers the preStop sleep, then the api's
	// drain (SHUTDOWN_DRAIN) and the shutdown itself (SHUTDOWN_TIMEOUT):
	// it must outlast them all.
	for _, comp := range []string{"api", "bayes"} {
		w := r.component(t, comp)
		c := container(t, w.template.Spec, comp)
		stop := preStopSleep(c) + envDuration(t, c, "SHUTDOWN_TIMEOUT")
		if envVar(c, "SHUTDOWN_DRAIN") != nil {
			stop += envDuration(t, c, "SHUTDOWN_DRAIN")
		}
		grace := time.Duration(deref(w.template.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
		if grace <= stop {
			t.Errorf("%s: terminationGracePeriodSeconds %v is not above preStop + SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT = %v", comp, grace, stop)
		}
		// Service links would inject variables such as <SVC>_PORT=tcp://...
		// into the binaries' environment.
		if w.template.Spec.EnableServiceLinks == nil || *w.template.Spec.EnableServiceLinks {
			t.Errorf("%s: enableServiceLinks is not false", comp)
		}
	}
}

// checkRolls: a rolling update must not fail requests. The api never runs
// fewer ready pods than wanted, a new pod counts only after staying ready a
// while, and a stopping pod keeps serving (preStop sleep) while it leaves
// the Service's endpoints.
func checkRolls(t *testing.T, r *release) {
	var api *appsv1.Deployment
	for _, d := range r.deployments {
		if d.Labels["app.kubernetes.io/component"] == "api" {
			api = d
		}
	}
	if api == nil {
		t.Fatal("no api Deployment")
	}
	ru := api.Spec.Strategy.RollingUpdate
	if api.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge == nil || ru.MaxSurge.IntValue() < 1 {
		t.Errorf("api strategy %+v, want RollingUpdate with maxUnavailable 0 and maxSurge >= 1", api.Spec.Strategy)
	}
	if want := intValue(t, r, "api.minReadySeconds"); api.Spec.MinReadySeconds != int32(want) {
		t.Errorf("api minReadySeconds %d, want api.minReadySeconds %d", api.Spec.MinReadySeconds, want)
	}
	// A new pod must pass more than one readiness probe before it counts.
	if c := container(t, api.Spec.Template.Spec, "api"); c.ReadinessProbe != nil && api.Spec.MinReadySeconds > 0 && api.Spec.MinReadySeconds <= c.ReadinessProbe.PeriodSeconds {
		t.Errorf("api minReadySeconds %d is not above the readiness period %ds: a pod counts after a single probe", api.Spec.MinReadySeconds, c.ReadinessProbe.PeriodSeconds)
	}
	if want := intValue(t, r, "bayes.minReadySeconds"); r.statefulSet(t, "bayes").Spec.MinReadySeconds != int32(want) {
		t.Errorf("bayes minReadySeconds %d, want bayes.minReadySeconds %d", r.statefulSet(t, "bayes").Spec.MinReadySeconds, want)
	}
	for _, comp := range []string{"api", "bayes"} {
		c := container(t, r.component(t, comp).template.Spec, comp)
		want := time.Duration(intValue(t, r, comp+".preStopSleepSeconds")) * time.Second
		if got := preStopSleep(c); got != want {
			t.Errorf("%s: preStop sleep %v, want %s.preStopSleepSeconds %v", comp, got, comp, want)
		}
		// The images are distroless: only the kubelet's own sleep works.
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && (c.Lifecycle.PreStop.Exec != nil || c.Lifecycle.PreStop.HTTPGet != nil) {
			t.Errorf("%s: preStop %+v is not a sleep action", comp, c.Lifecycle.PreStop)
		}
	}
}

// preStopSleep is the container's preStop sleep, 0 if it has none.
func preStopSleep(c *corev1.Container) time.Duration {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		return 0
	}
	return time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
}

func checkSelectors(t *testing.T, r *release) {
	for _, w := range r.workloads() {
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || w.selector == nil || sel.Empty() {
			t.Errorf("%s %s: selector %v is empty or invalid (%v)", w.kind, w.name, w.selector, err)
			continue
		}
		if !sel.Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%s %s: selector %v does not match its pod labels %v", w.kind, w.name, w.selector, w.template.Labels)
		}
		// No other workload's pods may fall under this selector.
		for _, o := range r.workloads() {
			if o.name != w.name && sel.Matches(labels.Set(o.template.Labels)) {
				t.Errorf("%s %s: selector also matches the pods of %s %s", w.kind, w.name, o.kind, o.name)
			}
		}
	}
}

func checkServices(t *testing.T, r *release) {
	for _, svc := range r.services {
		if len(svc.Spec.Selector) == 0 {
			t.Errorf("Service %s has no selector", svc.Name)
			continue
		}
		var targets []workload
		for _, w := range r.workloads() {
			if selects(svc.Spec.Selector, w.template.Labels) {
				targets = append(targets, w)
			}
		}
		if len(targets) != 1 {
			t.Errorf("Service %s selects %d workloads, want 1", svc.Name, len(targets))
			continue
		}
		w := targets[0]
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.Type != intstr.String {
				t.Errorf("Service %s port %s: targetPort %v is not a named port", svc.Name, p.Name, p.TargetPort)
				continue
			}
			cp := namedPort(w.template.Spec, p.TargetPort.StrVal)
			if cp == nil {
				t.Errorf("Service %s port %s: targetPort %q is no container port of %s", svc.Name, p.Name, p.TargetPort.StrVal, w.name)
				continue
			}
			if p.Protocol != cp.Protocol {
				t.Errorf("Service %s port %s: protocol %s, container port %s", svc.Name, p.Name, p.Protocol, cp.Protocol)
			}
			if svc.Spec.Type == corev1.ServiceTypeNodePort && p.NodePort != 0 && (p.NodePort < 30000 || p.NodePort > 32767) {
				t.Errorf("Service %s: nodePort %d outside 30000-32767", svc.Name, p.NodePort)
			}
		}
	}
	// The Services the README and NOTES name, on the ports the binaries use.
	for comp, port := range map[string]int{"api": intValue(t, r, "api.service.port"), "bayes": intValue(t, r, "bayes.service.port")} {
		name := fullname(r) + "-" + comp
		svc := r.service(name)
		if svc == nil {
			t.Errorf("no Service %s", name)
			continue
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != int32(port) || svc.Spec.Ports[0].Name != "http" {
			t.Errorf("Service %s ports %+v, want one port http:%d", name, svc.Spec.Ports, port)
		}
	}
}

func checkEnv(t *testing.T, r *release) {
	for _, comp := range []string{"api", "bayes"} {
		w := r.component(t, comp)
		c := container(t, w.template.Spec, comp)
		defined := map[string]bool{}
		known := concat(binaryVars(t, comp), otelVars, expansionOnlyVars, extraEnvNames(r, comp))
		for _, e := range c.Env {
			if defined[e.Name] {
				t.Errorf("%s: %s is set twice", comp, e.Name)
			}
			if !slices.Contains(known, e.Name) {
				t.Errorf("%s: env %s is not read by the %s binary (its config reads %v)", comp, e.Name, comp, binaryVars(t, comp))
			}
			// $(NAME) expands only variables defined earlier in the list.
			for _, m := range regexp.MustCompile(`\$\(([A-Z0-9_]+)\)`).FindAllStringSubmatch(e.Value, -1) {
				if !defined[m[1]] {
					t.Errorf("%s: %s refers to $(%s), not defined before it", comp, e.Name, m[1])
				}
			}
			defined[e.Name] = true
		}
		for _, helper := range expansionOnlyVars {
			if !defined[helper] {
				continue
			}
			used := false
			for _, e := range c.Env {
				used = used || strings.Contains(e.Value, "$("+helper+")")
			}
			if !used {
				t.Errorf("%s: helper variable %s is never expanded", comp, helper)
			}
		}
		// PORT matches the container port named http.
		port := namedPort(w.template.Spec, "http")
		if port == nil {
			t.Fatalf("%s: no container port named http", comp)
		}
		if got := envValue(c, "PORT"); got != strconv.Itoa(int(port.ContainerPort)) {
			t.Errorf("%s: PORT=%q but the http port is %d", comp, got, port.ContainerPort)
		}
		if port.ContainerPort != defaultPorts[comp] {
			t.Errorf("%s: port %d, want the image's EXPOSEd %d", comp, port.ContainerPort, defaultPorts[comp])
		}
		// Redis is reached through the chart's headless Service, or the
		// external cluster's seed nodes; never both (a start-up error).
		if onCluster(r) {
			if got, want := envValue(c, "REDIS_CLUSTER_ADDRS"), strings.Join(clusterAddrs(r), ","); got != want {
				t.Errorf("%s: REDIS_CLUSTER_ADDRS=%q, want redis.cluster.addrs %q", comp, got, want)
			}
			for _, v := range []string{"REDIS_HOST", "REDIS_PORT", "REDIS_DB"} {
				if envVar(c, v) != nil {
					t.Errorf("%s: %s set with REDIS_CLUSTER_ADDRS: the binary refuses to start", comp, v)
				}
			}
		} else {
			if got, want := envValue(c, "REDIS_HOST"), fullname(r)+"-redis"; got != want {
				t.Errorf("%s: REDIS_HOST=%q, want %q", comp, got, want)
			}
			if envVar(c, "REDIS_CLUSTER_ADDRS") != nil {
				t.Errorf("%s: REDIS_CLUSTER_ADDRS set without redis.cluster.addrs", comp)
			}
		}
		if envVar(c, "REDIS_URL") != nil {
			t.Errorf("%s: REDIS_URL set; the password must come from the Secret only", comp)
		}
		// Each service logs in as its own ACL user, with that user's
		// password from the Secret.
		user := componentUser[comp]
		if got, want := envValue(c, "REDIS_USERNAME"), serviceUser(r, comp); got != want || (want == "") != (envVar(c, "REDIS_USERNAME") == nil) {
			t.Errorf("%s: REDIS_USERNAME=%q, want its own ACL user %q", comp, got, want)
		}
		v := envVar(c, "REDIS_PASSWORD")
		if v == nil || v.Value != "" || v.ValueFrom == nil || v.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: REDIS_PASSWORD is not taken from a Secret: %+v", comp, v)
			continue
		}
		if ref := v.ValueFrom.SecretKeyRef; ref.Name != passwordSecretName(r) || ref.Key != redisUsers[user] {
			t.Errorf("%s: REDIS_PASSWORD from %s/%s, want %s/%s (the password of %s)", comp, ref.Name, ref.Key, passwordSecretName(r), redisUsers[user], user)
		}
	}
	api := container(t, r.component(t, "api").template.Spec, "api")
	bayes := container(t, r.component(t, "bayes").template.Spec, "bayes")
	if a, b := envValue(api, "REDIS_STREAM"), envValue(bayes, "REDIS_STREAM"); a == "" || a != b {
		t.Errorf("REDIS_STREAM differs: api %q, bayes %q", a, b)
	}
	// The shards: one value for both (a model's shard depends on it).
	if a, b, want := envValue(api, "STREAM_SHARDS"), envValue(bayes, "STREAM_SHARDS"), strconv.Itoa(intValue(t, r, "streamShards")); a != want || b != want {
		t.Errorf("STREAM_SHARDS: api %q, bayes %q, want streamShards %s for both", a, b, want)
	}
	if got, want := envValue(api, "REDIS_WAIT_REPLICAS"), strconv.Itoa(intValue(t, r, "api.redisWaitReplicas")); got != want {
		t.Errorf("api: REDIS_WAIT_REPLICAS=%q, want api.redisWaitReplicas %s", got, want)
	}
	if !onCluster(r) && (envValue(api, "STREAM_SHARDS") != "1" || envValue(api, "REDIS_WAIT_REPLICAS") != "0") {
		t.Errorf("the chart's own Redis with STREAM_SHARDS=%s and REDIS_WAIT_REPLICAS=%s; it has one shard's ACL rules and no replicas",
			envValue(api, "STREAM_SHARDS"), envValue(api, "REDIS_WAIT_REPLICAS"))
	}
	// Two users, two secrets: sharing one would give the api bayes' rights.
	if ak, bk := secretKey(api, "REDIS_PASSWORD"), secretKey(bayes, "REDIS_PASSWORD"); ak == bk {
		t.Errorf("api and bayes read the same password key %q", ak)
	}
}

func checkProbes(t *testing.T, r *release) {
	for _, comp := range []string{"api", "bayes"} {
		w := r.component(t, comp)
		c := container(t, w.template.Spec, comp)
		for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", comp, kind)
				continue
			}
			if !slices.Contains(servedProbePaths[comp], p.HTTPGet.Path) {
				t.Errorf("%s: %s probe path %q is not served (served: %v)", comp, kind, p.HTTPGet.Path, servedProbePaths[comp])
			}
			port := resolvePort(w.template.Spec, c, p.HTTPGet.Port)
			if port == 0 || strconv.Itoa(int(port)) != envValue(c, "PORT") {
				t.Errorf("%s: %s probe port %v is not the PORT the binary listens on (%s)", comp, kind, p.HTTPGet.Port.String(), envValue(c, "PORT"))
			}
			if p.TimeoutSeconds < 1 || p.PeriodSeconds < 1 || p.FailureThreshold < 1 {
				t.Errorf("%s: %s probe timings %+v", comp, kind, p.ProbeHandler)
			}
		}
		// Liveness must not depend on Redis (/readyz does): a Redis outage
		// would otherwise restart every replica.
		if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s: liveness probe on %s, want /healthz", comp, c.LivenessProbe.HTTPGet.Path)
		}
	}
}

func checkRedis(t *testing.T, r *release) {
	if onCluster(r) {
		// The cluster is external: nothing of a Redis of the chart's own.
		for _, w := range r.workloads() {
			if w.component == "redis" {
				t.Errorf("%s %s rendered with redis.cluster.addrs", w.kind, w.name)
			}
		}
		for _, name := range []string{fullname(r) + "-redis", aclSecretName(r)} {
			if r.service(name) != nil || secret(r, name) != nil {
				t.Errorf("%s rendered with redis.cluster.addrs: the chart runs no Redis", name)
			}
		}
		return
	}
	sts := r.statefulSet(t, "redis")
	if deref(sts.Spec.Replicas, 1) != 1 {
		t.Errorf("redis replicas = %d, want 1", deref(sts.Spec.Replicas, 1))
	}
	c := container(t, sts.Spec.Template.Spec, "redis")
	repo, _ := splitImage(c.Image)
	if repo != "docker.io/library/redis" && repo != "redis" {
		t.Errorf("redis image %q is not the official redis image", c.Image)
	}
	args := strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
	if !strings.Contains(args, "--appendonly yes") {
		t.Errorf("redis runs %q: AOF is not on", args)
	}
	// ACL users from a file, not one shared password: --requirepass would
	// set a password on the default user, which must stay off.
	if strings.Contains(args, "requirepass") {
		t.Errorf("redis runs %q: --requirepass with ACL users", args)
	}
	if aclFileArg(c) == "" {
		t.Errorf("redis runs %q: no --aclfile", args)
	}
	for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		cmd := ""
		if p != nil && p.Exec != nil {
			cmd = strings.Join(p.Exec.Command, " ")
		}
		if !strings.Contains(cmd, "redis-cli") || !strings.Contains(cmd, "ping") {
			t.Errorf("redis %s probe is not redis-cli ping: %+v", kind, p)
		}
		// The default user is off: redis-cli must name a user that may PING.
		if !strings.Contains(cmd, "--user edb-admin ") {
			t.Errorf("redis %s probe %q does not log in as edb-admin", kind, cmd)
		}
	}
	if v := envVar(c, "REDISCLI_AUTH"); v == nil || v.ValueFrom == nil || v.ValueFrom.SecretKeyRef == nil ||
		v.ValueFrom.SecretKeyRef.Name != passwordSecretName(r) || v.ValueFrom.SecretKeyRef.Key != redisUsers["edb-admin"] {
		t.Errorf("redis-cli in the probes does not get edb-admin's password from %s/%s (REDISCLI_AUTH): %+v", passwordSecretName(r), redisUsers["edb-admin"], v)
	}
	// /data is where AOF lives: a claim template when persistence is on.
	mount := mountAt(c, "/data")
	if mount == nil {
		t.Fatalf("redis has nothing mounted at /data")
	}
	persistent := boolValue(t, r, "redis.persistence.enabled")
	var tmpl *corev1.PersistentVolumeClaim
	for i := range sts.Spec.VolumeClaimTemplates {
		if sts.Spec.VolumeClaimTemplates[i].Name == mount.Name {
			tmpl = &sts.Spec.VolumeClaimTemplates[i]
		}
	}
	switch {
	case persistent && tmpl == nil:
		t.Errorf("redis /data (%s) is not a volumeClaimTemplate", mount.Name)
	case persistent:
		if q := tmpl.Spec.Resources.Requests[corev1.ResourceStorage]; q.IsZero() {
			t.Errorf("redis claim template requests no storage")
		}
		if deref(sts.Spec.PersistentVolumeClaimRetentionPolicy, appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}).WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Errorf("redis claims are not retained when the StatefulSet is deleted")
		}
	case tmpl != nil:
		t.Errorf("redis.persistence.enabled=false but /data is a claim template")
	default:
		if v := volume(sts.Spec.Template.Spec, mount.Name); v == nil || v.EmptyDir == nil {
			t.Errorf("redis.persistence.enabled=false: /data is not an emptyDir")
		}
	}
}

func checkSecretRefs(t *testing.T, r *release) {
	existing, _ := lookupValue(r.values, "redis.auth.existingSecret")
	ex, _ := existing.(string)
	for _, w := range r.workloads() {
		for _, c := range w.template.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if ref.Name != passwordSecretName(r) || !slices.Contains(slices.Collect(maps.Values(redisUsers)), ref.Key) {
					t.Errorf("%s/%s %s: secret %s/%s, want one of the password keys of %s", w.name, c.Name, e.Name, ref.Name, ref.Key, passwordSecretName(r))
					continue
				}
				if ex != "" {
					continue
				}
				s := secret(r, ref.Name)
				if s == nil {
					t.Errorf("%s/%s %s: Secret %s is not rendered", w.name, c.Name, e.Name, ref.Name)
					continue
				}
				if len(s.Data[ref.Key]) < 16 {
					t.Errorf("Secret %s key %s: %d bytes, want a generated password", s.Name, ref.Key, len(s.Data[ref.Key]))
				}
			}
		}
	}
	// The chart renders the ACL file's Secret, and the passwords' Secret
	// unless an existing one holds them; neither for an external cluster
	// (whose passwords always are in an existing Secret).
	var want []string
	if !onCluster(r) {
		want = append(want, aclSecretName(r))
	}
	if ex == "" {
		want = append(want, passwordSecretName(r))
	}
	// And the api's tokens file, when tokens are on without an existing
	// Secret (auth_test.go).
	if boolValue(t, r, "api.auth.enabled") {
		if tex, _ := lookupValue(r.values, "api.auth.existingSecret"); tex == "" {
			want = append(want, tokensSecretName(r))
		}
	}
	var got []string
	for _, s := range r.secrets {
		got = append(got, s.Name)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("rendered Secrets %v, want %v", got, want)
	}
	if s := secret(r, passwordSecretName(r)); s != nil {
		if s.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("Secret %s is deleted on uninstall while the Redis data it protects is kept", s.Name)
		}
		if len(s.Data) != len(redisUsers) {
			t.Errorf("Secret %s has keys %v, want exactly %v", s.Name, slices.Sorted(maps.Keys(s.Data)), slices.Sorted(maps.Values(redisUsers)))
		}
	}
}

func checkGraphs(t *testing.T, r *release) {
	sts := r.statefulSet(t, "bayes")
	c := container(t, sts.Spec.Template.Spec, "bayes")
	dir := envValue(c, "GRAPHS_DIR")
	if dir == "" || !strings.HasPrefix(dir, "/") {
		t.Fatalf("GRAPHS_DIR=%q, want an absolute path", dir)
	}
	mount := mountAt(c, dir)
	if mount == nil {
		t.Fatalf("nothing is mounted at GRAPHS_DIR=%s (the root file system is read-only)", dir)
	}
	if mount.ReadOnly {
		t.Errorf("graphs mount is read-only")
	}
	// One claim shared by every replica (not a per-pod claim template): the
	// plots are one set whatever the replica count.
	if len(sts.Spec.VolumeClaimTemplates) > 0 {
		t.Errorf("bayes has volumeClaimTemplates: each replica would draw into its own volume")
	}
	v := volume(sts.Spec.Template.Spec, mount.Name)
	if v == nil {
		t.Fatalf("graphs volume %s is not declared", mount.Name)
	}
	if !boolValue(t, r, "graphs.persistence.enabled") {
		if v.EmptyDir == nil {
			t.Errorf("graphs.persistence.enabled=false: want an emptyDir, got %+v", v.VolumeSource)
		}
		return
	}
	if v.PersistentVolumeClaim == nil {
		t.Fatalf("graphs volume is not a claim: %+v", v.VolumeSource)
	}
	claimName := v.PersistentVolumeClaim.ClaimName
	var claim *corev1.PersistentVolumeClaim
	for _, pvc := range r.claims {
		if pvc.Name == claimName {
			claim = pvc
		}
	}
	if existing, _ := lookupValue(r.values, "graphs.persistence.existingClaim"); existing != "" {
		if claimName != existing {
			t.Errorf("graphs claim %s, want the existing %v", claimName, existing)
		}
		return
	}
	if claim == nil {
		t.Fatalf("graphs claim %s is not rendered", claimName)
	}
	if deref(sts.Spec.Replicas, 1) > 1 && !slices.Contains(claim.Spec.AccessModes, corev1.ReadWriteMany) {
		t.Errorf("%d bayes replicas share claim %s with access modes %v, want ReadWriteMany", deref(sts.Spec.Replicas, 1), claimName, claim.Spec.AccessModes)
	}
	if hp, _ := lookupValue(r.values, "graphs.persistence.hostPath"); hp != "" {
		if len(r.volumes) != 1 {
			t.Fatalf("hostPath %v: want one PersistentVolume, got %d", hp, len(r.volumes))
		}
		pv := r.volumes[0]
		if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != hp {
			t.Errorf("PersistentVolume %s: hostPath %+v, want %v", pv.Name, pv.Spec.HostPath, hp)
		}
		if claim.Spec.VolumeName != pv.Name || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != claim.Name || pv.Spec.ClaimRef.Namespace != r.namespace {
			t.Errorf("claim %s and volume %s are not bound to each other", claim.Name, pv.Name)
		}
		if deref(claim.Spec.StorageClassName, "unset") != "" || pv.Spec.StorageClassName != "" {
			t.Errorf("hostPath claim must have storageClassName \"\" so no provisioner takes it")
		}
	} else if len(r.volumes) > 0 {
		t.Errorf("PersistentVolumes rendered without graphs.persistence.hostPath")
	}
}

func checkSecurity(t *testing.T, r *release) {
	for _, w := range r.workloads() {
		spec := w.template.Spec
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken is not false", w.name)
		}
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("%s: pod is not runAsNonRoot", w.name)
		}
		if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: pod runAsUser unset or root", w.name)
		}
		if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod seccomp profile is not RuntimeDefault", w.name)
		}
		if spec.HostNetwork || spec.HostPID || spec.HostIPC {
			t.Errorf("%s: shares a host namespace", w.name)
		}
		for _, v := range spec.Volumes {
			if v.HostPath != nil {
				t.Errorf("%s: volume %s is a hostPath in the pod spec", w.name, v.Name)
			}
		}
		for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Errorf("%s/%s: no securityContext", w.name, c.Name)
				continue
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Errorf("%s/%s: privilege escalation allowed", w.name, c.Name)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Errorf("%s/%s: root file system is writable", w.name, c.Name)
			case sc.Privileged != nil && *sc.Privileged:
				t.Errorf("%s/%s: privileged", w.name, c.Name)
			case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
				t.Errorf("%s/%s: capabilities %+v, want drop [ALL] and no add", w.name, c.Name, sc.Capabilities)
			case sc.RunAsUser != nil && *sc.RunAsUser == 0:
				t.Errorf("%s/%s: runs as root", w.name, c.Name)
			}
		}
	}
	for _, sa := range r.serviceAccounts {
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s mounts its token", sa.Name)
		}
	}
}

func checkResources(t *testing.T, r *release) {
	for _, w := range r.workloads() {
		for _, c := range w.template.Spec.Containers {
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[res]
				lim, okLim := c.Resources.Limits[res]
				if !okReq || !okLim || req.IsZero() || lim.IsZero() {
					t.Errorf("%s/%s: %s request %v / limit %v, want both", w.name, c.Name, res, req.String(), lim.String())
					continue
				}
				if req.Cmp(lim) > 0 {
					t.Errorf("%s/%s: %s request %s above limit %s", w.name, c.Name, res, req.String(), lim.String())
				}
			}
		}
	}
}

func checkImages(t *testing.T, r *release) {
	appVersion := loadChart(t).Metadata.AppVersion
	for _, w := range r.workloads() {
		for _, c := range w.template.Spec.Containers {
			repo, tag := splitImage(c.Image)
			if repo == "" || tag == "" || tag == "latest" {
				t.Errorf("%s/%s: image %q has no pinned tag", w.name, c.Name, c.Image)
			}
			if strings.ContainsAny(c.Image, " {}<>") {
				t.Errorf("%s/%s: image %q is not a reference", w.name, c.Name, c.Image)
			}
			if w.component != "api" && w.component != "bayes" {
				continue
			}
			wantRepo, _ := lookupValue(r.values, w.component+".image.repository")
			wantTag, _ := lookupValue(r.values, w.component+".image.tag")
			if wantTag == "" || wantTag == nil {
				wantTag = appVersion
			}
			if c.Image != fmt.Sprintf("%v:%v", wantRepo, wantTag) {
				t.Errorf("%s image %q, want %v:%v (tag defaulting to appVersion %s)", w.component, c.Image, wantRepo, wantTag, appVersion)
			}
		}
	}
}

func checkPDBs(t *testing.T, r *release) {
	for _, comp := range []string{"api", "bayes"} {
		w := r.component(t, comp)
		var pdbs int
		for _, p := range r.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err != nil {
				t.Errorf("PDB %s: %v", p.Name, err)
				continue
			}
			if sel.Matches(labels.Set(w.template.Labels)) {
				pdbs++
			}
		}
		want := 0
		if w.replicas > 1 {
			want = 1
		}
		if pdbs != want {
			t.Errorf("%s with %d replicas has %d PodDisruptionBudgets, want %d", comp, w.replicas, pdbs, want)
		}
	}
	for _, p := range r.pdbs {
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			t.Errorf("PDB %s: want exactly one of minAvailable, maxUnavailable", p.Name)
		}
		matched := false
		for _, w := range r.workloads() {
			matched = matched || selectsLS(p.Spec.Selector, w.template.Labels)
		}
		if !matched {
			t.Errorf("PDB %s selects no pods", p.Name)
		}
	}
}

func checkNetworkPolicy(t *testing.T, r *release) {
	if !boolValue(t, r, "redis.networkPolicy.enabled") || onCluster(r) {
		if len(r.netpols) > 0 {
			t.Errorf("networkPolicy disabled (or no Redis of the chart's own) but rendered")
		}
		return
	}
	redis := r.component(t, "redis")
	var pol int
	for _, np := range r.netpols {
		if !selectsLS(&np.Spec.PodSelector, redis.template.Labels) {
			continue
		}
		pol++
		if !slices.Contains(np.Spec.PolicyTypes, "Ingress") {
			t.Errorf("NetworkPolicy %s does not restrict ingress", np.Name)
		}
		allowed := map[string]bool{}
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s: a rule admits every source", np.Name)
			}
			for _, peer := range rule.From {
				if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil {
					t.Errorf("NetworkPolicy %s: peer %+v is not a pod selector of this namespace", np.Name, peer)
					continue
				}
				if sel, _ := metav1.LabelSelectorAsSelector(peer.PodSelector); sel == nil || sel.Empty() {
					t.Errorf("NetworkPolicy %s: a peer selects every pod", np.Name)
					continue
				}
				for _, w := range r.workloads() {
					if selectsLS(peer.PodSelector, w.template.Labels) {
						allowed[w.component] = true
					}
				}
			}
			for _, p := range rule.Ports {
				if p.Port == nil || resolvePort(redis.template.Spec, &redis.template.Spec.Containers[0], *p.Port) != int32(intValue(t, r, "redis.port")) {
					t.Errorf("NetworkPolicy %s: port %v is not Redis' port", np.Name, p.Port)
				}
			}
		}
		if want := map[string]bool{"api": true, "bayes": true}; !mapsEqual(allowed, want) {
			t.Errorf("NetworkPolicy %s admits %v, want exactly api and bayes", np.Name, allowed)
		}
	}
	if pol != 1 {
		t.Errorf("%d NetworkPolicies select the Redis pods, want 1", pol)
	}
}

func checkMetrics(t *testing.T, r *release) {
	enabled := boolValue(t, r, "metrics.enabled")
	path, _ := lookupValue(r.values, "metrics.path")
	for _, comp := range []string{"api", "bayes"} {
		w := r.component(t, comp)
		a := w.template.Annotations
		if !enabled {
			if _, ok := a["prometheus.io/scrape"]; ok {
				t.Errorf("%s: scrape annotation with metrics.enabled=false", comp)
			}
			continue
		}
		c := container(t, w.template.Spec, comp)
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != envValue(c, "PORT") || a["prometheus.io/path"] != path {
			t.Errorf("%s: scrape annotations %v, want scrape=true port=%s path=%v", comp, a, envValue(c, "PORT"), path)
		}
	}
	smOn := enabled && boolValue(t, r, "metrics.serviceMonitor.enabled")
	if !smOn {
		if len(r.serviceMonitors) > 0 {
			t.Errorf("ServiceMonitor rendered while disabled (its CRD may not exist)")
		}
		return
	}
	if len(r.serviceMonitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(r.serviceMonitors))
	}
	sm := r.serviceMonitors[0]
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{r.namespace}) {
		t.Errorf("ServiceMonitor watches namespaces %v, want [%s]", sm.Spec.NamespaceSelector.MatchNames, r.namespace)
	}
	var scraped []string
	for _, svc := range r.services {
		if selectsLS(&sm.Spec.Selector, svc.Labels) {
			scraped = append(scraped, svc.Name)
			for _, ep := range sm.Spec.Endpoints {
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
					t.Errorf("ServiceMonitor endpoint port %q is not a port of Service %s", ep.Port, svc.Name)
				}
			}
		}
	}
	slices.Sort(scraped)
	if want := []string{fullname(r) + "-api", fullname(r) + "-bayes"}; !slices.Equal(scraped, want) {
		t.Errorf("ServiceMonitor selects Services %v, want %v (each pod scraped once)", scraped, want)
	}
	for _, ep := range sm.Spec.Endpoints {
		if ep.Path != path {
			t.Errorf("ServiceMonitor path %q, want %v", ep.Path, path)
		}
	}
}

func checkTracing(t *testing.T, r *release) {
	on := boolValue(t, r, "tracing.enabled")
	endpoint, _ := lookupValue(r.values, "tracing.endpoint")
	for _, comp := range []string{"api", "bayes"} {
		c := container(t, r.component(t, comp).template.Spec, comp)
		var otel []string
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, "OTEL_") {
				otel = append(otel, e.Name)
			}
		}
		if !on {
			if len(otel) > 0 {
				t.Errorf("%s: tracing disabled but %v set", comp, otel)
			}
			continue
		}
		if got := envValue(c, "OTEL_EXPORTER_OTLP_ENDPOINT"); got != endpoint {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT=%q, want %v", comp, got, endpoint)
		}
		if got := envValue(c, "OTEL_SERVICE_NAME"); got != comp {
			t.Errorf("%s: OTEL_SERVICE_NAME=%q", comp, got)
		}
		if envValue(c, "OTEL_TRACES_SAMPLER") == "" {
			t.Errorf("%s: OTEL_TRACES_SAMPLER unset", comp)
		}
	}
}

func checkNotes(t *testing.T, r *release) {
	wants := []string{"port-forward svc/" + fullname(r) + "-api", "port-forward svc/" + fullname(r) + "-bayes",
		"curl -X POST localhost:", "/update_model/w", "/model", "-n " + r.namespace}
	if onCluster(r) {
		// Where the cluster is, its shards, and how to load the users.
		wants = append(wants, strings.Join(clusterAddrs(r), ","), "redis.cluster.addrs", "streamShards",
			"Secret "+passwordSecretName(r), "users-cluster.acl", "ACL SETUSER edb-api", "ACL SETUSER edb-bayes")
		if intValue(t, r, "api.redisWaitReplicas") > 0 {
			wants = append(wants, "api.redisWaitReplicas")
		}
		for _, unwanted := range []string{"statefulset/" + fullname(r) + "-redis", "exec -it statefulset", "admin-password"} {
			if strings.Contains(r.notes, unwanted) {
				t.Errorf("NOTES.txt names %q, which a release on an external cluster does not have:\n%s", unwanted, r.notes)
			}
		}
	} else {
		wants = append(wants, "redis-cli --user edb-admin", "secret "+passwordSecretName(r)+" -o jsonpath='{.data.admin-password}'")
	}
	for _, want := range wants {
		if !strings.Contains(r.notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, r.notes)
		}
	}
	// Every command it prints names a rendered Service and one of its ports,
	// and the local ports are the ones the curl lines use.
	forwards := regexp.MustCompile(`port-forward svc/(\S+) (\d+):(\d+)`).FindAllStringSubmatch(r.notes, -1)
	if len(forwards) != 2 {
		t.Errorf("NOTES.txt has %d port-forward commands, want 2 (api and bayes)", len(forwards))
	}
	local := map[string]string{}
	for _, m := range forwards {
		svc := r.service(m[1])
		remote, _ := strconv.Atoi(m[3])
		if svc == nil || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == remote }) {
			t.Errorf("NOTES.txt forwards %s:%s, which is not a rendered Service port", m[1], m[3])
			continue
		}
		local[svc.Labels["app.kubernetes.io/component"]] = m[2]
	}
	for comp, port := range local {
		verb := map[string]string{"api": "curl -X POST localhost:", "bayes": "curl localhost:"}[comp]
		if !strings.Contains(r.notes, verb+port+"/") {
			t.Errorf("NOTES.txt forwards %s to local port %s but its commands do not use it", comp, port)
		}
	}
	if boolValue(t, r, "tests.enabled") && !strings.Contains(r.notes, "helm test "+r.name+" -n "+r.namespace) {
		t.Errorf("NOTES.txt does not say how to run helm test")
	}
	if strings.Contains(r.notes, "<no value>") {
		t.Errorf("NOTES.txt prints <no value>:\n%s", r.notes)
	}
}

// checkNames applies the API server's syntax rules for the names the typed
// decode cannot judge: labels, port names, env names.
func checkNames(t *testing.T, r *release) {
	checkLabels := func(what string, l map[string]string) {
		for k, v := range l {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				t.Errorf("%s: label key %q: %v", what, k, errs)
			}
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("%s: label %s=%q: %v", what, k, v, errs)
			}
		}
	}
	for _, w := range r.workloads() {
		checkLabels(w.name, w.template.Labels)
		for _, c := range w.template.Spec.Containers {
			for _, p := range c.Ports {
				if errs := validation.IsValidPortName(p.Name); len(errs) > 0 {
					t.Errorf("%s/%s: port name %q: %v", w.name, c.Name, p.Name, errs)
				}
			}
			for _, e := range c.Env {
				if errs := validation.IsEnvVarName(e.Name); len(errs) > 0 {
					t.Errorf("%s/%s: env %q: %v", w.name, c.Name, e.Name, errs)
				}
			}
		}
	}
	for _, svc := range r.services {
		checkLabels("Service "+svc.Name, svc.Labels)
		for _, p := range svc.Spec.Ports {
			if errs := validation.IsValidPortName(p.Name); len(errs) > 0 {
				t.Errorf("Service %s: port name %q: %v", svc.Name, p.Name, errs)
			}
		}
	}
	for _, cm := range r.configMaps {
		checkLabels("ConfigMap "+cm.Name, cm.Labels)
		for k := range cm.Data {
			if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
				t.Errorf("ConfigMap %s: key %q: %v", cm.Name, k, errs)
			}
		}
	}
}

// The defaults must need no cluster-specific storage: RWO, one replica.
func TestDefaultsRenderPersistentSingleReplica(t *testing.T) {
	r := render(t, renderOpts{})
	if len(r.claims) != 1 || !slices.Equal(r.claims[0].Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("default graphs claim: %+v", r.claims)
	}
	if n := len(r.statefulSet(t, "redis").Spec.VolumeClaimTemplates); n != 1 {
		t.Errorf("default redis has %d claim templates", n)
	}
	if len(r.pdbs) != 0 || len(r.serviceMonitors) != 0 || len(r.volumes) != 0 {
		t.Errorf("defaults render PDBs %d, ServiceMonitors %d, PVs %d; want none", len(r.pdbs), len(r.serviceMonitors), len(r.volumes))
	}
}

// Several bayes replicas on a claim other nodes cannot mount would leave
// pods Pending; the chart refuses to render that.
func TestSharedGraphsNeedReadWriteMany(t *testing.T) {
	_, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, `bayes: {replicas: 2}`)})
	if err == nil || !strings.Contains(err.Error(), "ReadWriteMany") {
		t.Fatalf("bayes.replicas=2 on a ReadWriteOnce claim: err = %v, want a failure naming ReadWriteMany", err)
	}
	for _, ok := range []string{
		"bayes: {replicas: 2}\ngraphs: {persistence: {existingClaim: shared-plots}}",
		"bayes: {replicas: 2}\ngraphs: {persistence: {enabled: false}}",
	} {
		if _, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, ok)}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// values.schema.json rejects a misspelt or unknown value instead of
// ignoring it, and a value of the wrong type.
func TestSchemaRejectsBadValues(t *testing.T) {
	for _, bad := range []string{
		"api: {replica: 3}",
		"bayes: {logLevel: verbose}",
		"redis: {appendfsync: sometimes}",
		"graphs: {dir: graphs}",
		"tracing: {enable: true}",
		"redis: {auth: {existingSecretPasswordKey: password}}",
		"redis: {auth: {existingSecret: Redis_Credentials}}",
		"bayes: {claimMinIdle: 30}",
		"unknownTopLevel: 1",
		"api: {extraEnv: [{value: x}]}",
		"api: {extraEnv: [{name: X, valuefrom: {fieldRef: {fieldPath: metadata.name}}}]}",
		"redis: {extraEnv: {TZ: UTC}}",
		"api: {preStopSleepSeconds: -1}",
		"api: {rateLimit: -1}",
		"api: {maxRequestBytes: 0}",
		"api: {shutdownDrain: 3}",
		`api: {pprofAddr: "0.0.0.0:6060"}`, // profiles stay on the pod's loopback
		"bayes: {graphsMinInterval: 500}",
		"bayes: {livePollInterval: fast}",
		"tests: {enable: true}",
		"streamShards: 0",
		"streamShards: 257",
		`streamShards: "3"`,
		"api: {redisWaitReplicas: -1}",
		"redis: {cluster: {addrs: [redis-cluster-0]}}",     // no port
		`redis: {cluster: {addrs: ["a:6379,b:6379"]}}`,     // one list item per node
		"redis: {cluster: {addrs: redis-cluster-0:6379}}",  // a list
		"redis: {cluster: {addr: [redis-cluster-0:6379]}}", // misspelt
		"redis: {cluster: {users: {api: edb-api, bayes: edb-bayes, admin: edb-admin}}}",
	} {
		if _, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, bad)}); err == nil {
			t.Errorf("values %q rendered; want a schema error", bad)
		}
	}
}

// The decoder the invariants rely on must itself be strict.
func TestDecodeStrictRejectsUnknownFields(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{name: http, port: 80, targetport: http}]}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x, name: y}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: c, securityContext: {readOnlyRootFileSystem: true}}]}}}\n",
	} {
		r := &release{}
		if _, err := r.add([]byte(doc)); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
}

// The dashboard ConfigMap carries every files/dashboards/*.json under the
// sidecar's label. Checked with a file added in memory, so it holds
// whether or not the folder has dashboards yet.
func TestDashboardConfigMap(t *testing.T) {
	dash := []byte(`{"title": "test", "panels": []}`)
	r := render(t, renderOpts{extraFiles: []*chart.File{{Name: "files/dashboards/zz-charttest.json", Data: dash}}})
	if len(r.configMaps) != 1 {
		t.Fatalf("want one dashboards ConfigMap, got %d", len(r.configMaps))
	}
	cm := r.configMaps[0]
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboards ConfigMap labels %v lack grafana_dashboard: \"1\"", cm.Labels)
	}
	if cm.Data["zz-charttest.json"] != string(dash) {
		t.Errorf("dashboard not carried verbatim: %q", cm.Data["zz-charttest.json"])
	}
	for name, content := range cm.Data {
		if !json.Valid([]byte(content)) {
			t.Errorf("dashboard %s is not JSON", name)
		}
	}
	off := render(t, renderOpts{
		values:     valuesFrom(t, "metrics: {grafanaDashboard: {enabled: false}}"),
		extraFiles: []*chart.File{{Name: "files/dashboards/zz-charttest.json", Data: dash}},
	})
	if len(off.configMaps) != 0 {
		t.Errorf("grafanaDashboard.enabled=false still renders %d ConfigMaps", len(off.configMaps))
	}
}

// The probe paths pinned above are still served: a rename fails here, not
// on a cluster.
func TestPinnedProbePathsMatchSources(t *testing.T) {
	for bin, paths := range servedProbePaths {
		src := goSources(t, "services/"+bin, "services/platform")
		for _, p := range paths {
			if !strings.Contains(src, p+`"`) {
				t.Errorf("%s: probe path %s is not in its sources", bin, p)
			}
		}
	}
}

// helpers

// extraEnvNames are the names a value set adds with <comp>.extraEnv: the
// user's own variables, not the binary's.
func extraEnvNames(r *release, comp string) []string {
	v, _ := lookupValue(r.values, comp+".extraEnv")
	list, _ := v.([]any)
	var names []string
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				names = append(names, n)
			}
		}
	}
	return names
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func fullname(r *release) string {
	if r.name == "event-driven-bayes" || strings.Contains(r.name, "event-driven-bayes") {
		return r.name
	}
	return r.name + "-event-driven-bayes"
}

func container(t *testing.T, spec corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("no container %q", name)
	return nil
}

func envVar(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// secretKey is the Secret key an env var is taken from, "" if none.
func secretKey(c *corev1.Container, name string) string {
	if e := envVar(c, name); e != nil && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
		return e.ValueFrom.SecretKeyRef.Key
	}
	return ""
}

func envValue(c *corev1.Container, name string) string {
	if e := envVar(c, name); e != nil {
		return e.Value
	}
	return ""
}

func envDuration(t *testing.T, c *corev1.Container, name string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(envValue(c, name))
	if err != nil {
		t.Fatalf("%s: %s: %v", c.Name, name, err)
	}
	return d
}

func namedPort(spec corev1.PodSpec, name string) *corev1.ContainerPort {
	for _, c := range spec.Containers {
		for i := range c.Ports {
			if c.Ports[i].Name == name {
				return &c.Ports[i]
			}
		}
	}
	return nil
}

// resolvePort turns a probe's or policy's port (number or name) into the
// container port number, 0 if it names nothing.
func resolvePort(spec corev1.PodSpec, c *corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	if cp := namedPort(spec, p.StrVal); cp != nil {
		return cp.ContainerPort
	}
	return 0
}

func mountAt(c *corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if strings.TrimSuffix(c.VolumeMounts[i].MountPath, "/") == strings.TrimSuffix(path, "/") {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func volume(spec corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

func secret(r *release, name string) *corev1.Secret {
	for _, s := range r.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func selects(selector, podLabels map[string]string) bool {
	return len(selector) > 0 && labels.SelectorFromSet(selector).Matches(labels.Set(podLabels))
}

func selectsLS(ls *metav1.LabelSelector, l map[string]string) bool {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	return err == nil && !sel.Empty() && sel.Matches(labels.Set(l))
}

// splitImage splits repo[:tag][@digest] into repository and tag (with any
// digest); a registry port (host:5000/x) is not a tag.
func splitImage(image string) (repo, tag string) {
	ref, digest, _ := strings.Cut(image, "@")
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash {
		return ref, ""
	}
	repo, tag = ref[:colon], ref[colon+1:]
	if digest != "" {
		tag += "@" + digest
	}
	return repo, tag
}

func intValue(t *testing.T, r *release, path string) int {
	t.Helper()
	v, ok := lookupValue(r.values, path)
	if !ok {
		t.Fatalf("no value %s", path)
	}
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			t.Fatal(err)
		}
		return int(i)
	}
	t.Fatalf("value %s = %#v is not a number", path, v)
	return 0
}

func boolValue(t *testing.T, r *release, path string) bool {
	t.Helper()
	v, ok := lookupValue(r.values, path)
	b, isBool := v.(bool)
	if !ok || !isBool {
		t.Fatalf("value %s = %#v is not a bool", path, v)
	}
	return b
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
