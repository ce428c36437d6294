#!/usr/bin/env bash
# `make demo`: the whole path a user takes, on this machine, in a few minutes.
#   1. builds bin/otelcol-coorlog (scripts/otelcol.sh) and the project's commands (scripts/build.sh)
#   2. makes labelled HDFS block sessions (`coorlog sessions` from ../shared/data when present,
#      else a synthetic set from `demolog synth`), an evolved copy of the test part
#      (`coorlog evolve`) and a model (`coorlog train`, default encoder)
#   3. writes a raw log file in which normal, anomalous and evolved sessions interleave
#   4. runs the collector on it: file_log -> coorlog -> otlp_http into cmd/otlpsink (+ debug),
#      stops it and prints what was flagged, per session, against the labels, and the
#      processor's own telemetry
#   5. the same with a simulated LLM endpoint (cmd/oraclellm: answers from the labels with
#      accuracy 0.99, as `coorlog eval --llm simulated:0.99` does; clearly not a model), to show
#      the LLM route, the verdict cache and AEM
#
# Variables (optional): COORLOG_DEMO_DIR (default demo/run), COORLOG_DATA (shared data),
# COORLOG_DEMO_SINK_PORT (14319), COORLOG_DEMO_METRICS_PORT (18889), COORLOG_DEMO_LLM_ENDPOINT,
# COORLOG_DEMO_LLM_MODEL, COORLOG_DEMO_LLM_API_KEY (an OpenAI-compatible LLM; none by default),
# DEMO_NORMAL/DEMO_ANOMALOUS/DEMO_EVOLVED (sessions in the log: 40/10/20), FRESH=1 (redo data and model).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/progress.sh
RUN=${COORLOG_DEMO_DIR:-demo/run}
export COORLOG_DEMO_SINK_PORT=${COORLOG_DEMO_SINK_PORT:-14319}
export COORLOG_DEMO_METRICS_PORT=${COORLOG_DEMO_METRICS_PORT:-18889}
COORLOG_DEMO_ORACLE_PORT=${COORLOG_DEMO_ORACLE_PORT:-14330}
export CGO_ENABLED=1

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ "${FRESH:-}" = 1 ] && rm -rf "$RUN"
mkdir -p "$RUN/data" bin
RUN=$(cd "$RUN" && pwd)

say "1. build (setup, collector distribution, commands)"
bash scripts/build.sh

say "2. data and model"
if [ ! -s "$RUN/data/test.jsonl" ]; then
	if bin/coorlog sessions --out "$RUN/data" --max-normal 2000 --anomaly-rate 0.1 2>"$RUN/sessions.err"; then
		echo "(HDFS block sessions from the shared data set)"
	else
		grep -q "shared data directory not found" "$RUN/sessions.err" || { cat "$RUN/sessions.err" >&2; die "coorlog sessions failed"; }
		echo "(no shared data here: synthetic HDFS sessions)"
		bin/demolog synth --out "$RUN/data" --sessions 2000 --anomaly-rate 0.1
	fi
fi
if [ ! -s "$RUN/data/evolved.jsonl" ]; then
	bin/coorlog evolve --in "$RUN/data/test.jsonl" --out "$RUN/data/evolved.jsonl" --report "$RUN/data/evolve-report.json" >/dev/null
	echo "evolved copy of the test sessions: $RUN/data/evolved.jsonl (report: $RUN/data/evolve-report.json)"
fi
# Retrain when the commands changed (encoder or model code): a bundle must match the encoder.
stamp=$(sha256sum bin/coorlog | cut -c1-16)
if [ ! -s "$RUN/model/coorlog.bundle" ] || [ "$(cat "$RUN/model/.coorlog-stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$RUN/model"
	echo "training the demo model (log: $RUN/train.log)"
	progress "demo: coorlog train" bin/coorlog train --train "$RUN/data/train.jsonl" --valid "$RUN/data/valid.jsonl" --out "$RUN/model" 2>"$RUN/train.log" ||
		{ tail -20 "$RUN/train.log" >&2; die "coorlog train failed (log: $RUN/train.log)"; }
	echo "$stamp" >"$RUN/model/.coorlog-stamp"
else
	echo "model: $RUN/model (FRESH=1 retrains)"
fi

say "3. demo log"
bin/demolog compose --test "$RUN/data/test.jsonl" --evolved "$RUN/data/evolved.jsonl" \
	--normal "${DEMO_NORMAL:-40}" --anomalous "${DEMO_ANOMALOUS:-10}" --evolved-sessions "${DEMO_EVOLVED:-20}" \
	--log "$RUN/hdfs.log" --truth "$RUN/truth.jsonl"
lines=$(wc -l <"$RUN/hdfs.log")

# One run of the collector on the demo log; $1 names it, $2 is the LLM endpoint ("" = none).
run_collector() {
	local name=$1 llm=$2 dir="$RUN/$1"
	rm -rf "$dir"; mkdir -p "$dir"
	# AEM writes what it learns into model_path: give each run its own copy of the model.
	cp -r "$RUN/model" "$dir/model"
	export COORLOG_DEMO_LOG=$RUN/hdfs.log COORLOG_DEMO_MODEL=$dir/model
	export COORLOG_DEMO_LLM_ENDPOINT=$llm COORLOG_DEMO_LLM_MODEL=${COORLOG_DEMO_LLM_MODEL:-${llm:+oracle}}
	bin/otlpsink -listen "127.0.0.1:$COORLOG_DEMO_SINK_PORT" -out "$dir/received.jsonl" 2>"$dir/otlpsink.log" &
	sink=$!
	bin/otelcol-coorlog --config demo/otelcol.yaml >"$dir/otelcol.log" 2>&1 &
	col=$!
	trap 'kill -TERM "$col" "$sink" ${oracle:-} 2>/dev/null || true' EXIT

	local start got=0
	start=$(date +%s)
	# Every line comes back annotated (plus one summary record per anomalous session).
	while [ $(( $(date +%s) - start )) -lt 120 ]; do
		kill -0 "$col" 2>/dev/null || { tail -20 "$dir/otelcol.log"; die "the collector exited early (log: $dir/otelcol.log)"; }
		got=$(records || echo 0); got=${got:-0}
		[ "$got" -ge "$lines" ] && break
		sleep 1
	done
	sleep 3 # the last summaries and batches; AEM's first update
	echo "the sink received $(records) records for $lines log lines in $(( $(date +%s) - start ))s"
	curl -sf "http://127.0.0.1:$COORLOG_DEMO_METRICS_PORT/metrics" | grep '^otelcol_processor_coorlog' >"$dir/metrics.txt" || true
	kill -TERM "$col"
	if wait "$col"; then echo "collector stopped cleanly"; else echo "collector exit status $?"; fi
	kill -TERM "$sink"
	wait "$sink" || true

	echo
	echo "what was flagged (from what the sink received; truth from $RUN/truth.jsonl):"
	bin/otlpsink report -in "$dir/received.jsonl" -truth "$RUN/truth.jsonl" -rows "${DEMO_ROWS:-12}"
	echo
	echo "processor telemetry (from the collector's Prometheus endpoint):"
	grep -v -e '_bucket' -e '^#' "$dir/metrics.txt" | sed 's/^/  /' || true
	echo "files: $dir/received.jsonl (annotated records), $dir/otelcol.log (collector log)"
}
records() { curl -sf "http://127.0.0.1:$COORLOG_DEMO_SINK_PORT/stats" | sed -n 's/.*"records":\([0-9]*\).*/\1/p'; }

if [ -n "${COORLOG_DEMO_LLM_ENDPOINT:-}" ]; then
	say "4. collector with your LLM ($COORLOG_DEMO_LLM_ENDPOINT): file_log -> coorlog -> batch -> otlp_http (otlpsink) + debug"
	run_collector llm "$COORLOG_DEMO_LLM_ENDPOINT"
	exit 0
fi

say "4. collector without an LLM: file_log -> coorlog -> batch -> otlp_http (otlpsink) + debug"
run_collector no-llm ""

say "5. the same with a SIMULATED LLM: cmd/oraclellm answers from the labels with accuracy 0.99 (like coorlog eval --llm simulated:0.99); not a real model"
bin/oraclellm -listen "127.0.0.1:$COORLOG_DEMO_ORACLE_PORT" -truth "$RUN/truth.jsonl" -accuracy 0.99 2>"$RUN/oraclellm.log" &
oracle=$!
run_collector simulated-llm "http://127.0.0.1:$COORLOG_DEMO_ORACLE_PORT/v1"
kill -TERM "$oracle"
wait "$oracle" || true
trap - EXIT
echo
echo "input: $RUN/hdfs.log; labels: $RUN/truth.jsonl. With COORLOG_DEMO_LLM_ENDPOINT (+ _MODEL, _API_KEY) the demo uses your LLM instead."
