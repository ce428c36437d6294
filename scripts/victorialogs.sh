#!/usr/bin/env bash
# VictoriaLogs (github.com/VictoriaMetrics/VictoriaLogs, Apache-2.0): the OTLP log store that
# `make demo` sends the annotated records to, and that internal/e2e's TestCollectorToVictoriaLogs
# queries. One binary, built from source with the Go toolchain (the module proxy serves it).
#
#   scripts/victorialogs.sh install      builds .deps/victorialogs/victoria-logs-VERSION once
#                                        (go install, CGO_ENABLED=0; BENCHMARKS.md has the times)
#                                        and prints its path; later calls print the path at once
#   scripts/victorialogs.sh path         prints that path (exit 1 when it is not built)
#   scripts/victorialogs.sh start DIR ADDR
#                                        (re)starts it on ADDR (host:port) with an empty store in
#                                        DIR/data, log DIR/victoria-logs.log, pid in DIR/pid, and
#                                        waits until /health answers; it keeps running after the
#                                        script exits
#   scripts/victorialogs.sh stop DIR     stops the one started with that DIR
#
# VICTORIALOGS_VERSION: default v1.52.2 (v1.52.1 also builds with Go 1.26).
# The store runs with -retentionPeriod=100y: the demo's HDFS lines are from 2008 and keep their own
# timestamps, and VictoriaLogs drops records older than the retention (default 7 days) on ingest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/lib/progress.sh"
version=${VICTORIALOGS_VERSION:-v1.52.2}
pkg=github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs
bin=$ROOT/.deps/victorialogs/victoria-logs-$version

die() { echo "victorialogs: $*" >&2; exit 1; }

install() {
	if [ -x "$bin" ]; then
		echo "$bin"
		return
	fi
	mkdir -p "$ROOT/.deps/victorialogs"
	local tmp start
	tmp=$(mktemp -d "$ROOT/.deps/victorialogs/install.XXXXXX")
	start=$SECONDS
	echo "victorialogs: go install $pkg@$version (once per machine; a few minutes on an empty Go cache)" >&2
	# Outside the module, so that go.mod plays no part; pure Go (no cgo zstd), stripped. Without
	# the compiler's optimisations (-N -l): 58 CPU-seconds on an empty Go cache instead of 86
	# (user+sys, measured 2026-12-05), which `make test` pays on a fresh machine; the store then
	# holds the tests' and the demo's few thousand records no slower that anyone would see.
	if ! (cd "$tmp" && GOBIN=$tmp CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false \
		progress "victorialogs: go install" go install -gcflags='all=-N -l' -ldflags='-s -w' "$pkg@$version" >&2); then
		rm -rf "$tmp"
		die "go install $pkg@$version failed (needs the Go module proxy, or the module in the Go module cache)"
	fi
	mv "$tmp/victoria-logs" "$bin" # atomic: two installs at once both end with a whole binary
	rm -rf "$tmp"
	echo "victorialogs: built $bin in $((SECONDS - start))s" >&2
	echo "$bin"
}

stop() {
	local dir=$1 pid
	[ -s "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	# Only a victoria-logs of ours (any version, or one rebuilt since): the pid file may be stale.
	if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == "$ROOT/.deps/victorialogs/victoria-logs-"* ]]; then
		kill -TERM "$pid"
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		! kill -0 "$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/pid"
}

start() {
	local dir=$1 addr=$2 pid
	[ -x "$bin" ] || die "$bin is not built: run scripts/victorialogs.sh install"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	stop "$dir"
	if curl -sf -o /dev/null --max-time 2 "http://$addr/health"; then
		die "something already answers on $addr (another VictoriaLogs?); stop it or choose another address"
	fi
	rm -rf "$dir/data"
	# setsid: its own session, so that the demo's end (or Ctrl-C in make) does not stop it.
	setsid "$bin" -httpListenAddr="$addr" -storageDataPath="$dir/data" -retentionPeriod=100y \
		>"$dir/victoria-logs.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/pid"
	for _ in $(seq 1 150); do
		if curl -sf -o /dev/null --max-time 2 "http://$addr/health"; then
			echo "$pid"
			return
		fi
		kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/victoria-logs.log" >&2; die "victoria-logs exited (log: $dir/victoria-logs.log)"; }
		sleep 0.2
	done
	die "victoria-logs did not answer on $addr within 30 s (log: $dir/victoria-logs.log)"
}

case "${1:-}" in
install) install ;;
path) [ -x "$bin" ] || exit 1; echo "$bin" ;;
start) [ $# -eq 3 ] || die "usage: start DIR HOST:PORT"; start "$2" "$3" ;;
stop) [ $# -eq 2 ] || die "usage: stop DIR"; stop "$2" ;;
*) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
