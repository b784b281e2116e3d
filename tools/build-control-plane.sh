#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kube-controller-manager, etcd) from the Go modules
# pinned in tools/go.mod, into a cache outside the repo keyed by release and recipe:
#   ${MTLS_GUARD_TOOLS_CACHE:-$HOME/.cache/mtls-guard/tools}/k8s-<version>-<recipe>/bin/
# Skips the build when all three binaries are already there.
# Progress goes to stderr; the LAST line on stdout is the bin directory, so:
#   BIN_DIR="$(tools/build-control-plane.sh | tail -n1)"
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "${TOOLS_DIR}"

# Reproducible, self-contained builds: only this module, no VCS stamping,
# no cgo (static binaries, as upstream builds kube-apiserver and etcd).
export GOWORK=off
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

log() { echo "build-control-plane: $*" >&2; }

# Go's standard install, for a user whose PATH does not name it (root's .bashrc often adds it; su - does not).
command -v go >/dev/null 2>&1 || [[ ! -x /usr/local/go/bin/go ]] || export PATH="/usr/local/go/bin:${PATH}"
command -v go >/dev/null 2>&1 || { log "go not found on PATH (nor in /usr/local/go/bin)"; exit 1; }

K8S_VERSION="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
ETCD_VERSION="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
# Release tag time of the module: used as buildDate so the build is reproducible.
K8S_TIME="$(go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
K8S_TIME="${K8S_TIME:-1970-01-01T00:00:00Z}"

CACHE_ROOT="${MTLS_GUARD_TOOLS_CACHE:-${HOME}/.cache/mtls-guard/tools}"
# Bump RECIPE whenever the set of binaries or their build flags change, so an older cache is not reused.
# r2: kube-controller-manager added.
RECIPE=r2
OUT_DIR="${CACHE_ROOT}/k8s-${K8S_VERSION}-${RECIPE}"
BIN_DIR="${OUT_DIR}/bin"

if [[ -x "${BIN_DIR}/kube-apiserver" && -x "${BIN_DIR}/kube-controller-manager" && -x "${BIN_DIR}/etcd" ]]; then
  log "reused cached binaries (kube-apiserver and kube-controller-manager ${K8S_VERSION}, etcd ${ETCD_VERSION}) in ${BIN_DIR}"
  echo "${BIN_DIR}"
  exit 0
fi

# vX.Y.Z -> major X, minor Y (what hack/lib/version.sh stamps for a release).
ver="${K8S_VERSION#v}"
GIT_MAJOR="${ver%%.*}"
rest="${ver#*.}"
GIT_MINOR="${rest%%.*}"

ldflags=("-s" "-w")
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=(
    "-X ${pkg}.gitVersion=${K8S_VERSION}"
    "-X ${pkg}.gitMajor=${GIT_MAJOR}"
    "-X ${pkg}.gitMinor=${GIT_MINOR}"
    "-X ${pkg}.gitTreeState=clean"
    # The module zip carries no commit hash; leave it empty rather than "$Format:%H$".
    "-X ${pkg}.gitCommit="
    "-X ${pkg}.buildDate=${K8S_TIME}"
  )
done

mkdir -p "${OUT_DIR}"
TMP_BIN="$(mktemp -d "${OUT_DIR}/bin.tmp.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT

start=$(date +%s)
log "building kube-apiserver and kube-controller-manager ${K8S_VERSION} and etcd ${ETCD_VERSION} with $(go env GOVERSION) (this takes several minutes on 2 cores)"
go build -trimpath -ldflags "${ldflags[*]}" -o "${TMP_BIN}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
log "kube-apiserver done after $(( $(date +%s) - start ))s"
go build -trimpath -ldflags "${ldflags[*]}" -o "${TMP_BIN}/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
log "kube-controller-manager done after $(( $(date +%s) - start ))s"
go build -trimpath -ldflags "-s -w" -o "${TMP_BIN}/etcd" go.etcd.io/etcd/server/v3
log "etcd done"

# Publish atomically-ish: a half-finished build never leaves all three binaries in BIN_DIR (kube-apiserver,
# checked by the reuse test above, moves last).
mkdir -p "${BIN_DIR}"
mv -f "${TMP_BIN}/etcd" "${BIN_DIR}/etcd"
mv -f "${TMP_BIN}/kube-controller-manager" "${BIN_DIR}/kube-controller-manager"
mv -f "${TMP_BIN}/kube-apiserver" "${BIN_DIR}/kube-apiserver"
cat > "${OUT_DIR}/versions.txt" <<EOF
kube-apiserver ${K8S_VERSION}
kube-controller-manager ${K8S_VERSION}
etcd ${ETCD_VERSION}
go $(go env GOVERSION)
EOF

log "built in $(( $(date +%s) - start ))s -> ${BIN_DIR}"
echo "${BIN_DIR}"
