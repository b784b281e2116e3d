#!/usr/bin/env bash
# The real helm, built from its Go module into the tool cache. The ldflags stamp helm's own version and the
# Kubernetes version it assumes for `helm template` and lint (otherwise 1.20). Last stdout line: the binary.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.21.4}"
K8S_MAJOR=1
K8S_MINOR=34
exec bash "$(dirname "${BASH_SOURCE[0]}")/go-install-cached.sh" helm "helm-${HELM_VERSION}-k8s${K8S_MAJOR}.${K8S_MINOR}" \
  "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" \
  "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${K8S_MAJOR} -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${K8S_MINOR} \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${K8S_MAJOR} -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${K8S_MINOR}"
