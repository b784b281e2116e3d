#!/usr/bin/env bash
# OPA (the policy engine under Gatekeeper), built from its Go module into the tool cache, for the benchmark
# baseline. Last stdout line: the binary.
set -euo pipefail
OPA_VERSION="${OPA_VERSION:-v1.22.2}"
exec bash "$(dirname "${BASH_SOURCE[0]}")/go-install-cached.sh" opa "opa-${OPA_VERSION}" \
  "github.com/open-policy-agent/opa@${OPA_VERSION}" \
  "-s -w -X github.com/open-policy-agent/opa/v1/version.Version=${OPA_VERSION#v}"
