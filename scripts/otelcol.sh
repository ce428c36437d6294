#!/usr/bin/env bash
# Builds bin/otelcol-coorlog, a collector distribution with the coorlog processor, with the
# OpenTelemetry Collector Builder (OCB) from builder-config.yaml, then checks that its `components`
# subcommand lists the processor. Runs the project's setup first (libtorch, .deps/gotch).
#
# --if-stale: do nothing when bin/otelcol-coorlog is newer than every Go file, go.mod and the
# manifest (used by the demo and the end-to-end scripts).
# --generate: only generate dist/otelcol-coorlog and fetch its modules (no compile, no setup
# beyond .deps/gotch's module), for scripts/build.sh to compile ahead while setup runs.
#
# The distribution's sources are generated again only when builder-config.yaml or go.mod is newer
# than them (or COORLOG_SRC is set).
#
# Variables (optional):
#   OCB            path to an OCB binary to use instead of the pinned one
#   OCB_VERSION    OCB version to install into .deps/bin when OCB is unset (default v0.165.0)
#   SKIP_SETUP=1   do not run scripts/setup.sh (it already ran)
#   COORLOG_SRC    build the processor from this directory instead of the working tree (e.g. a
#                  `git archive HEAD` export, when the tree holds unfinished edits)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/progress.sh
OCB_VERSION=${OCB_VERSION:-v0.165.0}
export CGO_ENABLED=1

log() { printf 'otelcol: %s\n' "$*"; }

mode=${1:-}
if [ "$mode" = --if-stale ] && [ -x bin/otelcol-coorlog ] &&
	[ -z "$(find . \( -path ./.deps -o -path ./dist -o -path ./.git \) -prune -o \( -name '*.go' -o -name go.mod -o -name go.sum -o -name builder-config.yaml \) -newer bin/otelcol-coorlog -print -quit)" ]; then
	log "bin/otelcol-coorlog is up to date"
	exit 0
fi

if [ "$mode" = --generate ]; then
	bash scripts/setup.sh --module
elif [ "${SKIP_SETUP:-}" != 1 ]; then
	bash scripts/setup.sh
fi

start=$(date +%s)
mkdir -p dist/otelcol-coorlog
gen=dist/otelcol-coorlog/go.mod
generate() {
	if [ -z "${OCB:-}" ]; then
		OCB=$ROOT/.deps/bin/builder
		if [[ "$("$OCB" version 2>&1 || true)" != *"${OCB_VERSION#v}"* ]]; then
			log "installing the collector builder $OCB_VERSION into .deps/bin"
			GOBIN=$ROOT/.deps/bin progress "otelcol: installing the builder" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
		fi
	fi
	local manifest=builder-config.yaml src
	if [ -n "${COORLOG_SRC:-}" ]; then
		src=$(cd "$COORLOG_SRC" && pwd)
		manifest=dist/builder-config.effective.yaml
		sed -e "s|^\(    path: \)\.\$|\1$src|" -e "s|=> \.\./\.\./\.deps/gotch|=> $ROOT/.deps/gotch|" builder-config.yaml >"$manifest"
		log "processor sources from $src"
	fi
	log "generating dist/otelcol-coorlog and fetching its modules"
	progress "otelcol: builder" "$OCB" --config "$manifest" --skip-compilation
}
if [ -z "${COORLOG_SRC:-}" ] && [ -s "$gen" ] && [ -s dist/otelcol-coorlog/components.go ] &&
	[ "$gen" -nt builder-config.yaml ] && [ "$gen" -nt go.mod ]; then
	log "dist/otelcol-coorlog is generated from the current builder-config.yaml"
else
	generate
fi
[ "$mode" != --generate ] || exit 0
# OCB compiles with -trimpath, which gives every package another build-cache key than the CLI's,
# vet's and the tests' builds: the collector's dependencies and gotch's cgo layer were compiled
# twice. Compiled here with the flags the rest of the project uses (and OCB's -s -w), they are
# shared through the Go build cache.
log "compiling dist/otelcol-coorlog (cgo; a first build on 2 cores takes a few minutes)"
(cd dist/otelcol-coorlog && progress "otelcol: go build" go build -ldflags="-s -w" -o otelcol-coorlog .)
mkdir -p bin
cp dist/otelcol-coorlog/otelcol-coorlog bin/otelcol-coorlog
log "built bin/otelcol-coorlog in $(( $(date +%s) - start ))s"

# The distribution must carry the processor; a wrong replace or a stale manifest would drop it.
components=$(bin/otelcol-coorlog components 2>&1) || { log "bin/otelcol-coorlog components failed: $components"; exit 1; }
if ! grep -qE '^\s*-?\s*name:\s*coorlog\s*$' <<<"$components"; then
	log "bin/otelcol-coorlog components does not list the coorlog processor"; exit 1
fi
log "bin/otelcol-coorlog lists the coorlog processor"

# It must start with a valid configuration and stop cleanly (exit 0) on SIGTERM.
if [ "${SKIP_SMOKE:-}" != 1 ]; then
	smoke_log=$(mktemp)
	trap 'rm -f "$smoke_log"' EXIT
	bin/otelcol-coorlog --config testdata/otelcol.yaml >"$smoke_log" 2>&1 &
	pid=$!
	ready=0
	for _ in $(seq 1 120); do
		if grep -q "Everything is ready" "$smoke_log"; then ready=1; break; fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if [ "$ready" != 1 ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		log "bin/otelcol-coorlog did not start with testdata/otelcol.yaml:"; tail -20 "$smoke_log"; exit 1
	fi
	kill -TERM "$pid"
	if ! wait "$pid"; then
		log "bin/otelcol-coorlog did not stop cleanly:"; tail -20 "$smoke_log"; exit 1
	fi
	grep -q "Shutdown complete" "$smoke_log" || { log "no 'Shutdown complete' in the collector log:"; tail -20 "$smoke_log"; exit 1; }
	log "bin/otelcol-coorlog starts with testdata/otelcol.yaml and stops cleanly"
fi
