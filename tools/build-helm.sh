#!/usr/bin/env bash
# Builds the real helm from its Go module into the tool cache (never into the repo), or reuses it.
# The ldflags stamp helm's own version and the Kubernetes version it assumes for `helm template` and lint
# (otherwise it assumes 1.20). Progress goes to stderr; the LAST stdout line is the helm binary's path.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.21.4}"
K8S_MAJOR=1
K8S_MINOR=34
CACHE_ROOT="${MTLS_GUARD_TOOLS_CACHE:-${HOME}/.cache/mtls-guard/tools}"
OUT_DIR="${CACHE_ROOT}/helm-${HELM_VERSION}-k8s${K8S_MAJOR}.${K8S_MINOR}"
log() { echo "build-helm: $*" >&2; }

if [[ -x "${OUT_DIR}/bin/helm" ]]; then
  log "reused cached helm ${HELM_VERSION} in ${OUT_DIR}/bin"
  echo "${OUT_DIR}/bin/helm"
  exit 0
fi
command -v go >/dev/null 2>&1 || { log "go not found on PATH"; exit 1; }

ldflags=(-s -w
  "-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
  "-X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${K8S_MAJOR}"
  "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${K8S_MINOR}"
  "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${K8S_MAJOR}"
  "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${K8S_MINOR}")

mkdir -p "${OUT_DIR}"
TMP_BIN="$(mktemp -d "${OUT_DIR}/bin.tmp.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
start=$(date +%s)
log "building helm ${HELM_VERSION} with $(go env GOVERSION)"
GOWORK=off CGO_ENABLED=0 GOBIN="${TMP_BIN}" go install -trimpath -ldflags "${ldflags[*]}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
mkdir -p "${OUT_DIR}/bin"
mv -f "${TMP_BIN}/helm" "${OUT_DIR}/bin/helm"
log "built in $(( $(date +%s) - start ))s -> ${OUT_DIR}/bin/helm"
echo "${OUT_DIR}/bin/helm"
