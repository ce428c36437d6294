#!/usr/bin/env bash
# Build labelled multi-release session corpora from real server releases
# (issue 11, deliverable 1). See scripts/corpus/README.md.
#
#   scripts/corpus/run.sh                      # quick: 600 scenarios per (server, release)
#   scripts/corpus/run.sh --full               # 2,000 scenarios per (server, release)
#   scripts/corpus/run.sh --sessions 800 --seed 7 --servers nats --out out/corpus
#
# Installs each release with `go install MODULE/CMD@VERSION` into .deps/corpus/bin
# (once), runs it on 127.0.0.1 with debug logging, drives seeded client
# scenarios at it, and writes out/corpus/SERVER/VERSION/{raw.log,sessions.jsonl,
# truth.jsonl,summary.json} and out/corpus/report.json.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

sessions=${CORPUS_SESSIONS:-600}
seed=${CORPUS_SEED:-1}
anomalous=${CORPUS_ANOMALOUS:-0.17}
out=${CORPUS_OUT:-$root/out/corpus}
servers=${CORPUS_SERVERS:-all}
concurrency=${CORPUS_CONCURRENCY:-16}
# Everything CPU-heavy runs at the lowest priority unless told otherwise.
nice_cmd=${CORPUS_NICE:-nice -n 19}

while [ $# -gt 0 ]; do
	case "$1" in
	--full) sessions=2000 ;;
	--sessions) sessions=$2; shift ;;
	--seed) seed=$2; shift ;;
	--anomalous) anomalous=$2; shift ;;
	--out) out=$2; shift ;;
	--servers) servers=$2; shift ;;
	--concurrency) concurrency=$2; shift ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
case "$out" in /*) ;; *) out=$root/$out ;; esac

export GOWORK=off
bindir=$root/.deps/corpus/bin
mkdir -p "$bindir" "$out"

# progress LABEL CMD...: the project's ticker, a line every 20 s while CMD runs.
source "$root/scripts/lib/progress.sh"

t0=$SECONDS
failed=
echo "[corpus] building the corpus builder"
# Built against a git-ignored copy of go.mod/go.sum: the builder imports the
# project's normaliser through a replace of the parent module, so a change of
# the parent's requirements may add go.sum lines; they land in the copy, never
# in the committed files.
modcopy=$root/.deps/corpus/mod
mkdir -p "$modcopy"
cp "$here/go.mod" "$modcopy/go.mod"
cp "$here/go.sum" "$modcopy/go.sum"
(cd "$here" && $nice_cmd go build -mod=mod -modfile="$modcopy/go.mod" -o "$root/.deps/corpus/corpus" .)
builder=$root/.deps/corpus/corpus

mapfile -t releases < <("$builder" list -manifest "$here/manifest.json")
for rel in "${releases[@]}"; do
	read -r name module pkg binary version date held <<<"$rel"
	if [ "$servers" != all ] && [[ ",$servers," != *",$name,"* ]]; then
		continue
	fi
	bin=$bindir/$name-$version
	if [ ! -x "$bin" ]; then
		tmp=$(mktemp -d "$root/.deps/corpus/install.XXXXXX")
		echo "[corpus] installing $pkg@$version (go install; the first time takes minutes)"
		if ! (cd "$tmp" && progress "go install $pkg@$version" env GOBIN="$tmp" $nice_cmd timeout 1800 go install "$pkg@$version"); then
			rm -rf "$tmp"
			echo "[corpus] go install $pkg@$version failed" >&2
			exit 1
		fi
		mv "$tmp/$binary" "$bin"
		rm -rf "$tmp"
	fi
	echo "[corpus] $name $version ($date, held out: $held): $sessions scenarios, seed $seed"
	if ! $nice_cmd "$builder" build -manifest "$here/manifest.json" -server "$name" -version "$version" -bin "$bin" \
		-out "$out" -sessions "$sessions" -seed "$seed" -anomalous "$anomalous" -concurrency "$concurrency"; then
		echo "[corpus] $name $version: build FAILED (see above)" >&2
		failed="$failed $name-$version"
	fi
done

"$builder" report -manifest "$here/manifest.json" -out "$out"
echo "[corpus] done in $((SECONDS - t0)) s; corpora under $out"
if [ -n "$failed" ]; then
	echo "[corpus] failed:$failed" >&2
	exit 1
fi
