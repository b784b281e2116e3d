#!/usr/bin/env bash
# Builds tools/istio's istio-oracle (Go, over Istio's own packages) into the tool cache, or reuses it.
#   build-istio-oracle.sh           -> last stdout line: the istio-oracle binary
#   build-istio-oracle.sh --chart   -> last stdout line: the istio-discovery Helm chart dir inside the
#                                      istio.io/istio module (Go module cache), same Istio version
# Progress goes to stderr. The binary lives in
#   ${MTLS_GUARD_TOOLS_CACHE:-$HOME/.cache/mtls-guard/tools}/istio-<commit>/bin/istio-oracle
# with a stamp of the oracle's sources beside it: a source change rebuilds, a cut-off build is never reused.
set -euo pipefail
MOD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/istio" && pwd)"
CACHE_ROOT="${MTLS_GUARD_TOOLS_CACHE:-${HOME}/.cache/mtls-guard/tools}"
log() { echo "build-istio-oracle: $*" >&2; }
command -v go >/dev/null 2>&1 || { log "go not found on PATH"; exit 1; }
export GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

ISTIO_VERSION="$(awk '$1 == "istio.io/istio" { print $2; exit }' "${MOD_DIR}/go.mod")"
[[ -n "${ISTIO_VERSION}" ]] || { log "no istio.io/istio requirement in ${MOD_DIR}/go.mod"; exit 1; }
SHORT="${ISTIO_VERSION##*-}"

case "${1:-}" in
  --chart)
    dir="$(cd "${MOD_DIR}" && go mod download -json "istio.io/istio@${ISTIO_VERSION}" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
    chart="${dir}/manifests/charts/istio-control/istio-discovery"
    [[ -f "${chart}/Chart.yaml" ]] || { log "chart not found at ${chart}"; exit 1; }
    log "istio-discovery chart of istio.io/istio@${ISTIO_VERSION}"
    echo "${chart}"
    exit 0 ;;
  "") ;;
  *) log "usage: $0 [--chart]"; exit 2 ;;
esac

OUT_DIR="${CACHE_ROOT}/istio-${SHORT}"
BIN="${OUT_DIR}/bin/istio-oracle"
STAMP="$( { go env GOVERSION; cd "${MOD_DIR}" && cat go.mod go.sum \
  $(find cmd -name '*.go' ! -name '*_test.go' | LC_ALL=C sort); } | sha256sum | cut -d' ' -f1)"

if [[ -x "${BIN}" && "$(cat "${OUT_DIR}/bin/istio-oracle.sources" 2>/dev/null)" == "${STAMP}" ]]; then
  log "reused cached istio-oracle in ${OUT_DIR}/bin"
  echo "${BIN}"
  exit 0
fi

mkdir -p "${OUT_DIR}"
TMP_BIN="$(mktemp -d "${OUT_DIR}/bin.tmp.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
start=$(date +%s)
log "building istio-oracle over istio.io/istio@${ISTIO_VERSION} with $(go env GOVERSION) (cold: ~10 min on 2 cores)"
(cd "${MOD_DIR}" && go build -tags istio_oracle -trimpath -ldflags "-s -w" -o "${TMP_BIN}/istio-oracle" ./cmd/istio-oracle)
echo "${STAMP}" > "${TMP_BIN}/istio-oracle.sources"
mkdir -p "${OUT_DIR}/bin"
mv -f "${TMP_BIN}/istio-oracle" "${BIN}"
mv -f "${TMP_BIN}/istio-oracle.sources" "${OUT_DIR}/bin/istio-oracle.sources"
log "built in $(( $(date +%s) - start ))s -> ${BIN}"
echo "${BIN}"
