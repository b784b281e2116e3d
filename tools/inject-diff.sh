#!/usr/bin/env bash
# The injection differential test (test/integration/istio-inject-diff.test.ts) with more cases than CI runs:
#   tools/inject-diff.sh [CASES_PER_VARIANT] [SEED]
# Defaults: 5000 cases per chart variant, a random seed (printed; pass it back to reproduce a run).
set -euo pipefail
cd "$(dirname "$0")/.."
export INJECT_DIFF_CASES="${1:-5000}"
export INJECT_DIFF_SEED="${2:-$(( (RANDOM << 15) | RANDOM ))}"
echo "inject-diff: INJECT_DIFF_SEED=${INJECT_DIFF_SEED} INJECT_DIFF_CASES=${INJECT_DIFF_CASES}" >&2
npm run build >/dev/null
exec npx tap --disable-coverage --timeout=3600 dist/test/integration/istio-inject-diff.test.js
