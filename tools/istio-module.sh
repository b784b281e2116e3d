# Sourced by the scripts that build from tools/istio's go.mod (build-istio-oracle.sh, build-istiod.sh): the one
# Istio version they share, its charts in the Go module cache, and a cached build with a stamp beside it.
# The sourcing script sets TOOL (its name in log lines) first.
MOD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/istio" && pwd)"
CACHE_ROOT="${MTLS_GUARD_TOOLS_CACHE:-${HOME}/.cache/mtls-guard/tools}"
log() { echo "${TOOL}: $*" >&2; }
# Go's standard install, for a user whose PATH does not name it (root's .bashrc often adds it; su - does not).
command -v go >/dev/null 2>&1 || [[ ! -x /usr/local/go/bin/go ]] || export PATH="/usr/local/go/bin:${PATH}"
command -v go >/dev/null 2>&1 || { log "go not found on PATH (nor in /usr/local/go/bin)"; exit 1; }
export GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

ISTIO_VERSION="$(awk '$1 == "istio.io/istio" { print $2; exit }' "${MOD_DIR}/go.mod")"
[[ -n "${ISTIO_VERSION}" ]] || { log "no istio.io/istio requirement in ${MOD_DIR}/go.mod"; exit 1; }
OUT_DIR="${CACHE_ROOT}/istio-${ISTIO_VERSION##*-}"

# istio_chart PATH: a chart directory inside the istio.io/istio module, e.g. manifests/charts/base.
istio_chart() {
  local dir chart
  dir="$(cd "${MOD_DIR}" && go mod download -json "istio.io/istio@${ISTIO_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  chart="${dir}/$1"
  [[ -f "${chart}/Chart.yaml" ]] || { log "chart not found at ${chart}"; exit 1; }
  log "$(basename "$1") chart of istio.io/istio@${ISTIO_VERSION}"
  echo "${chart}"
}

# cached NAME STAMP: print the cached binary and return 0 when it was built from exactly STAMP.
cached() {
  local bin="${OUT_DIR}/bin/$1"
  [[ -x "${bin}" && "$(cat "${bin}.sources" 2>/dev/null)" == "$2" ]] || return 1
  log "reused cached $1 in ${OUT_DIR}/bin"
  echo "${bin}"
}

# build NAME STAMP GO_BUILD_ARGS...: `go build` in the module into a temporary directory, then move the binary and
# its stamp into place together, so a cut-off build is never reused. Prints the binary.
build() {
  local name="$1" stamp="$2" tmp start
  shift 2
  mkdir -p "${OUT_DIR}/bin"
  tmp="$(mktemp -d "${OUT_DIR}/bin.tmp.XXXXXX")"
  trap "rm -rf '${tmp}'" EXIT
  start=$(date +%s)
  (cd "${MOD_DIR}" && go build -trimpath -ldflags "-s -w" -o "${tmp}/${name}" "$@")
  echo "${stamp}" > "${tmp}/${name}.sources"
  mv -f "${tmp}/${name}" "${OUT_DIR}/bin/${name}"
  mv -f "${tmp}/${name}.sources" "${OUT_DIR}/bin/${name}.sources"
  log "built in $(( $(date +%s) - start ))s -> ${OUT_DIR}/bin/${name}"
  echo "${OUT_DIR}/bin/${name}"
}
