{{- define "mtls-guard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mtls-guard.fullname" -}}
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

{{- define "mtls-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mtls-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mtls-guard.labels" -}}
{{ include "mtls-guard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: mtls-guard
{{- end -}}

{{/* The image reference: repository@digest when a digest is given (the tag is then ignored), else repository:tag. */}}
{{- define "mtls-guard.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The namespaces never checked: the defaults (unless replaced), the listed ones and the release namespace. */}}
{{- define "mtls-guard.exemptNamespaces" -}}
{{- $defaults := list "kube-system" "kube-public" "kube-node-lease" -}}
{{- if .Values.config.replaceDefaultExemptNamespaces -}}{{- $defaults = list -}}{{- end -}}
{{- toJson (concat $defaults .Values.config.exemptNamespaces (list .Release.Namespace) | uniq | sortAlpha) -}}
{{- end -}}

{{/* A webhook's namespaceSelector: the names it skips, then webhook.namespaceSelector's own terms. Pass (list $ skipped). */}}
{{- define "mtls-guard.namespaceSelector" -}}
{{- $root := index . 0 -}}
{{- $skipped := index . 1 -}}
{{- with $root.Values.webhook.namespaceSelector.matchLabels }}
matchLabels:
  {{- toYaml . | nindent 2 }}
{{- end }}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ toJson $skipped }}
{{- with $root.Values.webhook.namespaceSelector.matchExpressions }}
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "mtls-guard.serviceAccountName" -}}
{{- default (include "mtls-guard.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The Secret holding tls.crt and tls.key. */}}
{{- define "mtls-guard.tlsSecretName" -}}
{{- if eq .Values.certs.mode "existing" -}}
{{- .Values.certs.existing.secretName -}}
{{- else if eq .Values.certs.mode "runtime" -}}
{{- printf "%s-runtime-tls" (include "mtls-guard.fullname" .) -}}
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
{{- range (include "mtls-guard.exemptNamespaces" . | fromJsonArray) }}
  - {{ . }}
{{- end }}
istioVersion: {{ .Values.config.istioVersion | quote }}
proxyImages: {{ toJson .Values.config.proxyImages }}
clusterID: {{ .Values.config.clusterID | quote }}
{{- with .Values.config.network }}
network: {{ . | quote }}
{{- end }}
{{- end -}}


{{/* Refuse the namespace `default` unless allowed: the release namespace is exempt from every check. */}}
{{- define "mtls-guard.checkNamespace" -}}
{{- if and (eq .Release.Namespace "default") (not .Values.allowDefaultNamespace) -}}
{{- fail "mtls-guard would be installed into the namespace \"default\", and its own namespace is exempt from every check, so \"default\" would go unchecked. Install into its own namespace (helm install ... -n mtls-guard --create-namespace), or set allowDefaultNamespace=true." -}}
{{- end -}}
{{- end -}}
