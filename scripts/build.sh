#!/usr/bin/env bash
# Builds what the demo and the tests run: setup (libtorch, .deps/gotch with libtch compiled),
# bin/otelcol-coorlog (scripts/otelcol.sh, OCB) and the project's commands in bin/.
#
# On a fresh machine, setup's slow parts (apt-get, compiling libtch's C++ on one core) run in the
# background while the Go build cache is filled (scripts/lib/warm.sh): the collector's packages,
# the commands', and with --race the race variants the tests use. Their lines are prefixed
# setup:/gotchpatch: and warm:.
#
#   --race   also compile the -race variants ahead (make test)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/progress.sh
source scripts/lib/warm.sh
export CGO_ENABLED=1
race=${1:-}

if bash scripts/setup.sh --check; then
	bash scripts/setup.sh
else
	bash scripts/setup.sh --module
	bash scripts/setup.sh &
	setup_pid=$!
	SKIP_SETUP=1 bash scripts/otelcol.sh --generate
	warm "warm: collector" dist/otelcol-coorlog "" pure .
	warm "warm: commands and tests" . "" pure ./...
	[ "$race" != --race ] || warm "warm: race" . -race pure ./...
	# The rest needs setup's adapted gotch (not its C++ archive, which only the link needs).
	while ! gotch_adapted && kill -0 "$setup_pid" 2>/dev/null; do sleep 2; done
	if gotch_adapted; then
		warm "warm: collector (libtorch packages)" dist/otelcol-coorlog "" all .
		warm "warm: commands (libtorch packages)" . "" all ./...
		[ "$race" != --race ] || warm "warm: race (libtorch packages)" . -race all ./...
	fi
	wait "$setup_pid" || { echo "build: setup failed" >&2; exit 1; }
fi

SKIP_SETUP=1 SKIP_SMOKE=1 bash scripts/otelcol.sh --if-stale
echo "build: compiling the commands (coorlog, otlpsink, demolog, oraclellm) into bin/"
progress "build: go build ./cmd/..." go build -o bin/ ./cmd/...
