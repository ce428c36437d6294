#!/usr/bin/env bash
# Times `make TARGET` on a fresh state, as CI's machine has it (BENCHMARKS.md, "First run and CI"):
# libtorch and its 170 packages purged and apt's cache emptied (apt downloads them again), a new
# clone of this repository's HEAD, empty GOCACHE, GOMODCACHE and COORLOG_CACHE. Every output line
# is prefixed with the seconds since the start, which gives the longest silence; /usr/bin/time -v
# adds the CPU time. With a second target, it runs on the same state right after the first (e.g.
# `demo test`: libtch's compiles in the two logs together). Processes at nice 19 are paused while
# it runs. Needs root (apt-get purge) and changes the machine: run it on a machine of its own.
#
#   scripts/measure-fresh.sh TARGET [TARGET2]     logs in $FRESH_DIR/TARGET/log and log2
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=${1:?usage: measure-fresh.sh TARGET [TARGET2]}
T2=${2:-}
F=${FRESH_DIR:-/tmp/fresh}/$T
rm -rf "$F"; mkdir -p "$F"
apt-get purge -y -qq --auto-remove libtorch-dev libtorch1.13 libopenblas0-pthread >/dev/null 2>&1
apt-get clean
! dpkg -s libtorch-dev >/dev/null 2>&1 || { echo "measure-fresh: libtorch is still installed" >&2; exit 1; }
git clone -q "$ROOT" "$F/main"
[ ! -d "$ROOT/../shared" ] || ln -sfn "$(cd "$ROOT/../shared" && pwd)" "$F/shared"
export GOCACHE=$F/gocache GOMODCACHE=$F/gomod COORLOG_CACHE=$F/cc
paused=$(ps -eo pid=,ni= | awk '$2 == 19 { print $1 }')
[ -z "$paused" ] || kill -STOP $paused
trap '[ -z "$paused" ] || kill -CONT $paused' EXIT
cd "$F/main"
start=$(date +%s.%N)
stamp() { while IFS= read -r l; do printf '%6.1f %s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$l"; done; }
{ /usr/bin/time -v make "$T"; echo "EXIT $?"; } 2>&1 | stamp >"$F/log"
[ -z "$T2" ] || { /usr/bin/time -v make "$T2"; echo "EXIT $?"; } 2>&1 | stamp >"$F/log2"
for l in "$F"/log*; do
	echo "$l: $(grep -E '^ *[0-9.]+ EXIT' "$l"), $(grep -E 'Elapsed' "$l" | sed 's/.*: //') wall," \
		"libtch compiles $(grep -c 'pass 2: compiling libtch' "$l")," \
		"longest silence $(awk 'NR > 1 && $1 - p > m { m = $1 - p } { p = $1 } END { printf "%.1f s", m }' "$l")"
done
