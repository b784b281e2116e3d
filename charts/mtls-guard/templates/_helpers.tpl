{{- define "mtls-guard.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mtls-guard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mtls-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mtls-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mtls-guard.labels" -}}
{{ include "mtls-guard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mtls-guard.serviceAccountName" -}}
{{- default (include "mtls-guard.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The Secret holding tls.crt and tls.key. */}}
{{- define "mtls-guard.tlsSecretName" -}}
{{- if eq .Values.certs.mode "existing" -}}
{{- .Values.certs.existing.secretName -}}
{{- else -}}
{{- printf "%s-tls" (include "mtls-guard.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The mtls-guard config file: the rule configuration of values.config. */}}
{{- define "mtls-guard.config" -}}
rootNamespace: {{ .Values.config.rootNamespace }}
enforcement: {{ .Values.config.enforcement }}
rules:
{{- range $rule, $action := .Values.config.rules }}
  {{ $rule }}: {{ $action | quote }}
{{- end }}
exemptNamespaces:
{{- range .Values.config.exemptNamespaces }}
  - {{ . }}
{{- end }}
istioVersion: {{ .Values.config.istioVersion | quote }}
proxyImages: {{ toJson .Values.config.proxyImages }}
{{- end -}}
