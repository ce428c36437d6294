#!/usr/bin/env bash
# Train on the older release and evaluate every method on every (server, pair) of a corpus built
# by run.sh (issue 11). See README.md, "Evaluating on the corpora".
#
#   scripts/corpus/eval.sh                                  # out/corpus -> out/corpus-eval
#   scripts/corpus/eval.sh --corpus out/corpus-full --out out/corpus-eval-full
#   scripts/corpus/eval.sh --servers nats --split-seed 2 --modes plain,sim --train v2.8.4
#
# For each server and each release but the newest: a seeded split of that release's sessions.jsonl
# by kind (`coorlog sessions --source jsonl`: 72% train, 8% valid, 20% test), `coorlog train` on
# it, then `coorlog eval` on its own test part (intra-version) and on the whole sessions.jsonl of
# every newer release (upgrade), once per mode:
#   plain    no LLM: the small model alone, coorlog's routing with the fallback, and the lexical
#            baselines (e) new-template rule, (f) n-gram, (g) TF-IDF kNN
#   sim      --llm simulated:0.99 --aem
#   content  --llm simulated-content:0.95 --aem
# --train V1,V2 trains only on those releases (default: every release but the newest).
# Writes OUT/runs/*.json (eval --json), OUT/splits/, OUT/models/, and OUT/table.txt and
# OUT/table.json (corpus evaltable), the held-out servers in a table of their own.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

corpus=${CORPUS_EVAL_CORPUS:-$root/out/corpus}
out=${CORPUS_EVAL_OUT:-$root/out/corpus-eval}
servers=${CORPUS_EVAL_SERVERS:-all}
split_seed=${CORPUS_EVAL_SPLIT_SEED:-1}
train_seed=${CORPUS_EVAL_TRAIN_SEED:-1}
modes=${CORPUS_EVAL_MODES:-plain,sim,content}
trains=${CORPUS_EVAL_TRAIN:-all}
sim_acc=${CORPUS_EVAL_SIM_ACC:-0.99}
content_acc=${CORPUS_EVAL_CONTENT_ACC:-0.95}
# Extra `coorlog train` flags, e.g. CORPUS_EVAL_TRAIN_ARGS="--quantile 0.95".
read -r -a train_args <<<"${CORPUS_EVAL_TRAIN_ARGS:-}"
nice_cmd=${CORPUS_NICE:-nice -n 19}
coorlog=${COORLOG_BIN:-}

while [ $# -gt 0 ]; do
	case "$1" in
	--corpus) corpus=$2; shift ;;
	--out) out=$2; shift ;;
	--servers) servers=$2; shift ;;
	--split-seed) split_seed=$2; shift ;;
	--train-seed) train_seed=$2; shift ;;
	--modes) modes=$2; shift ;;
	--train) trains=$2; shift ;;
	--coorlog) coorlog=$2; shift ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "eval.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
case "$corpus" in /*) ;; *) corpus=$root/$corpus ;; esac
case "$out" in /*) ;; *) out=$root/$out ;; esac
[ -d "$corpus" ] || { echo "eval.sh: no corpus at $corpus (run scripts/corpus/run.sh first)" >&2; exit 1; }

export GOWORK=off CGO_ENABLED=1
t0=$SECONDS

# progress LABEL CMD...: the project's ticker, a line every 20 s while CMD runs.
source "$root/scripts/lib/progress.sh"

mkdir -p "$out/runs" "$out/splits" "$out/models" "$out/logs"
if [ -z "$coorlog" ]; then
	coorlog=$root/.deps/corpus/coorlog
	echo "[eval] building coorlog into $coorlog"
	(cd "$root" && progress "go build ./cmd/coorlog" $nice_cmd go build -o "$coorlog.$$" ./cmd/coorlog)
	mv -f "$coorlog.$$" "$coorlog"
fi
modcopy=$root/.deps/corpus/mod
mkdir -p "$modcopy"
cp "$here/go.mod" "$modcopy/go.mod"
cp "$here/go.sum" "$modcopy/go.sum"
echo "[eval] building the corpus tool"
# Built under a temporary name and renamed, so that runs started side by side never execute a
# half-written binary.
tool=$root/.deps/corpus/corpus
(cd "$here" && progress "go build scripts/corpus" $nice_cmd go build -mod=mod -modfile="$modcopy/go.mod" -o "$tool.$$" .)
mv -f "$tool.$$" "$tool"

# Releases per server, in manifest order (oldest first), only those the corpus has.
declare -A versions
order=()
while read -r name _ _ _ version _ _; do
	if [ "$servers" != all ] && [[ ",$servers," != *",$name,"* ]]; then
		continue
	fi
	[ -s "$corpus/$name/$version/sessions.jsonl" ] || { echo "[eval] $name $version: not in $corpus, skipped"; continue; }
	[ -n "${versions[$name]:-}" ] || order+=("$name")
	versions[$name]="${versions[$name]:-} $version"
done < <("$tool" list -manifest "$here/manifest.json")

# eval_one NAME TRAIN TEST-LABEL TEST-FILE: every mode on one test set.
eval_one() {
	local name=$1 old=$2 label=$3 test=$4 mode args
	IFS=, read -r -a mode_list <<<"$modes"
	for mode in "${mode_list[@]}"; do
		case "$mode" in
		plain) args=(--train "$out/splits/$name/$old/train.jsonl") ;;
		sim) args=(--llm "simulated:$sim_acc" --aem) ;;
		content) args=(--llm "simulated-content:$content_acc" --aem) ;;
		*) echo "eval.sh: unknown mode $mode (want plain, sim, content)" >&2; exit 2 ;;
		esac
		local run=$out/runs/${name}__${old}__${label}__${mode}.json
		echo "[eval] $name train $old, test $label, $mode"
		progress "$name $old -> $label $mode" $nice_cmd "$coorlog" eval --model "$out/models/$name/$old" --test "$test" \
			--seed "$train_seed" --json "${args[@]}" >"$run.tmp" 2>"$out/logs/${name}__${old}__${label}__${mode}.log"
		mv "$run.tmp" "$run"
	done
}

for name in "${order[@]}"; do
	read -r -a vs <<<"${versions[$name]}"
	n=${#vs[@]}
	for ((i = 0; i < n - 1; i++)); do
		old=${vs[$i]}
		if [ "$trains" != all ] && [[ ",$trains," != *",$old,"* ]]; then
			continue
		fi
		split=$out/splits/$name/$old
		echo "[eval] $name $old: split (seed $split_seed) and train (seed $train_seed)"
		$nice_cmd "$coorlog" sessions --source jsonl --in "$corpus/$name/$old/sessions.jsonl" --out "$split" --seed "$split_seed"
		progress "train $name $old" $nice_cmd "$coorlog" train --train "$split/train.jsonl" --valid "$split/valid.jsonl" \
			--out "$out/models/$name/$old" --seed "$train_seed" ${train_args[@]+"${train_args[@]}"} >"$out/logs/train-$name-$old.log" 2>&1
		tail -n 3 "$out/logs/train-$name-$old.log"
		eval_one "$name" "$old" "$old-test" "$split/test.jsonl"
		for ((j = i + 1; j < n; j++)); do
			eval_one "$name" "$old" "${vs[$j]}" "$corpus/$name/${vs[$j]}/sessions.jsonl"
		done
	done
done

"$tool" evaltable -manifest "$here/manifest.json" -eval "$out" -corpus "$corpus" -split-seed "$split_seed"
echo "[eval] done in $((SECONDS - t0)) s: $out/table.txt, $out/table.json"
