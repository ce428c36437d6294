#!/usr/bin/env bash
# Builds bin/otelcol-coorlog, a collector distribution with the coorlog processor, from the sources
# the OpenTelemetry Collector Builder (OCB) generates from builder-config.yaml, then checks that its
# `components` subcommand lists the processor and that it starts and stops cleanly. Runs the
# project's setup first (libtorch, .deps/gotch).
#
# The generated sources are committed in cmd/otelcol-coorlog (a module of its own, so `./...` of
# this module leaves it out), with the inputs they were generated from in
# cmd/otelcol-coorlog/.builder-inputs (hashes of builder-config.yaml and go.mod, and OCB's version).
# OCB runs only when those inputs changed: installing it and letting it resolve the distribution's
# modules cost a fresh machine about a minute of CPU. Commit what it regenerates.
#
#   --if-stale   do nothing when bin/otelcol-coorlog (or bin/$OTELCOL_NAME) is newer than every Go
#                file, go.mod and the manifest (the demo and the end-to-end scripts)
#   --generate   only make sure the sources are generated (no compile, no setup beyond
#                .deps/gotch's module)
#   --check-generated
#                exit 0 when cmd/otelcol-coorlog is generated from the current inputs, else say
#                what to run and exit 1 (`make test`)
#
# Variables (optional):
#   OCB            path to an OCB binary to use instead of the pinned one
#   OCB_VERSION    OCB version to install into .deps/bin when OCB is unset (default v0.165.0)
#   SKIP_SETUP=1   do not run scripts/setup.sh (it already ran)
#   COORLOG_SRC    build the processor from this directory instead of the working tree (e.g. a
#                  `git archive HEAD` export, when the tree holds unfinished edits): generates into
#                  dist/otelcol-coorlog (git-ignored) every time
#   OTELCOL_MANIFEST, OTELCOL_DIST, OTELCOL_NAME
#                  another distribution: its manifest (default builder-config.yaml), the directory
#                  its output_path names (default cmd/otelcol-coorlog; the inputs file lives there),
#                  and the binary's name in bin/ (default otelcol-coorlog). scripts/otelcol-scale.sh
#                  builds the Kafka scale-out one (examples/scale-out/builder-config.yaml) this way
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/progress.sh
OCB_VERSION=${OCB_VERSION:-v0.165.0}
export CGO_ENABLED=1

log() { printf 'otelcol: %s\n' "$*"; }

MANIFEST=${OTELCOL_MANIFEST:-builder-config.yaml}
NAME=${OTELCOL_NAME:-otelcol-coorlog}
BIN=bin/$NAME
DIST=${OTELCOL_DIST:-cmd/otelcol-coorlog}
INPUTS=$DIST/.builder-inputs
[ -z "${COORLOG_SRC:-}" ] || DIST=dist/$NAME

# inputs prints what the committed sources were generated from.
inputs() {
	printf 'ocb %s\n%s %s\ngo.mod %s\n' "$OCB_VERSION" "$MANIFEST" \
		"$(sha256sum <"$MANIFEST" | cut -c1-16)" "$(sha256sum <go.mod | cut -c1-16)"
}
generated() {
	[ -z "${COORLOG_SRC:-}" ] && [ -s "$DIST/go.mod" ] && [ -s "$DIST/components.go" ] &&
		[ "$(cat "$INPUTS" 2>/dev/null)" = "$(inputs)" ]
}

mode=${1:-}
if [ "$mode" = --check-generated ]; then
	generated && { log "$DIST is generated from the current $MANIFEST and go.mod"; exit 0; }
	log "$DIST is not generated from the current $MANIFEST and go.mod:"
	log "run scripts/otelcol.sh --generate and commit $DIST"
	exit 1
fi
# (test/scale is a test module of its own, not part of any distribution.)
if [ "$mode" = --if-stale ] && [ -x "$BIN" ] && generated &&
	[ -z "$(find . \( -path ./.deps -o -path ./dist -o -path ./.git -o -path ./test/scale \) -prune -o \( -name '*.go' -o -name go.mod -o -name go.sum -o -name builder-config.yaml \) -newer "$BIN" -print -quit)" ]; then
	log "$BIN is up to date"
	exit 0
fi

if [ "$mode" = --generate ]; then
	bash scripts/setup.sh --module
elif [ "${SKIP_SETUP:-}" != 1 ]; then
	bash scripts/setup.sh
fi

start=$(date +%s)
generate() {
	if [ -z "${OCB:-}" ]; then
		OCB=$ROOT/.deps/bin/builder
		if [[ "$("$OCB" version 2>&1 || true)" != *"${OCB_VERSION#v}"* ]]; then
			log "installing the collector builder $OCB_VERSION into .deps/bin"
			GOBIN=$ROOT/.deps/bin progress "otelcol: installing the builder" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
		fi
	fi
	local manifest=$MANIFEST src
	if [ -n "${COORLOG_SRC:-}" ]; then
		src=$(cd "$COORLOG_SRC" && pwd)
		mkdir -p dist
		manifest=dist/builder-config.effective.yaml
		sed -e "s|^\(    path: \)\.\$|\1$src|" -e "s|^\(  output_path: \).*|\1./$DIST|" \
			-e "s|=> \.\./\.\./\.deps/gotch|=> $ROOT/.deps/gotch|" "$MANIFEST" >"$manifest"
		log "processor sources from $src"
	fi
	mkdir -p "$(dirname "$DIST")" # OCB creates the output directory, not its parents (dist/)
	log "generating $DIST and resolving its modules (OCB $OCB_VERSION)"
	progress "otelcol: builder" "$OCB" --config "$manifest" --skip-compilation
	gofmt -w "$DIST"/*.go # OCB's output is not gofmt-clean; the committed copy is
	[ -n "${COORLOG_SRC:-}" ] || inputs >"$INPUTS"
}
# The modules are fetched by the first go command that needs them (scripts/build.sh's `go list`
# fetches only those the build needs; `go mod download` would fetch the whole graph first).
if generated; then
	log "$DIST is generated from the current $MANIFEST and go.mod"
else
	generate
fi
[ "$mode" != --generate ] || exit 0
# Compiled with the flags the rest of the project uses (OCB's own build adds -trimpath, which gives
# every package another build-cache key): the collector's packages and the CLI's, vet's and the
# tests' are shared through the Go build cache.
mkdir -p bin
log "compiling $DIST (cgo; a first build on 2 cores takes a few minutes)"
(cd "$DIST" && progress "otelcol: go build" go build -ldflags="-s -w" -o "$ROOT/$BIN" .)
log "built $BIN in $(( $(date +%s) - start ))s"

# The distribution must carry the processor; a wrong replace or a stale manifest would drop it.
components=$("$BIN" components 2>&1) || { log "$BIN components failed: $components"; exit 1; }
if ! grep -qE '^\s*-?\s*name:\s*coorlog\s*$' <<<"$components"; then
	log "$BIN components does not list the coorlog processor"; exit 1
fi
log "$BIN lists the coorlog processor"

# It must start with a valid configuration and stop cleanly (exit 0) on SIGTERM.
if [ "${SKIP_SMOKE:-}" != 1 ]; then
	smoke_log=$(mktemp)
	trap 'rm -f "$smoke_log"' EXIT
	"$BIN" --config testdata/otelcol.yaml >"$smoke_log" 2>&1 &
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
		log "$BIN did not start with testdata/otelcol.yaml:"; tail -20 "$smoke_log"; exit 1
	fi
	kill -TERM "$pid"
	if ! wait "$pid"; then
		log "$BIN did not stop cleanly:"; tail -20 "$smoke_log"; exit 1
	fi
	grep -q "Shutdown complete" "$smoke_log" || { log "no 'Shutdown complete' in the collector log:"; tail -20 "$smoke_log"; exit 1; }
	log "$BIN starts with testdata/otelcol.yaml and stops cleanly"
fi
