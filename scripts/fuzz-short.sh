#!/usr/bin/env bash
# A short pass of every Go fuzz target in the repository (FUZZTIME each,
# default 5s): the committed seed corpora always run as part of `go test`;
# this adds a little new exploration in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5s}
grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./.deps/' | sort | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		echo "fuzz: $pkg $name ($FUZZTIME)"
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/fuzz-$$.log 2>&1 || { cat /tmp/fuzz-$$.log; exit 1; }
	done
done
