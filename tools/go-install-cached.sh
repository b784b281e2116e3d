#!/usr/bin/env bash
# Installs one Go command from the module proxy into the tool cache (never into the repo), or reuses it.
#   go-install-cached.sh NAME CACHE_KEY PACKAGE@VERSION LDFLAGS [BUILD_TAGS]
# Progress goes to stderr; the LAST stdout line is the binary's path. Beside the binary, NAME.stamp records
# what it was built from (package, tags, ldflags): a different stamp rebuilds. A binary from before stamps
# existed (no stamp file) is reused as it is. The binary is moved in only once fully built, so a build cut
# off half-way never leaves one to reuse.
set -euo pipefail
NAME="$1" KEY="$2" PACKAGE="$3" LDFLAGS="$4" TAGS="${5:-}"
CACHE_ROOT="${MTLS_GUARD_TOOLS_CACHE:-${HOME}/.cache/mtls-guard/tools}"
OUT_DIR="${CACHE_ROOT}/${KEY}"
STAMP="$(printf '%s\n' "${PACKAGE}" "tags=${TAGS}" "ldflags=${LDFLAGS}")"
log() { echo "build-${NAME}: $*" >&2; }

STAMP_FILE="${OUT_DIR}/bin/${NAME}.stamp"
if [[ -x "${OUT_DIR}/bin/${NAME}" ]] && { [[ ! -e "${STAMP_FILE}" ]] || [[ "$(cat "${STAMP_FILE}")" == "${STAMP}" ]]; }; then
  log "reused cached ${NAME} in ${OUT_DIR}/bin"
  echo "${OUT_DIR}/bin/${NAME}"
  exit 0
fi
# Go's standard install, for a user whose PATH does not name it (root's .bashrc often adds it; su - does not).
command -v go >/dev/null 2>&1 || [[ ! -x /usr/local/go/bin/go ]] || export PATH="/usr/local/go/bin:${PATH}"
command -v go >/dev/null 2>&1 || { log "go not found on PATH (nor in /usr/local/go/bin)"; exit 1; }

mkdir -p "${OUT_DIR}"
TMP_BIN="$(mktemp -d "${OUT_DIR}/bin.tmp.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
start=$(date +%s)
log "building ${PACKAGE}${TAGS:+ with tags ${TAGS}} with $(go env GOVERSION)"
GOWORK=off CGO_ENABLED=0 GOBIN="${TMP_BIN}" go install -trimpath -tags "${TAGS}" -ldflags "${LDFLAGS}" "${PACKAGE}"
mkdir -p "${OUT_DIR}/bin"
echo "${STAMP}" > "${STAMP_FILE}.tmp"
mv -f "${TMP_BIN}/${NAME}" "${OUT_DIR}/bin/${NAME}"
mv -f "${STAMP_FILE}.tmp" "${STAMP_FILE}"
log "built in $(( $(date +%s) - start ))s -> ${OUT_DIR}/bin/${NAME}"
echo "${OUT_DIR}/bin/${NAME}"
