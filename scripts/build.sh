#!/usr/bin/env bash
# Builds what the demo or the tests run: setup (libtorch, .deps/gotch with libtch compiled), then
#   (default, `make demo`) bin/otelcol-coorlog (scripts/otelcol.sh) and the project's commands in bin/
#   --tests (`make test`)  the -race variants of every package the tests compile (no collector)
#
# On a fresh machine setup runs in the background, and the Go build cache fills meanwhile
# (scripts/lib/warm.sh): the packages that do not need libtorch while apt-get installs it, the rest
# once setup has adapted gotch's Go side, while its C++ archive compiles on one core. One go
# command at a time: two started together on an empty cache compile the same packages twice.
# Lines are prefixed setup:/gotchpatch:, otelcol: and warm:.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/progress.sh
source scripts/lib/warm.sh
export CGO_ENABLED=1
mode=${1:-}
case "$mode" in "" | --tests) ;; *) echo "build: unknown option $mode (--tests or none)" >&2; exit 2 ;; esac

# kill_tree PID: stops PID and every process under it.
kill_tree() {
	local c
	for c in $(pgrep -P "$1" || true); do kill_tree "$c"; done
	kill "$1" 2>/dev/null || true
}

# what nolib|all: compiles ahead what this mode needs: the packages that do not need libtorch, or all.
what() {
	local tag=""
	[ "$1" = all ] || tag=" (no libtorch)"
	if [ "$mode" = --tests ]; then
		warm "warm: race$tag" . -race "$1,test" ./...
	else
		warm "warm: collector$tag" cmd/otelcol-coorlog "" "$1" .
		warm "warm: commands$tag" . "" "$1" ./cmd/...
	fi
}

if bash scripts/setup.sh --check; then
	bash scripts/setup.sh
else
	bash scripts/setup.sh --module
	rm -f .deps/gotch/.coorlog-adapted # a stale copy: wait for setup's
	bash scripts/setup.sh &
	setup_pid=$!
	[ "$mode" = --tests ] || SKIP_SETUP=1 bash scripts/otelcol.sh --generate
	what nolib &
	nolib_pid=$!
	while ! gotch_adapted && kill -0 "$setup_pid" 2>/dev/null; do sleep 1; done
	# Once gotch is adapted, one go command compiles everything: gotch's packages and ours above
	# them are a serial chain of about 90 s that should start now, beside what nolib has left,
	# not after it. Stopping nolib loses only the packages it is compiling (the cache keeps every
	# finished one).
	if gotch_adapted && kill -0 "$nolib_pid" 2>/dev/null; then
		kill_tree "$nolib_pid"
		echo "warm: gotch is adapted: compiling the rest together with what needs it"
	fi
	wait "$nolib_pid" 2>/dev/null || true
	! gotch_adapted || what all
	wait "$setup_pid" || { echo "build: setup failed" >&2; exit 1; }
fi

[ "$mode" != --tests ] || exit 0
# With the cache filled, what is left is linking: the collector and the commands link side by side.
SKIP_SETUP=1 SKIP_SMOKE=1 bash scripts/otelcol.sh --if-stale &
otelcol_pid=$!
echo "build: compiling the commands (coorlog, otlpsink, demolog, oraclellm) into bin/"
rc=0
progress "build: go build ./cmd/..." go build -o bin/ ./cmd/... || rc=$?
wait "$otelcol_pid" || { echo "build: the collector did not build" >&2; exit 1; }
exit "$rc"
