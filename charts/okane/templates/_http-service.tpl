{{- /*
One HTTP service (user-api or bank-webhook): Deployment, Service, HorizontalPodAutoscaler and
PodDisruptionBudget. Arguments: root, component, values (its block of values), app (the uvicorn
factory) and env (its own env entries, YAML).
*/ -}}
{{- define "okane.httpService" -}}
{{- $root := .root -}}
{{- $values := .values -}}
{{- $name := include "okane.name" . -}}
{{- $labels := include "okane.componentLabels" (dict "root" $root "component" .component) -}}
{{- $selector := include "okane.selectorLabels" (dict "root" $root "component" .component) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- $labels | nindent 4 }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- $selector | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- $labels | nindent 8 }}
      annotations:
        # Roll the pods when the shared settings change.
        checksum/config: {{ toYaml $root.Values.config | sha256sum }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: 30
      securityContext:
        {{- include "okane.podSecurityContext" $root | nindent 8 }}
      {{- with include "okane.pullSecrets" $root }}{{ . | nindent 6 }}{{ end }}
      {{- with include "okane.scheduling" $values }}{{ . | nindent 6 }}{{ end }}
      containers:
        - name: {{ .component }}
          image: {{ include "okane.image" (dict "root" $root "image" $values.image) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [uvicorn]
          args:
            - --factory
            - {{ .app }}
            - --host
            - 0.0.0.0
            - --port
            - {{ $values.port | quote }}
            - --proxy-headers
            - --timeout-graceful-shutdown
            - "20"
            - --workers
            - {{ $values.workers | quote }}
            {{- range $values.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          ports:
            - name: http
              containerPort: {{ $values.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ $root.Release.Name }}-config
          env:
            {{- include "okane.secretEnv" (dict "env" "OKANE_DATABASE_URL" "ref" (include "okane.databaseUrlRef" $root)) | nindent 12 }}
            {{- include "okane.secretEnv" (dict "env" "OKANE_REDIS_URL" "ref" (include "okane.redisUrlRef" $root)) | nindent 12 }}
            {{- .env | nindent 12 }}
            {{- with $root.Values.tracing.otlpEndpoint }}
            - name: OTEL_EXPORTER_OTLP_ENDPOINT
              value: {{ . | quote }}
            {{- end }}
            # The k8s.* resource attributes of every span (OpenTelemetry's semantic conventions).
            - name: K8S_POD_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
            - name: K8S_NAMESPACE_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
            - name: K8S_NODE_NAME
              valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
            - name: OTEL_RESOURCE_ATTRIBUTES
              value: k8s.pod.name=$(K8S_POD_NAME),k8s.namespace.name=$(K8S_NAMESPACE_NAME),k8s.node.name=$(K8S_NODE_NAME),k8s.deployment.name={{ $name }}
            # Each worker writes its metrics here; /metrics adds them up.
            - name: PROMETHEUS_MULTIPROC_DIR
              value: /run/okane-metrics
            {{- range $key, $value := $values.env }}
            - name: {{ $key }}
              value: {{ $value | toString | quote }}
            {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 2
            failureThreshold: 30
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          lifecycle:
            # Let endpoints and the ingress drop the pod before it stops accepting connections.
            preStop:
              sleep:
                seconds: 5
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- include "okane.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: metrics
              mountPath: /run/okane-metrics
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        - name: metrics
          emptyDir:
            sizeLimit: 16Mi
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- $labels | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- $selector | nindent 4 }}
  ports:
    - name: http
      port: {{ $values.port }}
      targetPort: http
      protocol: TCP
{{- if $values.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- $labels | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $values.autoscaling.minReplicas }}
  maxReplicas: {{ $values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- if $values.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- $labels | nindent 4 }}
spec:
  maxUnavailable: {{ $values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- $selector | nindent 6 }}
{{- end }}
{{- end -}}
