#!/usr/bin/env bash
# Builds OPA (the policy engine under Gatekeeper) from its Go module into the tool cache, for the benchmark
# baseline; never into the repo. Progress goes to stderr; the LAST stdout line is the opa binary's path.
set -euo pipefail
OPA_VERSION="${OPA_VERSION:-v1.22.2}"
CACHE_ROOT="${MTLS_GUARD_TOOLS_CACHE:-${HOME}/.cache/mtls-guard/tools}"
OUT_DIR="${CACHE_ROOT}/opa-${OPA_VERSION}"
log() { echo "build-opa: $*" >&2; }
if [[ -x "${OUT_DIR}/bin/opa" ]]; then
  log "reused cached opa ${OPA_VERSION} in ${OUT_DIR}/bin"
  echo "${OUT_DIR}/bin/opa"
  exit 0
fi
command -v go >/dev/null 2>&1 || { log "go not found on PATH"; exit 1; }
mkdir -p "${OUT_DIR}"
TMP_BIN="$(mktemp -d "${OUT_DIR}/bin.tmp.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
start=$(date +%s)
log "building opa ${OPA_VERSION} with $(go env GOVERSION)"
GOWORK=off CGO_ENABLED=0 GOBIN="${TMP_BIN}" go install -trimpath \
  -ldflags "-s -w -X github.com/open-policy-agent/opa/v1/version.Version=${OPA_VERSION#v}" \
  "github.com/open-policy-agent/opa@${OPA_VERSION}"
mkdir -p "${OUT_DIR}/bin"
mv -f "${TMP_BIN}/opa" "${OUT_DIR}/bin/opa"
log "built in $(( $(date +%s) - start ))s -> ${OUT_DIR}/bin/opa"
echo "${OUT_DIR}/bin/opa"
