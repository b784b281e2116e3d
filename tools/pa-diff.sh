#!/usr/bin/env bash
# The PeerAuthentication differential test against istiod's own code, at length: 20,000 states by default.
#   tools/pa-diff.sh                      20,000 states, a random seed (printed)
#   PA_DIFF_STATES=N PA_DIFF_SEED=S tools/pa-diff.sh
# The oracle comes from MTLS_GUARD_ISTIO_ORACLE, else tools/build-istio-oracle.sh (cached; a cold build takes minutes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm run build >/dev/null
export PA_DIFF_STATES="${PA_DIFF_STATES:-20000}"
exec npx tap --disable-coverage --timeout=7200 dist/test/integration/istio-peerauthn-diff.test.js
