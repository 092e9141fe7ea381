{{/* The chart's name, at most 63 characters. */}}
{{- define "mcpedge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: fullnameOverride, or release-chart (the release name alone if it contains the chart's). */}}
{{- define "mcpedge.fullname" -}}
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

{{- define "mcpedge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcpedge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mcpedge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mcpedge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mcpedge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mcpedge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the session keys: the user's, or the chart's. */}}
{{- define "mcpedge.sessionKeysSecret" -}}
{{- default (printf "%s-session-keys" (include "mcpedge.fullname" .)) .Values.sessionKeys.existingSecret -}}
{{- end -}}

{{/* The edge's configuration file (mcpedge.json), as JSON. */}}
{{- define "mcpedge.config" -}}
{{- if not .Values.servers -}}
{{- fail "servers: at least one MCP server is needed (servers.NAME.Upstreams)" -}}
{{- end -}}
{{- $edge := deepCopy (default dict .Values.edge) -}}
{{- $security := default dict (get $edge "Security") -}}
{{- if not (hasKey $security "AllowedHosts") -}}
{{- /* The Service's names inside the cluster, plus .Values.allowedHosts. */ -}}
{{- $name := include "mcpedge.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list $name (printf "%s.%s" $name $ns) (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc.cluster.local" $name $ns) -}}
{{- $_ := set $security "AllowedHosts" (concat $hosts .Values.allowedHosts | uniq) -}}
{{- end -}}
{{- $_ := set $edge "Security" $security -}}
{{- $streaming := default dict (get $edge "Streaming") -}}
{{- $_ := set $streaming "ShutdownGracePeriod" (include "mcpedge.timespan" (int .Values.drain.gracePeriodSeconds)) -}}
{{- $_ := set $edge "Streaming" $streaming -}}
{{- $_ := set $edge "Sessions" (dict "KeyFile" "/etc/mcpedge/session-keys/keys") -}}
{{- $_ := set $edge "Servers" .Values.servers -}}
{{- $_ := set $edge "Admin" (dict "Url" (printf "http://+:%d" (int (include "mcpedge.adminPort" .)))) -}}
{{- if include "mcpedge.tls" . -}}
{{- $tls := dict "CertificateFile" "/etc/mcpedge/tls/tls.crt" "KeyFile" "/etc/mcpedge/tls/tls.key" -}}
{{- if include "mcpedge.clientCertificates" . -}}
{{- $_ := set $tls "ClientCertificateMode" (include "mcpedge.clientCertificates" .) -}}
{{- $_ := set $tls "ClientCaFile" "/etc/mcpedge/client-ca/ca.crt" -}}
{{- if include "mcpedge.clientCrl" . -}}
{{- $_ := set $tls "ClientCrlFile" "/etc/mcpedge/client-crl/crl.pem" -}}
{{- $_ := set $tls "ClientCrlCheck" (.Values.tls.clientCertificates.crlCheck | default "Chain") -}}
{{- end -}}
{{- else if include "mcpedge.clientCrl" . -}}
{{- fail "tls.clientCertificates.crlSecretName: revocation lists apply to client certificates; set tls.clientCertificates.mode to Allow or Require" -}}
{{- end -}}
{{- $_ := set $edge "Tls" $tls -}}
{{- else if include "mcpedge.clientCertificates" . -}}
{{- fail "tls.clientCertificates: client certificates need TLS on the listener (tls.secretName)" -}}
{{- end -}}
{{- $logging := dict "Format" .Values.logging.format "LogLevel" .Values.logging.logLevel -}}
{{- dict "Logging" $logging "McpEdge" $edge | toPrettyJson -}}
{{- end -}}

{{/* Seconds as a .NET TimeSpan ("hh:mm:ss"). */}}
{{- define "mcpedge.timespan" -}}
{{- printf "%02d:%02d:%02d" (div . 3600) (mod (div . 60) 60) (mod . 60) -}}
{{- end -}}

{{/* The TLS secret's name when the edge listens on https (values: tls.secretName), else empty. */}}
{{- define "mcpedge.tls" -}}
{{- (.Values.tls | default dict).secretName | default "" -}}
{{- end -}}

{{/* Allow or Require when the listener asks for client certificates (values: tls.clientCertificates.mode), else empty; fails without a CA secret. */}}
{{- define "mcpedge.clientCertificates" -}}
{{- $client := (.Values.tls | default dict).clientCertificates | default dict -}}
{{- $mode := $client.mode | default "None" -}}
{{- if ne $mode "None" -}}
{{- if not $client.caSecretName -}}
{{- fail "tls.clientCertificates.caSecretName: client certificates need the Secret (key ca.crt) of the CAs they must chain to" -}}
{{- end -}}
{{- $mode -}}
{{- end -}}
{{- end -}}

{{/* The Secret of the client CAs' revocation lists (values: tls.clientCertificates.crlSecretName), else empty. */}}
{{- define "mcpedge.clientCrl" -}}
{{- ((.Values.tls | default dict).clientCertificates | default dict).crlSecretName | default "" -}}
{{- end -}}

{{/* The container's (and the Service's) port name: https with TLS, else http. */}}
{{- define "mcpedge.portName" -}}
{{- if include "mcpedge.tls" . }}https{{ else }}http{{ end -}}
{{- end -}}

{{/* The admin listener's port (values: admin.port, default 9090). */}}
{{- define "mcpedge.adminPort" -}}
{{- (.Values.admin | default dict).port | default 9090 -}}
{{- end -}}
