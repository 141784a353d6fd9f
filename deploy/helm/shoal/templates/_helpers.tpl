{{/* Names, labels, images and shared container settings: derived once, here. */}}

{{- define "shoal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "shoal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's object name: <fullname>-<component>, at most 52 characters so StatefulSet
     pod names (plus "-NNN" and the controller hash label) stay within 63. */}}
{{- define "shoal.componentName" -}}
{{- printf "%s-%s" (include "shoal.fullname" .root) .component | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "shoal.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: shoal
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "shoal.selectorLabels" . }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "shoal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shoal.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* "<registry>/<repository>:<tag>"; the tag defaults to the chart's appVersion. */}}
{{- define "shoal.image" -}}
{{- $registry := .image.registry | default .root.Values.image.registry -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The NATS URL every shoal service gets, as an env entry (literal or from a Secret). */}}
{{- define "shoal.natsEnv" -}}
{{- if .Values.nats.bundled.enabled }}
- name: SHOAL_NATS_URL
  value: {{ printf "nats://%s:%d" (include "shoal.componentName" (dict "root" . "component" "nats")) (int .Values.nats.bundled.port) | quote }}
{{- else if .Values.nats.external.existingSecret }}
- name: SHOAL_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.external.existingSecret }}
      key: {{ .Values.nats.external.urlKey }}
{{- else }}
- name: SHOAL_NATS_URL
  value: {{ required "nats.external.url (or nats.external.existingSecret) is required when nats.bundled.enabled is false" .Values.nats.external.url | quote }}
{{- end }}
{{- with include "shoal.natsAuthFile" . }}
{{- $auth := $.Values.nats.external.auth }}
{{- if $auth.credsKey }}
- name: SHOAL_NATS_CREDS_FILE
{{- else if $auth.nkeySeedKey }}
- name: SHOAL_NATS_NKEY_SEED_FILE
{{- else if $auth.tokenKey }}
- name: SHOAL_NATS_TOKEN_FILE
{{- else }}
- name: SHOAL_NATS_USER
  value: {{ $auth.user | quote }}
- name: SHOAL_NATS_PASSWORD_FILE
{{- end }}
  value: {{ printf "/etc/shoal/nats-auth/%s" . | quote }}
{{- end }}
- name: SHOAL_NATS_PREFIX
  value: {{ .Values.nats.subjectPrefix | quote }}
- name: SHOAL_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{/* NATS credentials (nats.external.auth): the file name the chosen Secret key is mounted as
     under /etc/shoal/nats-auth, or nothing without authentication. values.schema.json allows
     one method at most. */}}
{{- define "shoal.natsAuthFile" -}}
{{- $auth := .Values.nats.external.auth -}}
{{- if $auth.existingSecret -}}
{{- if .Values.nats.bundled.enabled -}}
{{- fail "nats.external.auth applies to an external NATS: set nats.bundled.enabled=false" -}}
{{- end -}}
{{- if $auth.credsKey }}user.creds{{ else if $auth.nkeySeedKey }}user.nk{{ else if $auth.tokenKey }}token{{ else }}password{{ end -}}
{{- end -}}
{{- end -}}

{{/* The volume mount of the NATS credentials, for every container that talks to NATS. */}}
{{- define "shoal.natsAuthVolumeMount" -}}
{{- if include "shoal.natsAuthFile" . }}
- { name: nats-auth, mountPath: /etc/shoal/nats-auth, readOnly: true }
{{- end }}
{{- end -}}

{{/* The volume of the NATS credentials: only the chosen key of the Secret, readable by the
     services' group (fsGroup) alone. */}}
{{- define "shoal.natsAuthVolume" -}}
{{- with include "shoal.natsAuthFile" . }}
{{- $auth := $.Values.nats.external.auth }}
- name: nats-auth
  secret:
    secretName: {{ $auth.existingSecret }}
    # 0440
    defaultMode: 288
    items:
      - key: {{ coalesce $auth.credsKey $auth.nkeySeedKey $auth.tokenKey $auth.passwordKey }}
        path: {{ . }}
{{- end }}
{{- end -}}

{{/* Extra variables from a component's `extraEnv` map, sorted for stable output. */}}
{{- define "shoal.extraEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{- define "shoal.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end -}}

{{- define "shoal.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end -}}

{{/* Prometheus scrape annotations for a pod serving /metrics on `port`. */}}
{{- define "shoal.scrapeAnnotations" -}}
{{- if .root.Values.metrics.scrapeAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}

{{/* The three probes on the service-kit endpoints of the named port. */}}
{{- define "shoal.probes" -}}
startupProbe:
  httpGet: { path: /healthz, port: {{ .port }} }
  periodSeconds: 2
  failureThreshold: {{ .startupFailureThreshold | default 60 }}
readinessProbe:
  httpGet: { path: /readyz, port: {{ .port }} }
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  httpGet: { path: /healthz, port: {{ .port }} }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{/* nodeSelector, affinity, tolerations, topologySpreadConstraints of a component, if set. */}}
{{- define "shoal.scheduling" -}}
{{- $out := dict -}}
{{- range $key := list "nodeSelector" "affinity" "tolerations" "topologySpreadConstraints" -}}
{{- with get $ $key }}{{ $_ := set $out $key . }}{{ end -}}
{{- end -}}
{{- if $out }}{{ toYaml $out }}{{ end -}}
{{- end -}}

{{- define "shoal.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}
