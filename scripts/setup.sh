#!/usr/bin/env bash
# Prepares everything the Go build needs: libtorch, an optimised BLAS, and a
# copy of gotch adapted to the installed libtorch in .deps/gotch (git-ignored,
# wired in by the `replace` directive in go.mod). Idempotent: a second run
# checks a stamp and returns in about a second.
#
# Variables (all optional):
#   LIBTORCH_INCLUDE  libtorch headers   (default /usr/include, Debian's libtorch-dev)
#   LIBTORCH_LIB      libtorch libraries (default /usr/lib/<multiarch>)
#   GOTCH_CUDA        CUDA home (e.g. /usr/local/cuda) to link a CUDA libtorch; empty = CPU only
#   COORLOG_NO_APT=1  never call apt-get (you installed libtorch yourself)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GOTCH_VERSION=v0.9.1
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LIBTORCH_INCLUDE=${LIBTORCH_INCLUDE:-/usr/include}
LIBTORCH_LIB=${LIBTORCH_LIB:-/usr/lib/$MULTIARCH}
GOTCH_CUDA=${GOTCH_CUDA:-}
DEST=$ROOT/.deps/gotch
STAMP=$DEST/.coorlog-stamp

log() { printf 'setup: %s\n' "$*"; }

apt_install() {
	if [ "${COORLOG_NO_APT:-}" = 1 ] || ! command -v apt-get >/dev/null; then
		log "missing packages: $* (install them, or set LIBTORCH_INCLUDE/LIBTORCH_LIB)"; exit 1
	fi
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	log "installing $* (apt-get)"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

version_h=$LIBTORCH_INCLUDE/torch/csrc/api/include/torch/version.h
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
key=$(cat "$ROOT/scripts/setup.sh" "$ROOT/scripts/gotchpatch/main.go" | sha256sum | cut -c1-16)
want="gotch=$GOTCH_VERSION torch=$torch_version inc=$LIBTORCH_INCLUDE lib=$LIBTORCH_LIB cuda=$GOTCH_CUDA key=$key"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
	log "gotch $GOTCH_VERSION for libtorch $torch_version is ready (.deps/gotch)"
	exit 0
fi

log "preparing gotch $GOTCH_VERSION for libtorch $torch_version"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && go mod init setup >/dev/null 2>&1 && go mod download -json "github.com/sugarme/gotch@$GOTCH_VERSION" >info.json)
src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' "$tmp/info.json")
[ -d "$src" ] || { log "could not download gotch $GOTCH_VERSION"; exit 1; }

rm -rf "$DEST.new"
mkdir -p "$(dirname "$DEST")"
cp -r "$src" "$DEST.new"
chmod -R u+w "$DEST.new"
rm -rf "$DEST.new/example" "$DEST.new/gen" "$DEST.new/vision" # not needed, and would slow `go` walks
(cd "$ROOT/scripts/gotchpatch" && go run . -dir "$DEST.new" -include "$LIBTORCH_INCLUDE" -lib "$LIBTORCH_LIB" -cuda "$GOTCH_CUDA")
echo "$want" >"$DEST.new/.coorlog-stamp"
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
log "done; the first build compiles libtch (about 90 s)"
