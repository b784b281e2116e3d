#!/usr/bin/env bash
# Builds tools/istio's istio-oracle (Go, over Istio's own packages) into the tool cache, or reuses it.
#   build-istio-oracle.sh           -> last stdout line: the istio-oracle binary
#   build-istio-oracle.sh --chart   -> last stdout line: the istio-discovery Helm chart dir inside the
#                                      istio.io/istio module (Go module cache), same Istio version
# Progress goes to stderr. The binary lives in
#   ${MTLS_GUARD_TOOLS_CACHE:-$HOME/.cache/mtls-guard/tools}/istio-<commit>/bin/istio-oracle
# with a stamp of the oracle's sources beside it: a source change rebuilds, a cut-off build is never reused.
set -euo pipefail
TOOL=build-istio-oracle
source "$(dirname "${BASH_SOURCE[0]}")/istio-module.sh"

case "${1:-}" in
  --chart) istio_chart manifests/charts/istio-control/istio-discovery; exit 0 ;;
  "") ;;
  *) log "usage: $0 [--chart]"; exit 2 ;;
esac

STAMP="$( { go env GOVERSION; cd "${MOD_DIR}" && cat go.mod go.sum \
  $(find cmd -name '*.go' ! -name '*_test.go' | LC_ALL=C sort); } | sha256sum | cut -d' ' -f1)"
cached istio-oracle "${STAMP}" && exit 0
log "building istio-oracle over istio.io/istio@${ISTIO_VERSION} with $(go env GOVERSION) (cold: ~10 min on 2 cores)"
build istio-oracle "${STAMP}" -tags istio_oracle ./cmd/istio-oracle
