#!/usr/bin/env bash
# The real collector on a raw upgrade log of a corpus (issue 11): bin/otelcol-coorlog reads the newer
# release's raw.log with file_log, cuts it into sessions by the server's connection key, detects with
# a model trained on the older release (scripts/corpus/eval.sh's), asks cmd/oraclellm, an
# OpenAI-compatible stand-in LLM over HTTP whose wrong answers follow the session's content, and
# exports to cmd/otlpsink; the received records are then scored against truth.jsonl.
#
#   scripts/corpus/collector.sh [--server nats] [--train v2.8.4] [--test v2.14.0] [--accuracy 0.95]
#                               [--corpus out/corpus] [--eval out/corpus-eval] [--out out/corpus-collector]
#                               [--learn N] [--pace SECONDS] [--errors content|question]
#
# --errors says what the stand-in LLM's wrong answers follow: the session's content (default; as
# `coorlog eval --llm simulated-content:ACC`), or a coin flip per question (as the issue's first
# measurement, near `--llm simulated:ACC`).
# --pace S appends the log to the file the collector reads in S one-second parts, as a live server
# writes it, instead of handing it over whole (the corpus logs were written in about 30 s).
# --learn N runs the collector in learn mode instead, with no model and no labels: it learns from the
# first N sessions of the test release's log (its screen asks the stand-in LLM about suspects), then
# detects; the report scores the sessions after the learning window (issue 12).
# CORPUS_COLLECTOR=BIN runs another build of the collector (a before/after); CORPUS_AEM_BATCH=N sets
# the processor's aem.batch_size (default: the processor's).
# The model is EVAL/models/SERVER/TRAIN (run eval.sh first). Prints the sink's report (routes, per
# kind, precision, recall, F1) and the processor's telemetry; files in OUT/SERVER-TRAIN-TEST/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
server=nats train=v2.8.4 test=v2.14.0 acc=0.95 seed=1 learn=0 pace=0 errors=content
corpus=$root/out/corpus eval=$root/out/corpus-eval out=$root/out/corpus-collector
while [ $# -gt 0 ]; do
	case "$1" in
	--server) server=$2; shift ;;
	--train) train=$2; shift ;;
	--test) test=$2; shift ;;
	--accuracy) acc=$2; shift ;;
	--seed) seed=$2; shift ;;
	--corpus) corpus=$2; shift ;;
	--eval) eval=$2; shift ;;
	--out) out=$2; shift ;;
	--learn) learn=$2; shift ;;
	--pace) pace=$2; shift ;;
	--errors) errors=$2; shift ;;
	-h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
	*) echo "collector.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
# The session key in raw.log (its first capture group is the processor's key) and truth.jsonl's
# prefix for it (scripts/corpus/README.md, "Session keys in raw.log").
case "$server" in
nats) key_re='cid:([0-9]+) -' prefix=cid- ;;
caddy) key_re='"remote_port":"?([0-9]+)' prefix=port- ;;
# The client address is 127.0.0.1 in raw.log and <IP> in the LLM's prompt (its default redaction):
# prompt_re is where the stand-in LLM finds the key.
coredns) key_re='127\.0\.0\.1:([0-9]+) - [0-9]+ "' prompt_re='<IP>:([0-9]+) - [0-9]+ "' prefix=port- ;;
*) echo "collector.sh: no session key known for server $server" >&2; exit 2 ;;
esac
case "$errors" in
content) by_content=-by-content ;;
question) by_content= ;;
*) echo "collector.sh: --errors is content or question, not $errors" >&2; exit 2 ;;
esac
log=$corpus/$server/$test/raw.log
model=$eval/models/$server/$train
[ -s "$log" ] || { echo "collector.sh: no $log (run scripts/corpus/run.sh)" >&2; exit 1; }
mode=detect
if [ "$learn" -gt 0 ]; then
	mode=learn train=learn$learn
else
	[ -s "$model/coorlog.bundle" ] || { echo "collector.sh: no model in $model (run scripts/corpus/eval.sh)" >&2; exit 1; }
fi
dir=$out/$server-$train-$test
rm -rf "$dir"; mkdir -p "$dir"

cd "$root"
source scripts/lib/progress.sh
bash scripts/otelcol.sh --if-stale
progress "collector.sh: go build" go build -o bin/ ./cmd/otlpsink ./cmd/oraclellm

# The labelled sessions, keyed by the processor's session key (attributes.key without its prefix).
jq -c --arg p "$prefix" '{id: (.attributes.key | ltrimstr($p)), label: .label, lines: .lines, attributes: {kind: .attributes.kind}}' \
	"$corpus/$server/$test/sessions.jsonl" >"$dir/truth.jsonl"

sink_port=${CORPUS_SINK_PORT:-14419} llm_port=${CORPUS_LLM_PORT:-14430} metrics_port=${CORPUS_METRICS_PORT:-18989}
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' EXIT
bin/otlpsink -listen "127.0.0.1:$sink_port" -out "$dir/received.jsonl" 2>"$dir/otlpsink.log" &
pids+=($!)
bin/oraclellm -listen "127.0.0.1:$llm_port" -truth "$dir/truth.jsonl" -accuracy "$acc" -seed "$seed" \
	-key-regex "${prompt_re:-$key_re}" $by_content 2>"$dir/oraclellm.log" &
oracle=$!
pids+=($oracle)
if [ "$mode" = learn ]; then
	mkdir -p "$dir/model" # learn mode writes the model it trains here
else
	cp -r "$model" "$dir/model" # AEM writes what it learns into model_path
fi
feed=$log
if [ "$mode" = learn ]; then
	# A live log, not a file read at once: the collector first gets the lines up to the end of the
	# first N sessions (by the key's last line), and the rest once it has trained; sessions that
	# straddle the cut close at the pause and are cut in two.
	cut=$(grep -noE "$key_re" "$log" | sed -E 's/^([0-9]+):.*'"${key_re//\//\/}"'.*/\1 \2/' |
		awk '{ last[$2] = $1 } END { for (k in last) print last[k] }' | sort -n | sed -n "${learn}p")
	feed=$dir/raw.log
	head -n "$cut" "$log" >"$feed"
fi
if [ "$pace" -gt 0 ]; then
	[ "$mode" = detect ] || { echo "collector.sh: --pace goes with detect mode only" >&2; exit 2; }
	feed=$dir/raw.log
	: >"$feed"
fi
CORPUS_MODE=$mode CORPUS_LEARN_SESSIONS=$(( learn > 0 ? learn : 1000 )) CORPUS_LOG=$feed CORPUS_MODEL=$dir/model CORPUS_KEY_REGEX=$key_re CORPUS_LLM_ENDPOINT=http://127.0.0.1:$llm_port/v1 \
	CORPUS_SINK_PORT=$sink_port CORPUS_METRICS_PORT=$metrics_port \
	"${CORPUS_COLLECTOR:-bin/otelcol-coorlog}" --config scripts/corpus/otelcol.yaml ${CORPUS_AEM_BATCH:+--set processors::coorlog::aem::batch_size=$CORPUS_AEM_BATCH} >"$dir/otelcol.log" 2>&1 &
col=$!
pids+=($col)

lines=$(wc -l <"$log")
if [ "$pace" -gt 0 ]; then
	part=$(( (lines + pace - 1) / pace ))
	(for ((i = 0; i < pace; i++)); do
		sed -n "$((i * part + 1)),$(((i + 1) * part))p" "$log" >>"$feed"
		sleep 1
	done) &
	pids+=($!)
	echo "collector.sh: the log follows in $pace parts of $part lines, one a second"
fi
if [ "$mode" = learn ]; then
	until grep -q 'learn mode trained a model' "$dir/otelcol.log"; do
		kill -0 "$col" 2>/dev/null || { tail -20 "$dir/otelcol.log"; echo "collector.sh: the collector exited early" >&2; exit 1; }
		sleep 1
	done
	tail -n +"$((cut + 1))" "$log" >>"$feed"
	echo "collector.sh: learn mode trained on the first $learn sessions (lines 1-$cut); the rest of the log follows"
fi
echo "collector.sh: $server $train -> $test: $lines lines of $log; stand-in LLM: wrong answers by $errors, accuracy $acc"
start=$(date +%s) got=0 last=$(date +%s)
records() { curl -sf "http://127.0.0.1:$sink_port/stats" | sed -n 's/.*"records":\([0-9]*\).*/\1/p'; }
while [ $(( $(date +%s) - start )) -lt 900 ]; do
	kill -0 "$col" 2>/dev/null || { tail -20 "$dir/otelcol.log"; echo "collector.sh: the collector exited early" >&2; exit 1; }
	got=$(records || echo 0); got=${got:-0}
	[ "$got" -ge "$lines" ] && break
	if [ $(( $(date +%s) - last )) -ge 20 ]; then
		echo "collector.sh: $got of $lines records received ($(( $(date +%s) - start ))s)"
		last=$(date +%s)
	fi
	sleep 1
done
sleep 5 # the last summaries
curl -sf "http://127.0.0.1:$metrics_port/metrics" | grep '^otelcol_processor_coorlog' >"$dir/metrics.txt" || true
kill -TERM "$col"; wait "$col" || echo "collector exit status $?"
echo "collector.sh: $(records || echo "?") records received of $lines lines in $(( $(date +%s) - start ))s"
kill -TERM "$oracle"; wait "$oracle" || true
truth=$dir/truth.jsonl
if [ "$mode" = learn ]; then
	# Score what learn mode detected: leave out the sessions of the learning window.
	jq -r 'select(.attributes["anomaly.reason"] == "learning") | .attributes["anomaly.session.id"]' "$dir/received.jsonl" |
		sort -u >"$dir/learning-ids.txt"
	jq -c --rawfile ids "$dir/learning-ids.txt" '($ids | split("\n")) as $l | select(.id as $i | $l | index($i) | not)' \
		"$dir/truth.jsonl" >"$dir/truth-detect.jsonl"
	truth=$dir/truth-detect.jsonl
	echo "collector.sh: learn mode: $(wc -l <"$dir/learning-ids.txt") sessions in the learning window, $(wc -l <"$truth") scored after it"
fi
bin/otlpsink report -in "$dir/received.jsonl" -truth "$truth" -key "$key_re" -rows 20 | tee "$dir/report.txt"
echo "stand-in LLM: $(grep -o '[0-9]* requests answered' "$dir/oraclellm.log" || echo "? requests"), $(grep -o '[0-9]* of them without a labelled session key' "$dir/oraclellm.log" || echo "? of them without a labelled session key")"
grep -v -e '_bucket' -e '^#' "$dir/metrics.txt" | grep -E 'route|evolved|llm|aem|sessions|decisions|held_alarms' | sed 's/^/  /' || true
echo "files: $dir"
