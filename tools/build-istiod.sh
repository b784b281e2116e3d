#!/usr/bin/env bash
# Builds Istio's own pilot-discovery (istiod) from tools/istio's go.mod into the tool cache, or reuses it.
#   build-istiod.sh                 -> last stdout line: the pilot-discovery binary
#   build-istiod.sh --base-chart    -> last stdout line: the base Helm chart dir (Istio's CRDs) inside the
#                                      istio.io/istio module (Go module cache), same Istio version
#   build-istiod.sh --if-cached     -> the binary when it is built and current; exit 3 (and nothing on stdout) when not
# (the istio-discovery chart: build-istio-oracle.sh --chart). Progress goes to stderr. The binary lives in
#   ${MTLS_GUARD_TOOLS_CACHE:-$HOME/.cache/mtls-guard/tools}/istio-<commit>/bin/pilot-discovery
# with a stamp of go.mod, go.sum and the Go version beside it: a change rebuilds, a cut-off build is never reused.
# go.mod names pilot-discovery in a `tool` directive, so its requirements stay in the one go.mod (and the one
# build cache) the oracle uses.
set -euo pipefail
MOD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/istio" && pwd)"
CACHE_ROOT="${MTLS_GUARD_TOOLS_CACHE:-${HOME}/.cache/mtls-guard/tools}"
PKG="istio.io/istio/pilot/cmd/pilot-discovery"
log() { echo "build-istiod: $*" >&2; }
command -v go >/dev/null 2>&1 || { log "go not found on PATH"; exit 1; }
export GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

ISTIO_VERSION="$(awk '$1 == "istio.io/istio" { print $2; exit }' "${MOD_DIR}/go.mod")"
[[ -n "${ISTIO_VERSION}" ]] || { log "no istio.io/istio requirement in ${MOD_DIR}/go.mod"; exit 1; }
SHORT="${ISTIO_VERSION##*-}"

case "${1:-}" in
  --base-chart)
    dir="$(cd "${MOD_DIR}" && go mod download -json "istio.io/istio@${ISTIO_VERSION}" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
    chart="${dir}/manifests/charts/base"
    [[ -f "${chart}/Chart.yaml" ]] || { log "chart not found at ${chart}"; exit 1; }
    log "base chart of istio.io/istio@${ISTIO_VERSION}"
    echo "${chart}"
    exit 0 ;;
  ""|--if-cached) ;;
  *) log "usage: $0 [--base-chart|--if-cached]"; exit 2 ;;
esac

OUT_DIR="${CACHE_ROOT}/istio-${SHORT}"
BIN="${OUT_DIR}/bin/pilot-discovery"
STAMP="$( { go env GOVERSION; echo "${PKG}"; cd "${MOD_DIR}" && cat go.mod go.sum; } | sha256sum | cut -d' ' -f1)"

if [[ -x "${BIN}" && "$(cat "${OUT_DIR}/bin/pilot-discovery.sources" 2>/dev/null)" == "${STAMP}" ]]; then
  log "reused cached pilot-discovery in ${OUT_DIR}/bin"
  echo "${BIN}"
  exit 0
fi
if [[ "${1:-}" == --if-cached ]]; then
  log "pilot-discovery is not built (or out of date): tools/build-istiod.sh builds it"
  exit 3
fi

mkdir -p "${OUT_DIR}"
TMP_BIN="$(mktemp -d "${OUT_DIR}/bin.tmp.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
start=$(date +%s)
log "building pilot-discovery of istio.io/istio@${ISTIO_VERSION} with $(go env GOVERSION) (cold: ~15 min on 2 cores)"
(cd "${MOD_DIR}" && go build -trimpath -ldflags "-s -w" -o "${TMP_BIN}/pilot-discovery" "${PKG}")
echo "${STAMP}" > "${TMP_BIN}/pilot-discovery.sources"
mkdir -p "${OUT_DIR}/bin"
mv -f "${TMP_BIN}/pilot-discovery" "${BIN}"
mv -f "${TMP_BIN}/pilot-discovery.sources" "${OUT_DIR}/bin/pilot-discovery.sources"
log "built in $(( $(date +%s) - start ))s -> ${BIN}"
echo "${BIN}"
