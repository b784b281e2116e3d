#!/usr/bin/env bash
# Smoke test of the test control plane: builds (or reuses) the binaries, starts etcd and
# kube-apiserver on 127.0.0.1 with the flags documented in tools/README.md, waits for /readyz,
# runs `kubectl get ns` and applies a namespace, then stops both processes and removes the temp dir.
# Needs: go (first build only), kubectl, openssl, node (to pick free ports).
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR="$("${TOOLS_DIR}/build-control-plane.sh" | tail -n1)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mtls-guard-cp.XXXXXX")"
ETCD_PID=""
APISERVER_PID=""
cleanup() {
  local pid
  for pid in "${APISERVER_PID}" "${ETCD_PID}"; do
    [[ -n "${pid}" ]] || continue
    kill "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
  done
  rm -rf "${WORK}"
}
trap cleanup EXIT

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
ETCD_CLIENT_PORT="$(free_port)"
ETCD_PEER_PORT="$(free_port)"
API_PORT="$(free_port)"

# Service-account signing key (one private key serves both SA flags) and an admin token.
openssl genrsa -out "${WORK}/sa.key" 2048 2>/dev/null
TOKEN="$(openssl rand -hex 32)"
echo "${TOKEN},mtls-guard-admin,mtls-guard-admin,\"system:masters\"" > "${WORK}/tokens.csv"

start=$(date +%s%N)
"${BIN_DIR}/etcd" \
  --name=test \
  --data-dir="${WORK}/etcd" \
  --listen-client-urls="http://127.0.0.1:${ETCD_CLIENT_PORT}" \
  --advertise-client-urls="http://127.0.0.1:${ETCD_CLIENT_PORT}" \
  --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-cluster="test=http://127.0.0.1:${ETCD_PEER_PORT}" \
  --unsafe-no-fsync \
  --log-level=warn \
  > "${WORK}/etcd.log" 2>&1 &
ETCD_PID=$!

"${BIN_DIR}/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:${ETCD_CLIENT_PORT}" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="${API_PORT}" \
  --cert-dir="${WORK}/certs" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="${WORK}/sa.key" \
  --service-account-signing-key-file="${WORK}/sa.key" \
  --token-auth-file="${WORK}/tokens.csv" \
  --authorization-mode=RBAC \
  --endpoint-reconciler-type=none \
  > "${WORK}/apiserver.log" 2>&1 &
APISERVER_PID=$!

cat > "${WORK}/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mtls-guard-test
  cluster:
    server: https://127.0.0.1:${API_PORT}
    certificate-authority: ${WORK}/certs/apiserver.crt
users:
- name: admin
  user:
    token: ${TOKEN}
contexts:
- name: mtls-guard-test
  context:
    cluster: mtls-guard-test
    user: admin
current-context: mtls-guard-test
EOF
export KUBECONFIG="${WORK}/kubeconfig"

# certs/apiserver.crt appears a moment after start; poll until /readyz answers "ok".
ready=""
for _ in $(seq 1 600); do
  if ! kill -0 "${APISERVER_PID}" 2>/dev/null; then
    echo "kube-apiserver exited; last log lines:" >&2
    tail -n 20 "${WORK}/apiserver.log" >&2
    exit 1
  fi
  if [[ -s "${WORK}/certs/apiserver.crt" ]] && [[ "$(kubectl get --raw /readyz 2>/dev/null)" == "ok" ]]; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "${ready}" ]]; then
  echo "kube-apiserver not ready after 60s; last log lines:" >&2
  tail -n 20 "${WORK}/apiserver.log" >&2
  exit 1
fi
echo "kube-apiserver $(kubectl version -o json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).serverVersion.gitVersion))') ready in $(( ($(date +%s%N) - start) / 1000000 ))ms on https://127.0.0.1:${API_PORT}"

kubectl get ns
kubectl apply -f - <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: mtls-guard-smoke
  labels:
    istio-injection: enabled
EOF
kubectl get ns mtls-guard-smoke --show-labels
echo "smoke test OK"
