#!/usr/bin/env bash
# A short pass of every Go fuzz target in the repository (FUZZTIME each,
# default 20000 executions): the committed seed corpora always run as part of
# `go test`; this adds a little new exploration in CI.
#
# The budget is a count, not a duration: with a duration -fuzztime, Go's fuzz
# coordinator (up to 1.26) can report a spurious "context deadline exceeded"
# failure at the deadline under CPU load (golang/go#75804); a count has no
# deadline to race. FUZZTIME=30s gives a timed run, which may end with that
# spurious failure (no crasher file is written then: rerun).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/progress.sh
FUZZTIME=${FUZZTIME:-20000x}
grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./.deps/' | sort | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		echo "fuzz: $pkg $name ($FUZZTIME)"
		progress "fuzz: $name" go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/fuzz-$$.log 2>&1 || { cat /tmp/fuzz-$$.log; exit 1; }
	done
done
