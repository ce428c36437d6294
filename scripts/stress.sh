#!/usr/bin/env bash
# `make stress`: the whole race suite COUNT times over, in shuffled order, optionally with every
# core kept busy by a CPU hog, to find tests that depend on timing. Prints each failing test and a
# closing count; exits non-zero on any failure. The full log goes to STRESS_LOG.
#
# Variables: COUNT (default 5) runs of every test; HOG=1 (default) one busy loop per core for the
# whole run, HOG=0 none; PKGS (default ./...); STRESS_LOG (default out/stress.log).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/progress.sh
export CGO_ENABLED=1
COUNT=${COUNT:-5}
HOG=${HOG:-1}
PKGS=${PKGS:-./...}
LOG=${STRESS_LOG:-out/stress.log}
mkdir -p "$(dirname "$LOG")"

hogs=()
stop_hogs() { [ ${#hogs[@]} -eq 0 ] || kill "${hogs[@]}" 2>/dev/null || true; }
trap stop_hogs EXIT
if [ "$HOG" = 1 ]; then
	for _ in $(seq 1 "$(nproc)"); do
		# A busy loop, bounded: it ends by itself after 3 hours at the latest.
		timeout 3h bash -c 'while :; do :; done' &
		hogs+=($!)
	done
	echo "stress: CPU hog on all $(nproc) cores"
fi

echo "stress: go test -race -count=$COUNT -shuffle=on $PKGS (log: $LOG)"
start=$(date +%s)
rc=0
progress "stress: go test" go test -race -count="$COUNT" -shuffle=on -timeout 120m -v $PKGS >"$LOG" 2>&1 || rc=$?
stop_hogs
hogs=()

grep -E '^(ok|FAIL|---) ' "$LOG" | grep -vE '^--- (PASS|SKIP)' || true
passed=$(grep -cE '^\s*--- PASS' "$LOG" || true)
failed=$(grep -cE '^\s*--- FAIL' "$LOG" || true)
echo "stress: $(( $(date +%s) - start ))s, COUNT=$COUNT, hog=$HOG, go test exit status $rc"
echo "stress: ${passed} passed, ${failed} failed"
if [ "$rc" != 0 ] || [ "$failed" != 0 ]; then
	exit 1
fi
