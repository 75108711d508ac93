{{/* The operator's service account. */}}
{{- define "okane.operatorServiceAccount" -}}
{{- .Values.operator.serviceAccountName | default (printf "%s-operator" .Release.Name) -}}
{{- end -}}

{{/* The warm Jobs' service account. */}}
{{- define "okane.warmServiceAccount" -}}
{{- .Values.warm.serviceAccountName | default (printf "%s-warm" .Release.Name) -}}
{{- end -}}

{{/* The namespaces the operator watches, one per line. */}}
{{- define "okane.watchNamespaces" -}}
{{- range (.Values.operator.watchNamespaces | default (list .Release.Namespace)) }}
{{ . }}
{{- end -}}
{{- end -}}

{{/* Labels every object carries (app.kubernetes.io/* recommended labels). */}}
{{- define "okane.labels" -}}
app.kubernetes.io/name: okane
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: okane
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels of one component: (dict "root" $ "component" "user-api"). */}}
{{- define "okane.componentLabels" -}}
{{ include "okane.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The immutable subset that selects a component's pods. */}}
{{- define "okane.selectorLabels" -}}
app.kubernetes.io/name: okane
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Object names: <release>-<component>. */}}
{{- define "okane.name" -}}
{{- printf "%s-%s" .root.Release.Name .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* An OKANE image: (dict "root" $ "image" .Values.userApi.image). */}}
{{- define "okane.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- $repository := .image.repository -}}
{{- if $registry }}{{ $repository = printf "%s/%s" (trimSuffix "/" $registry) $repository }}{{ end -}}
{{- if hasPrefix "sha256:" $tag }}{{ printf "%s@%s" $repository $tag }}{{ else }}{{ printf "%s:%s" $repository $tag }}{{ end -}}
{{- end -}}

{{/* The image with okane, migrations/ and /bin/sh: migrations and warm Jobs run it. */}}
{{- define "okane.appImage" -}}
{{- include "okane.image" (dict "root" . "image" .Values.userApi.image) -}}
{{- end -}}

{{/* Where the user-api image keeps the Alembic migrations (see services/user-api/Dockerfile). */}}
{{- define "okane.migrationsDir" -}}/app/migrations{{- end -}}

{{/* Secret and key holding OKANE_DATABASE_URL: "name key". */}}
{{- define "okane.databaseUrlRef" -}}
{{- if .Values.postgresql.enabled -}}
{{ printf "%s-connections" .Release.Name }} OKANE_DATABASE_URL
{{- else -}}
{{ required "externalDatabase.existingSecret: name the Secret that holds the PostgreSQL URL (postgresql.enabled is false)" .Values.externalDatabase.existingSecret }} {{ .Values.externalDatabase.key }}
{{- end -}}
{{- end -}}

{{/* Secret and key holding OKANE_REDIS_URL: "name key". */}}
{{- define "okane.redisUrlRef" -}}
{{- if .Values.redis.enabled -}}
{{ printf "%s-connections" .Release.Name }} OKANE_REDIS_URL
{{- else -}}
{{ required "externalRedis.existingSecret: name the Secret that holds the Redis URL (redis.enabled is false)" .Values.externalRedis.existingSecret }} {{ .Values.externalRedis.key }}
{{- end -}}
{{- end -}}

{{/* Secret and key holding OKANE_JWT_SECRET. */}}
{{- define "okane.jwtSecretRef" -}}
{{- if .Values.secrets.jwt.existingSecret -}}
{{ .Values.secrets.jwt.existingSecret }} {{ .Values.secrets.jwt.key }}
{{- else -}}
{{ printf "%s-app-secrets" .Release.Name }} OKANE_JWT_SECRET
{{- end -}}
{{- end -}}

{{/* Secret and key holding OKANE_BANK_WEBHOOK_SECRET. */}}
{{- define "okane.webhookSecretRef" -}}
{{- if .Values.secrets.bankWebhook.existingSecret -}}
{{ .Values.secrets.bankWebhook.existingSecret }} {{ .Values.secrets.bankWebhook.key }}
{{- else -}}
{{ printf "%s-app-secrets" .Release.Name }} OKANE_BANK_WEBHOOK_SECRET
{{- end -}}
{{- end -}}

{{/* An env entry from a "name key" reference: (dict "env" "OKANE_X" "ref" "name key"). */}}
{{- define "okane.secretEnv" -}}
{{- $ref := splitList " " .ref -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ index $ref 0 }}
      key: {{ index $ref 1 }}
{{- end -}}

{{/*
The Secret whose keys (OKANE_DATABASE_URL, OKANE_REDIS_URL) become the warm Jobs' environment
(the operator passes it as envFrom). Both servers in-repo: the chart's connections Secret. Both
external in one Secret under exactly those keys: that Secret. Otherwise operator.warmEnvSecret.
*/}}
{{- define "okane.warmEnvSecret" -}}
{{- if .Values.operator.warmEnvSecret -}}
{{ .Values.operator.warmEnvSecret }}
{{- else if and .Values.postgresql.enabled .Values.redis.enabled -}}
{{ printf "%s-connections" .Release.Name }}
{{- else if and (not .Values.postgresql.enabled) (not .Values.redis.enabled) (eq .Values.externalDatabase.existingSecret .Values.externalRedis.existingSecret) (eq .Values.externalDatabase.key "OKANE_DATABASE_URL") (eq .Values.externalRedis.key "OKANE_REDIS_URL") -}}
{{ .Values.externalDatabase.existingSecret }}
{{- else -}}
{{ fail "operator.warmEnvSecret: warm Jobs read OKANE_DATABASE_URL and OKANE_REDIS_URL from one Secret; name a Secret with both keys (or keep both URLs in one existing Secret under those keys)" }}
{{- end -}}
{{- end -}}

{{/* user-api's external URL (OIDC redirects). */}}
{{- define "okane.publicUrl" -}}
{{- if .Values.userApi.publicUrl -}}
{{ .Values.userApi.publicUrl }}
{{- else if .Values.ingress.enabled -}}
{{ ternary "https" "http" .Values.ingress.tls.enabled }}://{{ .Values.ingress.userApi.host }}
{{- end -}}
{{- end -}}

{{/* Pod-level security context shared by OKANE's own pods. */}}
{{- define "okane.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{/* Container-level security context shared by OKANE's own containers. */}}
{{- define "okane.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* imagePullSecrets, if any. */}}
{{- define "okane.pullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Scheduling constraints of a component: its own values. */}}
{{- define "okane.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
