{{/*
Names. The release's fullname prefixes every object; components append
-api, -bayes, -redis, -graphs.
*/}}
{{- define "edb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "edb.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "edb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names per component; StatefulSet names leave room for "-NN". */}}
{{- define "edb.api.fullname" -}}{{ include "edb.fullname" . | trunc 55 | trimSuffix "-" }}-api{{- end }}
{{- define "edb.bayes.fullname" -}}{{ include "edb.fullname" . | trunc 50 | trimSuffix "-" }}-bayes{{- end }}
{{- define "edb.redis.fullname" -}}{{ include "edb.fullname" . | trunc 50 | trimSuffix "-" }}-redis{{- end }}

{{/*
Labels. Call with (dict "ctx" $ "component" "api").
*/}}
{{- define "edb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edb.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "edb.labels" -}}
helm.sh/chart: {{ include "edb.chart" .ctx }}
{{ include "edb.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ include "edb.name" .ctx }}
{{- end }}

{{/*
Image reference: repository:tag, the tag defaulting to the chart's
appVersion. A tag may carry a digest (tag@sha256:...), as skaffold sets it.
Call with (dict "ctx" $ "image" .Values.api.image).
*/}}
{{- define "edb.image" -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}

{{- define "edb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "edb.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret with the three Redis passwords (keys api-password, bayes-password,
admin-password): redis.auth.existingSecret, or the one the chart generates.
*/}}
{{- define "edb.redis.secretName" -}}
{{- default (include "edb.redis.fullname" .) .Values.redis.auth.existingSecret }}
{{- end }}

{{/*
The Secret with the api's tokens file (key "tokens"): api.auth.existingSecret,
or the one the chart generates (api-tokens-secret.yaml).
*/}}
{{- define "edb.api.tokensSecretName" -}}
{{- default (printf "%s-tokens" (include "edb.api.fullname" .)) .Values.api.auth.existingSecret }}
{{- end }}

{{/* Where the api's tokens file is mounted, and the file API_TOKENS_FILE names. */}}
{{- define "edb.api.tokensDir" -}}/etc/edb-api/tokens{{- end }}
{{- define "edb.api.tokensFile" -}}{{ include "edb.api.tokensDir" . }}/tokens{{- end }}

{{/* The Secret with the rendered ACL file, always the chart's own. */}}
{{- define "edb.redis.aclSecretName" -}}
{{ include "edb.redis.fullname" . }}-acl
{{- end }}

{{/*
The Redis variables api and bayes both read (platform/redisconf): host and
port of the headless Service, the component's own ACL user, and that user's
password from the Secret. REDIS_URL is not used so the password never
appears in a value. With redis.cluster.addrs, the cluster's seed nodes
(REDIS_CLUSTER_ADDRS) and redis.cluster.users' user instead of the
Service. STREAM_SHARDS is here too: both must agree on it. Call with
(dict "ctx" $ "component" "api" "user" "edb-api" "key" "api-password").
*/}}
{{- define "edb.redisEnv" -}}
{{- $cl := .ctx.Values.redis.cluster }}
{{- if $cl.addrs }}
- name: REDIS_CLUSTER_ADDRS
  value: {{ join "," $cl.addrs | quote }}
{{- with index $cl.users .component }}
- name: REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- else }}
- name: REDIS_HOST
  value: {{ include "edb.redis.fullname" .ctx | quote }}
- name: REDIS_PORT
  value: {{ .ctx.Values.redis.port | quote }}
- name: REDIS_DB
  value: "0"
- name: REDIS_USERNAME
  value: {{ .user | quote }}
{{- end }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "edb.redis.secretName" .ctx }}
      key: {{ .key }}
- name: REDIS_STREAM
  value: {{ .ctx.Values.redis.stream | quote }}
- name: STREAM_SHARDS
  value: {{ .ctx.Values.streamShards | int | quote }}
{{- end }}

{{/*
Standard OpenTelemetry variables, only when tracing is enabled.
Call with (dict "ctx" $ "service" "api").
*/}}
{{- define "edb.otelEnv" -}}
{{- if .ctx.Values.tracing.enabled }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .ctx.Values.tracing.endpoint | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .ctx.Values.tracing.sampler | quote }}
{{- with .ctx.Values.tracing.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.pod.name=$(K8S_POD_NAME),k8s.namespace.name={{ .ctx.Release.Namespace }},service.version={{ .ctx.Chart.AppVersion }}"
{{- end }}
{{- end }}

{{/*
Pod annotations for Prometheus' kubernetes-pods discovery.
Call with (dict "ctx" $ "port" 8000).
*/}}
{{- define "edb.scrapeAnnotations" -}}
{{- if .ctx.Values.metrics.enabled }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: {{ .ctx.Values.metrics.path | quote }}
{{- end }}
{{- end }}

{{/* An HTTP probe on the container's named port. */}}
{{- define "edb.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end }}

{{/* The claim bayes mounts at graphs.dir. */}}
{{- define "edb.graphs.claimName" -}}
{{- default (printf "%s-graphs" (include "edb.fullname" .)) .Values.graphs.persistence.existingClaim }}
{{- end }}

{{/*
A container's env: the chart's own entries (YAML list in .env), then the
component's extraEnv. Call with
(dict "component" "api" "env" (include "edb.api.env" $) "extra" $c.extraEnv).

An extraEnv entry may not name a variable the chart sets, nor repeat
another extraEnv entry: with two entries of one name the last silently wins
(kubectl apply even merges them by name), so a value that looks set would
not be the one the binary reads. The render fails naming the variable; the
fix is the chart's value for it.
*/}}
{{- define "edb.env" -}}
{{- $own := .env | fromYamlArray }}
{{- $extra := .extra | default list }}
{{- $names := dict }}
{{- range $own }}
{{- $_ := set $names .name "chart" }}
{{- end }}
{{- range $extra }}
{{- if not (and (kindIs "map" .) .name) }}
{{- fail (printf "%s.extraEnv: every entry needs a name (an EnvVar object such as {name: TZ, value: UTC}), got %v" $.component .) }}
{{- end }}
{{- if hasKey $names .name }}
{{- if eq (get $names .name) "chart" }}
{{- fail (printf "%s.extraEnv: %s is set by the chart already; set it through the chart's value for it (values.yaml, %s.*) instead of extraEnv" $.component .name $.component) }}
{{- end }}
{{- fail (printf "%s.extraEnv: %s is listed twice" $.component .name) }}
{{- end }}
{{- $_ := set $names .name "extraEnv" }}
{{- end }}
{{- concat $own $extra | toYaml }}
{{- end }}

{{/*
Duration string (a Go duration such as 10s or 1m30s, as the schema's
pattern allows) to seconds, a float. Sprig has no ParseDuration, but
dateModify parses with it: the difference of two times is the duration.
*/}}
{{- define "edb.seconds" -}}
{{- $t0 := now }}
{{- $t1 := mustDateModify . $t0 }}
{{- ($t1.Sub $t0).Seconds }}
{{- end }}

{{/*
The kubelet's budget for stopping a pod, terminationGracePeriodSeconds,
covers the preStop sleep and then everything after SIGTERM: the api's drain
(shutdownDrain, where the component has one) and the shutdown itself
(shutdownTimeout). If it ran out first, the process would be killed with
requests in flight. Call with (dict "component" "api" "c" .Values.api).
*/}}
{{- define "edb.checkGrace" -}}
{{- $c := .c }}
{{- $drain := include "edb.seconds" ($c.shutdownDrain | default "0s") | float64 }}
{{- $shutdown := include "edb.seconds" $c.shutdownTimeout | float64 }}
{{- $need := addf (float64 $c.preStopSleepSeconds) $drain $shutdown }}
{{- if le (float64 $c.terminationGracePeriodSeconds) $need }}
{{- $parts := printf "%s.preStopSleepSeconds (%v)" .component $c.preStopSleepSeconds }}
{{- if hasKey $c "shutdownDrain" }}
{{- $parts = printf "%s + %s.shutdownDrain (%s)" $parts .component $c.shutdownDrain }}
{{- end }}
{{- fail (printf "%s.terminationGracePeriodSeconds is %v, not above %s + %s.shutdownTimeout (%s) = %vs: the kubelet would kill the process before it finished stopping; raise it above %v" .component $c.terminationGracePeriodSeconds $parts .component $c.shutdownTimeout $need $need) }}
{{- end }}
{{- end }}

{{/*
preStop: the kubelet's own sleep (Kubernetes >= 1.30; the images are
distroless, no shell for `sleep`), so a terminating pod keeps serving while
it leaves the Service's endpoints. Nothing when the sleep is 0.
*/}}
{{- define "edb.preStop" -}}
{{- if gt (int .preStopSleepSeconds) 0 -}}
lifecycle:
  preStop:
    sleep:
      seconds: {{ int .preStopSleepSeconds }}
{{- end }}
{{- end }}

{{/*
The values of an external Redis Cluster (redis.cluster.addrs), checked at
render time. The passwords come from redis.auth.existingSecret: the chart
cannot make up passwords for users of a cluster it does not run. When the
Secret can be read (install and upgrade; not helm template), it must hold
both services' keys. The ACL rules for the cluster
(files/redis/users-cluster.acl) name one stream and one channel, like the
one-server rules.
*/}}
{{- define "edb.redis.checkCluster" -}}
{{- $a := .Values.redis.auth }}
{{- if not $a.existingSecret }}
{{- fail "redis.cluster.addrs is set but redis.auth.existingSecret is not: create a Secret with the keys api-password and bayes-password (the passwords of the cluster's ACL users, see redis.cluster.users) and name it there" }}
{{- end }}
{{- $ex := lookup "v1" "Secret" .Release.Namespace $a.existingSecret }}
{{- if $ex }}
{{- range $key := list "api-password" "bayes-password" }}
{{- if not (and $ex.data (hasKey $ex.data $key) (index $ex.data $key)) }}
{{- fail (printf "redis.auth.existingSecret: Secret %s has no key %s (or it is empty); with redis.cluster.addrs it needs api-password and bayes-password" $a.existingSecret $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- $api := "" }}
{{- $bayes := "" }}
{{- range .Files.Lines "files/redis/users-cluster.acl" }}
{{- if hasPrefix "user edb-api " . }}{{ $api = . }}{{ end }}
{{- if hasPrefix "user edb-bayes " . }}{{ $bayes = . }}{{ end }}
{{- end }}
{{- if not (and $api $bayes) }}
{{- fail "files/redis/users-cluster.acl lacks the edb-api or edb-bayes user: copy services/platform/redisacl/testdata/users-cluster.acl there" }}
{{- end }}
{{- $ruleStream := regexFind "~[^ ]+" $api | trimPrefix "~" }}
{{- if ne .Values.redis.stream $ruleStream }}
{{- fail (printf "redis.stream is %q, but the Redis Cluster's ACL rules (files/redis/users-cluster.acl) grant edb-api and edb-bayes only the keys of the stream %q: keep redis.stream at %q" .Values.redis.stream $ruleStream $ruleStream) }}
{{- end }}
{{- $ruleChannel := regexFind "&[^ ]+" $bayes | trimPrefix "&" }}
{{- if ne .Values.bayes.channel $ruleChannel }}
{{- fail (printf "bayes.channel is %q, but the Redis Cluster's ACL rules (files/redis/users-cluster.acl) let edb-bayes subscribe only to %q: keep bayes.channel at %q" .Values.bayes.channel $ruleChannel $ruleChannel) }}
{{- end }}
{{- end }}
