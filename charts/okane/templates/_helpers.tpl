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

{{- define "okane.labels" -}}
app.kubernetes.io/part-of: okane
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
