#!/usr/bin/env bash
# Builds bin/otelcol-coorlog, a collector distribution with the coorlog processor, with the
# OpenTelemetry Collector Builder (OCB) from builder-config.yaml, then checks that its `components`
# subcommand lists the processor. Runs the project's setup first (libtorch, .deps/gotch).
#
# Variables (optional):
#   OCB            path to an OCB binary to use instead of the pinned one
#   OCB_VERSION    OCB version to install into .deps/bin when OCB is unset (default v0.165.0)
#   SKIP_SETUP=1   do not run scripts/setup.sh (it already ran)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OCB_VERSION=${OCB_VERSION:-v0.165.0}
export CGO_ENABLED=1

log() { printf 'otelcol: %s\n' "$*"; }

[ "${SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh

if [ -z "${OCB:-}" ]; then
	OCB=$ROOT/.deps/bin/builder
	if [[ "$("$OCB" version 2>&1 || true)" != *"${OCB_VERSION#v}"* ]]; then
		log "installing the collector builder $OCB_VERSION into .deps/bin"
		GOBIN=$ROOT/.deps/bin go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
	fi
fi

log "building dist/otelcol-coorlog (cgo; a first build takes a few minutes)"
start=$(date +%s)
mkdir -p dist/otelcol-coorlog
"$OCB" --config builder-config.yaml
mkdir -p bin
cp dist/otelcol-coorlog/otelcol-coorlog bin/otelcol-coorlog
log "built bin/otelcol-coorlog in $(( $(date +%s) - start ))s"

# The distribution must carry the processor; a wrong replace or a stale manifest would drop it.
components=$(bin/otelcol-coorlog components 2>&1) || { log "bin/otelcol-coorlog components failed: $components"; exit 1; }
if ! grep -qE '^\s*-?\s*name:\s*coorlog\s*$' <<<"$components"; then
	log "bin/otelcol-coorlog components does not list the coorlog processor"; exit 1
fi
log "bin/otelcol-coorlog lists the coorlog processor"
