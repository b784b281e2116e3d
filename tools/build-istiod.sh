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
TOOL=build-istiod
source "$(dirname "${BASH_SOURCE[0]}")/istio-module.sh"
PKG="istio.io/istio/pilot/cmd/pilot-discovery"

case "${1:-}" in
  --base-chart) istio_chart manifests/charts/base; exit 0 ;;
  ""|--if-cached) ;;
  *) log "usage: $0 [--base-chart|--if-cached]"; exit 2 ;;
esac

STAMP="$( { go env GOVERSION; echo "${PKG}"; cd "${MOD_DIR}" && cat go.mod go.sum; } | sha256sum | cut -d' ' -f1)"
cached pilot-discovery "${STAMP}" && exit 0
if [[ "${1:-}" == --if-cached ]]; then
  log "pilot-discovery is not built (or out of date): tools/build-istiod.sh builds it"
  exit 3
fi
log "building pilot-discovery of istio.io/istio@${ISTIO_VERSION} with $(go env GOVERSION) (cold: ~15 min on 2 cores)"
build pilot-discovery "${STAMP}" "${PKG}"
