{{/* The prefix of every name: the release name, or <release>-outrigger if it does not say outrigger. */}}
{{- define "outrigger.fullname" -}}
{{- /* At most 24 characters: the longest name, <fullname>-controller-manager-metrics-service, must fit a Service name (63). */ -}}
{{- if contains "outrigger" .Release.Name -}}
{{- .Release.Name | trunc 24 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-outrigger" .Release.Name | trunc 24 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "outrigger.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: outrigger
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "outrigger.labels" -}}
app.kubernetes.io/name: outrigger
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: outrigger
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "outrigger.serviceAccountName" -}}{{ include "outrigger.fullname" . }}-controller-manager{{- end -}}
{{- define "outrigger.webhookServiceName" -}}{{ include "outrigger.fullname" . }}-webhook-service{{- end -}}
{{- define "outrigger.webhookSecretName" -}}{{ include "outrigger.fullname" . }}-webhook-server-cert{{- end -}}
{{- define "outrigger.mutatingName" -}}{{ include "outrigger.fullname" . }}-mutating-webhook-configuration{{- end -}}
{{- define "outrigger.validatingName" -}}{{ include "outrigger.fullname" . }}-validating-webhook-configuration{{- end -}}
{{- define "outrigger.certificateName" -}}{{ include "outrigger.fullname" . }}-serving-cert{{- end -}}

{{- define "outrigger.validate" -}}
{{- if not (has .Values.certs.mode (list "self-managed" "cert-manager")) -}}
{{- fail (printf "certs.mode must be self-managed or cert-manager, not %q" .Values.certs.mode) -}}
{{- end -}}
{{- if not (has .Values.webhook.failurePolicy (list "Ignore" "Fail")) -}}
{{- fail (printf "webhook.failurePolicy must be Ignore or Fail, not %q" .Values.webhook.failurePolicy) -}}
{{- end -}}
{{- if not (has .Values.admission (list "webhook" "policy" "auto")) -}}
{{- fail (printf "admission must be webhook, policy or auto, not %q" .Values.admission) -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "serviceMonitor.enabled needs metrics.enabled" -}}
{{- end -}}
{{- end -}}

{{/* The admission mode the release runs in: the admission value, with auto decided by what the cluster serves. */}}
{{- define "outrigger.admission" -}}
{{- if eq .Values.admission "auto" -}}
{{- if .Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy" -}}policy{{- else -}}webhook{{- end -}}
{{- else -}}
{{- .Values.admission -}}
{{- end -}}
{{- end -}}

{{/* The namespaces Outrigger leaves alone, comma-separated: kube-system, webhook.namespaceExclusions and the release
namespace. The mutating webhook's namespaceSelector and the manager's --excluded-namespaces (the reconcilers, the
status and the admission policies) both take them from here, so that no mode injects where another does not; the
manager and the policies always leave kube-system and the release namespace out, so the webhook does too. */}}
{{- define "outrigger.namespaceExclusions" -}}
{{- $exclusions := list "kube-system" -}}
{{- range .Values.webhook.namespaceExclusions -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" (toString .)) -}}
{{- fail (printf "webhook.namespaceExclusions: %q is not a namespace name: list the names of namespaces, such as monitoring" (toString .)) -}}
{{- end -}}
{{- $exclusions = append $exclusions (toString .) -}}
{{- end -}}
{{- append $exclusions .Release.Namespace | uniq | join "," -}}
{{- end -}}
