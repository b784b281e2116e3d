#!/usr/bin/env bash
# Debian's chromium, for the HTML audit report's browser test (puppeteer-core drives it; nothing downloads a
# browser). MTLS_GUARD_CHROMIUM wins when set; otherwise chromium on PATH, installed with apt-get when it is
# missing and this runs as root. Progress on stderr; the LAST stdout line is the binary's path.
set -euo pipefail
log() { echo "chromium: $*" >&2; }

if [[ -n "${MTLS_GUARD_CHROMIUM:-}" ]]; then
  [[ -x "${MTLS_GUARD_CHROMIUM}" ]] || { log "MTLS_GUARD_CHROMIUM=${MTLS_GUARD_CHROMIUM} is not an executable"; exit 1; }
  echo "${MTLS_GUARD_CHROMIUM}"
  exit 0
fi

found() { command -v chromium || command -v chromium-browser || true; }
path="$(found)"
if [[ -z "${path}" ]]; then
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "chromium is not installed and this is not root on a Debian system: install Debian's package (apt-get install chromium), or set MTLS_GUARD_CHROMIUM to a Chromium binary"
    exit 1
  fi
  log "not installed: apt-get install chromium (about 100 s)"
  start=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
  log "installed in $(( $(date +%s) - start ))s"
  path="$(found)"
  [[ -n "${path}" ]] || { log "apt-get installed chromium, yet no chromium is on PATH"; exit 1; }
fi
# Debian's launcher script prints a harmless shell warning on some machines; keep only the version line.
log "$("${path}" --version 2>/dev/null | head -n 1) at ${path}"
echo "${path}"
