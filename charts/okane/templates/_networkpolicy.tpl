{{- /* Egress rules shared by the NetworkPolicies (networkpolicies.yaml). */ -}}
{{- define "okane.np.dns" -}}
- to:
    - namespaceSelector:
        {{- toYaml .dns.namespaceSelector | nindent 8 }}
      podSelector:
        {{- toYaml .dns.podSelector | nindent 8 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end -}}
{{- define "okane.np.database" -}}
{{- if .root.Values.postgresql.enabled }}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .root.Release.Namespace }}
      podSelector:
        matchLabels:
          {{- include "okane.selectorLabels" (dict "root" .root "component" "postgresql") | nindent 10 }}
  ports:
    - {protocol: TCP, port: 5432}
{{- else }}
- to:
    {{- range .root.Values.networkPolicy.externalDatabase.cidrs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  ports:
    - {protocol: TCP, port: {{ .root.Values.networkPolicy.externalDatabase.port }}}
{{- end }}
{{- end -}}
{{- define "okane.np.redis" -}}
{{- if .root.Values.redis.enabled }}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .root.Release.Namespace }}
      podSelector:
        matchLabels:
          {{- include "okane.selectorLabels" (dict "root" .root "component" "redis") | nindent 10 }}
  ports:
    - {protocol: TCP, port: 6379}
{{- else }}
- to:
    {{- range .root.Values.networkPolicy.externalRedis.cidrs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  ports:
    - {protocol: TCP, port: {{ .root.Values.networkPolicy.externalRedis.port }}}
{{- end }}
{{- end -}}
