{{/*
vf.name: the chart name, or nameOverride. Usage: {{ include "vf.name" . }}
*/}}
{{- define "vf.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
vf.fullname: prefix of every object name. The release name, with the chart name appended
unless the release name already contains it (helm create's rule).
*/}}
{{- define "vf.fullname" -}}
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

{{/*
vf.labels: labels of every object. Usage: include "vf.labels" (dict "root" $ "component" "api")
*/}}
{{- define "vf.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "vf.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: virtufin
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
vf.selectorLabels: the immutable subset used by selectors. Same arguments as vf.labels.
*/}}
{{- define "vf.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vf.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
vf.services: every enabled service as data, defaults merged in, as YAML to pass to fromYaml:
  {{- range $key, $svc := include "vf.services" . | fromYaml }}
The built-in services (api, workmanager, websocketmanager) and every entry of `backends` come
out in the same shape, so each template handles a new backend without change. Each service
gains: key, name (object name), imageRef, and its own copy of every `defaults` key.
vf.declaredServices: the same, disabled services included.
*/}}
{{- define "vf.services" -}}
{{- $out := dict }}
{{- range $key, $svc := include "vf.declaredServices" . | fromYaml }}
{{- if $svc.enabled }}
{{- $_ := set $out $key $svc }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{- define "vf.declaredServices" -}}
{{- $root := . }}
{{- $all := dict }}
{{- range $key := list "api" "workmanager" "websocketmanager" }}
{{- $_ := set $all $key (get $root.Values $key) }}
{{- end }}
{{- range $key, $backend := .Values.backends }}
{{- if hasKey $all $key }}
{{- fail (printf "backends.%s: the name is taken by a built-in service" $key) }}
{{- end }}
{{- $base := dict "enabled" true "role" "backend" "replicas" 1 "env" (dict)
      "health" (dict "liveness" "/health" "readiness" "/health" "dapr" "/health")
      "dapr" (dict "enabled" true "appId" $key) }}
{{- $_ := set $all $key (mergeOverwrite $base (deepCopy $backend)) }}
{{- end }}
{{- $out := dict }}
{{- range $key, $svc := $all }}
{{- $merged := mergeOverwrite (deepCopy $root.Values.defaults) (deepCopy $svc) }}
{{- $_ := set $merged "key" $key }}
{{- $_ := set $merged "name" (printf "%s-%s" (include "vf.fullname" $root) $key | trunc 63 | trimSuffix "-") }}
{{- $repo := $merged.image.repository }}
{{- $first := index (splitList "/" $repo) 0 }}
{{- if not (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) }}
{{- $repo = printf "%s/%s" $root.Values.registry.host $repo }}
{{- end }}
{{- $_ := set $merged "imageRef" (printf "%s:%s" $repo (toString $merged.image.tag)) }}
{{- /* The fewest replicas the service runs with: the autoscaler's minimum when it has one. */}}
{{- $autoscaled := and $merged.autoscaling $merged.autoscaling.enabled }}
{{- if and $autoscaled (lt (int $merged.autoscaling.maxReplicas) (int $merged.autoscaling.minReplicas)) }}
{{- fail (printf "%s.autoscaling: maxReplicas (%v) is less than minReplicas (%v)" $key $merged.autoscaling.maxReplicas $merged.autoscaling.minReplicas) }}
{{- end }}
{{- if and $autoscaled (not (or $merged.autoscaling.targetCPUUtilizationPercentage $merged.autoscaling.targetMemoryUtilizationPercentage)) }}
{{- fail (printf "%s.autoscaling: give a CPU or a memory target" $key) }}
{{- end }}
{{- $_ := set $merged "autoscaled" $autoscaled }}
{{- $_ := set $merged "minReplicas" (ternary (int $merged.autoscaling.minReplicas) (int $merged.replicas) $autoscaled) }}
{{- $_ := set $out $key $merged }}
{{- end }}
{{- /* Names are cut at 63 characters: a long release name could give two services one name. */}}
{{- $names := dict }}
{{- range $key, $svc := $out }}
{{- with get $names $svc.name }}
{{- fail (printf "services %s and %s would both be named %s (names are cut at 63 characters): use a shorter release name or fullnameOverride" . $key $svc.name) }}
{{- end }}
{{- $_ := set $names $svc.name $key }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
vf.daprAppIds: the app ids of every declared service with a Dapr sidecar, enabled or not (and
of its migration Job when that has one), sorted, as a YAML list (for Component and Resiliency scopes). Declared, not enabled: deploying
or retiring one service (scripts/deploy, scripts/undeploy) then leaves the shared Dapr objects
as they are, and a disabled service runs no pod that could use its app id.
Usage: include "vf.daprAppIds" . | fromYamlArray
*/}}
{{- define "vf.daprAppIds" -}}
{{- $ids := list }}
{{- range $key, $svc := include "vf.declaredServices" . | fromYaml }}
{{- if $svc.dapr.enabled }}
{{- $ids = append $ids $svc.dapr.appId }}
{{- if and $svc.migrations.enabled $svc.migrations.dapr }}
{{- $ids = append $ids (printf "%s-migrate" $svc.dapr.appId) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml (sortAlpha $ids) }}
{{- end }}

{{/*
vf.configurationName: the Dapr Configuration every app uses (dapr.io/config).
*/}}
{{- define "vf.configurationName" -}}
{{- include "vf.fullname" . }}
{{- end }}

{{/*
vf.monitors: which Prometheus Operator monitors are rendered, as YAML for fromYaml:
{serviceMonitor: bool, podMonitor: bool}. `monitoring.enabled: true` renders both, `false`
neither; `auto` each kind the cluster serves (`.Capabilities.APIVersions`: a cluster lists
`monitoring.coreos.com/v1/ServiceMonitor`; `helm template --api-versions
monitoring.coreos.com/v1` names the group version alone, which then stands for both).
*/}}
{{- define "vf.monitors" -}}
{{- $on := .Values.monitoring.enabled }}
{{- $gv := "monitoring.coreos.com/v1" }}
{{- $has := .Capabilities.APIVersions }}
{{- $byKind := or ($has.Has (printf "%s/ServiceMonitor" $gv)) ($has.Has (printf "%s/PodMonitor" $gv)) }}
{{- $groupOnly := and ($has.Has $gv) (not $byKind) }}
{{- range $kind := list "ServiceMonitor" "PodMonitor" }}
{{ $kind | untitle }}: {{ ternary (or ($has.Has (printf "%s/%s" $gv $kind)) $groupOnly) (eq (toString $on) "true") (eq (toString $on) "auto") }}
{{- end }}
{{- end }}

{{/*
vf.milliseconds: a one-unit duration (500ms, 30s, 1m, 1h) in milliseconds.
*/}}
{{- define "vf.milliseconds" -}}
{{- $unit := regexFind "[a-z]+$" . }}
{{- mul (int (trimSuffix $unit .)) (get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit) }}
{{- end }}

{{/*
vf.daprAnnotations: a contract's `annotations:` from a map of extra dapr.io/ annotations, every
value quoted (vf-post reads them as text, as the injector does). Nothing when the map is empty.
*/}}
{{- define "vf.daprAnnotations" -}}
{{- if . }}
annotations:
  {{- range $key, $value := . }}
  {{ $key | quote }}: {{ $value | toString | quote }}
  {{- end }}
{{- end }}
{{- end }}
