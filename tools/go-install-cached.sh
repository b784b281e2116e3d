#!/usr/bin/env bash
# Installs one Go command from the module proxy into the tool cache (never into the repo), or reuses it.
#   go-install-cached.sh NAME CACHE_KEY PACKAGE@VERSION LDFLAGS
# Progress goes to stderr; the LAST stdout line is the binary's path.
set -euo pipefail
NAME="$1" KEY="$2" PACKAGE="$3" LDFLAGS="$4"
CACHE_ROOT="${MTLS_GUARD_TOOLS_CACHE:-${HOME}/.cache/mtls-guard/tools}"
OUT_DIR="${CACHE_ROOT}/${KEY}"
log() { echo "build-${NAME}: $*" >&2; }

if [[ -x "${OUT_DIR}/bin/${NAME}" ]]; then
  log "reused cached ${NAME} in ${OUT_DIR}/bin"
  echo "${OUT_DIR}/bin/${NAME}"
  exit 0
fi
command -v go >/dev/null 2>&1 || { log "go not found on PATH"; exit 1; }

mkdir -p "${OUT_DIR}"
TMP_BIN="$(mktemp -d "${OUT_DIR}/bin.tmp.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
start=$(date +%s)
log "building ${PACKAGE} with $(go env GOVERSION)"
GOWORK=off CGO_ENABLED=0 GOBIN="${TMP_BIN}" go install -trimpath -ldflags "${LDFLAGS}" "${PACKAGE}"
mkdir -p "${OUT_DIR}/bin"
mv -f "${TMP_BIN}/${NAME}" "${OUT_DIR}/bin/${NAME}"
log "built in $(( $(date +%s) - start ))s -> ${OUT_DIR}/bin/${NAME}"
echo "${OUT_DIR}/bin/${NAME}"
