{{- define "frontier.name" -}}{{ .Release.Name }}-frontier{{- end -}}

{{- define "frontier.labels" -}}
app.kubernetes.io/name: frontier
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Settings every Frontier process gets: the model, the models folder, the drain, the key. */}}
{{- define "frontier.env" -}}
- name: MISTRAL_HOST
  value: "0.0.0.0"
- name: OLLAMA_API_HOST
  value: "0.0.0.0"
- name: MISTRAL_MODEL_ID
  value: {{ .Values.model | quote }}
- name: MISTRAL_MODELS_PATH
  value: {{ .Values.models.mountPath | quote }}
- name: FRONTIER_DRAIN_SECONDS
  value: {{ .Values.drainSeconds | quote }}
{{- if .Values.apiKeySecret }}
- name: FRONTIER_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.apiKeySecret }}
      key: api-key
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "frontier.modelsVolume" -}}
- name: models
{{- if .Values.models.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.models.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end -}}
