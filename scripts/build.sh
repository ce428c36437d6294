#!/usr/bin/env bash
# Builds what the demo and the tests run: setup (libtorch, .deps/gotch with libtch compiled),
# bin/otelcol-coorlog (scripts/otelcol.sh, OCB) and the project's commands in bin/.
#
# On a fresh machine, setup runs in the background while the collector is generated (OCB) and its
# modules fetched, and, once setup has adapted gotch's Go side, while the Go build cache is filled
# (scripts/lib/warm.sh): the collector's packages, the commands', and with --race the race
# variants the tests use. Setup's slow part, compiling libtch's C++, takes one core meanwhile.
# Lines are prefixed setup:/gotchpatch:, otelcol: and warm:.
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
	rm -f .deps/gotch/.coorlog-adapted # a stale copy: wait for setup's
	bash scripts/setup.sh &
	setup_pid=$!
	SKIP_SETUP=1 bash scripts/otelcol.sh --generate
	# Setup adapts gotch's Go side first (after apt-get, if libtorch is missing), then compiles
	# the C++ archive; the Go packages compile from the first moment on.
	while ! gotch_adapted && kill -0 "$setup_pid" 2>/dev/null; do sleep 1; done
	if gotch_adapted; then
		warm "warm: collector" dist/otelcol-coorlog "" .
		warm "warm: commands and tests" . "" ./...
		[ "$race" != --race ] || warm "warm: race" . -race ./...
	fi
	wait "$setup_pid" || { echo "build: setup failed" >&2; exit 1; }
fi

SKIP_SETUP=1 SKIP_SMOKE=1 bash scripts/otelcol.sh --if-stale
echo "build: compiling the commands (coorlog, otlpsink, demolog, oraclellm) into bin/"
progress "build: go build ./cmd/..." go build -o bin/ ./cmd/...
