#!/usr/bin/env bash
# The real Prometheus server, built from its Go module into the tool cache, for the tests of the callers that
# STRICT would cut off (a Prometheus scraping Istio-shaped series). Prometheus 3.x publishes its Go module as
# v0.3MM.P for release v3.MM.P. Built without the `builtinassets` tag: the web UI is not embedded (the HTTP API,
# all the tests use, is unaffected). `remove_all_sd` leaves only static, file and HTTP service discovery, which
# keeps the cloud SDKs out of the build. Last stdout line: the binary.
set -euo pipefail
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v3.16.0}"
minor="${PROMETHEUS_VERSION#v3.}"
MODULE_VERSION="v0.$(( 300 + 10#${minor%%.*} )).${minor#*.}"
exec bash "$(dirname "${BASH_SOURCE[0]}")/go-install-cached.sh" prometheus "prometheus-${PROMETHEUS_VERSION}" \
  "github.com/prometheus/prometheus/cmd/prometheus@${MODULE_VERSION}" \
  "-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v} -X github.com/prometheus/common/version.Branch=release" \
  "remove_all_sd"
