#!/usr/bin/env bash
# Prepares everything the Go build needs: libtorch, an optimised BLAS, and a
# copy of gotch adapted to the installed libtorch in .deps/gotch (git-ignored,
# wired in by the `replace` directive in go.mod). Idempotent: a second run
# checks a stamp and returns in about a second.
#
# `setup.sh --check` exits 0 when everything is ready, 1 otherwise, and changes nothing.
# `setup.sh --module` only makes sure that .deps/gotch holds gotch's module (a pristine copy
# until the full setup has adapted it), in seconds: enough for the go command to load the module
# graph, so that scripts/lib/warm.sh can compile every package that does not need libtorch while
# the full setup runs.
#
# Variables (all optional):
#   LIBTORCH_INCLUDE  libtorch headers   (default /usr/include, Debian's libtorch-dev)
#   LIBTORCH_LIB      libtorch libraries (default /usr/lib/<multiarch>)
#   GOTCH_CUDA        CUDA home (e.g. /usr/local/cuda) to link a CUDA libtorch; empty = CPU only
#   COORLOG_NO_APT=1  never call apt-get (you installed libtorch yourself)
#   COORLOG_CACHE     where compiled libtch archives are kept for every clone on this machine
#                     (default ${XDG_CACHE_HOME:-~/.cache}/coorlog)
#
# gotch's C++ layer (libtch) is compiled here, once, into a static archive that every Go build
# links (the collector, the CLI, -race tests): cgo would otherwise compile it in each build whose
# flags differ, about 70 s and 1.6 GB of memory each.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/lib/progress.sh"
GOTCH_VERSION=v0.9.1
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LIBTORCH_INCLUDE=${LIBTORCH_INCLUDE:-/usr/include}
LIBTORCH_LIB=${LIBTORCH_LIB:-/usr/lib/$MULTIARCH}
GOTCH_CUDA=${GOTCH_CUDA:-}
DEST=$ROOT/.deps/gotch
STAMP=$DEST/.coorlog-stamp

log() { printf 'setup: %s\n' "$*"; }

# gotch_source prints the directory of gotch's module in the module cache (downloading it).
gotch_source() {
	local tmp dir
	tmp=$(mktemp -d)
	(cd "$tmp" && go mod init setup >/dev/null 2>&1 && go mod download -json "github.com/sugarme/gotch@$GOTCH_VERSION" >info.json)
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' "$tmp/info.json")
	rm -rf "$tmp"
	[ -d "$dir" ] || { log "could not download gotch $GOTCH_VERSION"; exit 1; }
	echo "$dir"
}

if [ "${1:-}" = --module ]; then
	if [ ! -f "$DEST/go.mod" ]; then
		src=$(gotch_source)
		rm -rf "$DEST.pristine"
		mkdir -p "$(dirname "$DEST")"
		cp -r "$src" "$DEST.pristine"
		chmod -R u+w "$DEST.pristine"
		rm -rf "$DEST.pristine/example" "$DEST.pristine/gen" "$DEST.pristine/vision"
		mv "$DEST.pristine" "$DEST"
		log "placed gotch $GOTCH_VERSION's module in .deps/gotch (not adapted to libtorch yet: run the full setup)"
	fi
	exit 0
fi

apt_install() {
	if [ "${COORLOG_NO_APT:-}" = 1 ] || ! command -v apt-get >/dev/null; then
		log "missing packages: $* (install them, or set LIBTORCH_INCLUDE/LIBTORCH_LIB)"; exit 1
	fi
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	log "installing $* (apt-get; about a minute)"
	# Another apt-get (unattended upgrades, a second clone's setup) may hold the lock: wait for it.
	local wait=(-o DPkg::Lock::Timeout=600)
	progress "setup: apt-get update" $sudo apt-get "${wait[@]}" update -qq
	DEBIAN_FRONTEND=noninteractive progress "setup: apt-get install" $sudo apt-get "${wait[@]}" install -y -qq --no-install-recommends "$@" >/dev/null
}

version_h=$LIBTORCH_INCLUDE/torch/csrc/api/include/torch/version.h
[ "${1:-}" != --check ] || [ -f "$version_h" ] || exit 1

# On a fresh machine the patcher (scripts/gotchpatch) compiles while apt-get installs libtorch:
# about 30 s off the path to the first libtch compile.
patcher=$(mktemp -d)
trap 'rm -rf "$patcher"' EXIT
patcher_pid=
build_patcher() { (cd "$ROOT/scripts/gotchpatch" && go build -o "$patcher/gotchpatch" .); }
if [ "${1:-}" != --check ] && [ ! -f "$version_h" ]; then
	build_patcher &
	patcher_pid=$!
fi
wait_patcher() {
	if [ -n "$patcher_pid" ]; then wait "$patcher_pid"; else build_patcher; fi || { log "could not build scripts/gotchpatch"; exit 1; }
}

if [ ! -f "$version_h" ]; then
	if [ "$LIBTORCH_INCLUDE" = /usr/include ]; then
		apt_install libtorch-dev libopenblas0-pthread
	else
		log "no libtorch headers under LIBTORCH_INCLUDE=$LIBTORCH_INCLUDE"; exit 1
	fi
fi
# Debian's libtorch falls back to the reference BLAS (30x slower) without this.
if [ "$LIBTORCH_INCLUDE" = /usr/include ] && command -v dpkg >/dev/null && ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
	apt_install libopenblas0-pthread
fi

torch_version=$(tr -d '\n\\' <"$version_h" | sed -n 's/.*TORCH_VERSION *"\([^"]*\)".*/\1/p')
key=$(cat "$ROOT/scripts/setup.sh" "$ROOT"/scripts/gotchpatch/*.go | sha256sum | cut -c1-16)
want="gotch=$GOTCH_VERSION torch=$torch_version inc=$LIBTORCH_INCLUDE lib=$LIBTORCH_LIB cuda=$GOTCH_CUDA key=$key"
if [ "${1:-}" = --check ]; then
	[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]
	exit
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
	log "gotch $GOTCH_VERSION for libtorch $torch_version is ready (.deps/gotch)"
	exit 0
fi

log "preparing gotch $GOTCH_VERSION for libtorch $torch_version"
src=$(gotch_source)
rm -rf "$DEST.new"
mkdir -p "$(dirname "$DEST")"
cp -r "$src" "$DEST.new"
chmod -R u+w "$DEST.new"
rm -rf "$DEST.new/example" "$DEST.new/gen" "$DEST.new/vision" # not needed, and would slow `go` walks
CACHE=${COORLOG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/coorlog}
salt=$(cat "$ROOT"/scripts/gotchpatch/*.go | sha256sum | cut -c1-16)
wait_patcher
flags=(-include "$LIBTORCH_INCLUDE" -lib "$LIBTORCH_LIB" -cuda "$GOTCH_CUDA" -cache "$CACHE" -salt "$salt" -known "$ROOT/scripts/gotchpatch/known")
"$patcher/gotchpatch" -phase go -dir "$DEST.new" "${flags[@]}"
echo "$want" >"$DEST.new/.coorlog-adapted" # what scripts/build.sh waits for
# The module is complete for the go command now (the archive is needed only to link): swapped in
# by two renames, it is missing only for an instant to a go command scripts/lib/warm.sh may have
# started meanwhile, and it compiles while the archive does.
rm -rf "$DEST.old"
[ ! -e "$DEST" ] || mv "$DEST" "$DEST.old"
mv "$DEST.new" "$DEST"
rm -rf "$DEST.old"
"$patcher/gotchpatch" -phase archive -dir "$DEST" "${flags[@]}"
echo "$want" >"$STAMP"
log "done: gotch in .deps/gotch links libtch from .deps/gotch/libtch/libcoorlog_tch.a"
