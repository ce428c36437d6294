#!/usr/bin/env bash
# `make demo`: the whole path a user takes, on this machine, in a few minutes.
#   1. builds bin/otelcol-coorlog (scripts/otelcol.sh) and the project's commands (scripts/build.sh)
#   2. makes labelled HDFS block sessions (`coorlog sessions` from ../shared/data when present,
#      else a synthetic set from `demolog synth`), an evolved copy of the test part
#      (`coorlog evolve`) and a model (`coorlog train`, default encoder)
#   3. writes a raw log file in which normal, anomalous and evolved sessions interleave
#   4. runs the collector on it: file_log -> coorlog -> otlp_http into cmd/otlpsink and into
#      VictoriaLogs (+ debug), stops it and prints what was flagged, per session, against the
#      labels, and the processor's own telemetry; then asks VictoriaLogs (LogsQL) for the anomalous
#      sessions it holds
#   5. the same with a simulated LLM endpoint (cmd/oraclellm: answers from the labels with
#      accuracy 0.99, as `coorlog eval --llm simulated:0.99` does; clearly not a model), to show
#      the LLM route, the verdict cache and AEM
#   6. leaves VictoriaLogs running on 127.0.0.1 (its web UI's URL and the command that stops it
#      are printed last) and, when chromium is installed, screenshots that UI
#
# VictoriaLogs (scripts/victorialogs.sh) is built once per machine into .deps/victorialogs, in the
# background while step 1 runs; COORLOG_DEMO_VL=0 leaves it out (otlpsink only).
# Variables (optional): COORLOG_DEMO_DIR (default demo/run), COORLOG_DATA (shared data),
# COORLOG_DEMO_SINK_PORT (14319), COORLOG_DEMO_METRICS_PORT (18889), COORLOG_DEMO_LLM_ENDPOINT,
# COORLOG_DEMO_LLM_MODEL, COORLOG_DEMO_LLM_API_KEY (an OpenAI-compatible LLM; none by default),
# DEMO_NORMAL/DEMO_ANOMALOUS/DEMO_EVOLVED (sessions in the log: 40/10/20), FRESH=1 (redo data and model),
# COORLOG_DEMO_VL (1; 0: no VictoriaLogs), COORLOG_DEMO_VL_ADDR (127.0.0.1:19428).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/progress.sh
RUN=${COORLOG_DEMO_DIR:-demo/run}
export COORLOG_DEMO_SINK_PORT=${COORLOG_DEMO_SINK_PORT:-14319}
export COORLOG_DEMO_METRICS_PORT=${COORLOG_DEMO_METRICS_PORT:-18889}
COORLOG_DEMO_ORACLE_PORT=${COORLOG_DEMO_ORACLE_PORT:-14330}
export COORLOG_DEMO_VL_ADDR=${COORLOG_DEMO_VL_ADDR:-127.0.0.1:19428}
export CGO_ENABLED=1

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

if [ "${FRESH:-}" = 1 ]; then
	bash scripts/victorialogs.sh stop "$RUN/victorialogs" # its store is under $RUN
	rm -rf "$RUN"
fi
mkdir -p "$RUN/data" bin
RUN=$(cd "$RUN" && pwd)

# VictoriaLogs: built once per machine, beside the project's build and below it in priority.
vl=${COORLOG_DEMO_VL:-1} vl_pid=
if [ "$vl" != 0 ] && ! bash scripts/victorialogs.sh path >/dev/null; then
	echo "(VictoriaLogs is not built here: go install in the background, log: $RUN/victorialogs-install.log)"
	nice -n 10 bash scripts/victorialogs.sh install >"$RUN/victorialogs-install.log" 2>&1 &
	vl_pid=$!
fi

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
	export COORLOG_DEMO_RUN=$name
	local configs=(--config demo/otelcol.yaml)
	[ "$vl" = 0 ] || configs+=(--config scripts/victorialogs-otelcol.yaml)
	bin/otlpsink -listen "127.0.0.1:$COORLOG_DEMO_SINK_PORT" -out "$dir/received.jsonl" 2>"$dir/otlpsink.log" &
	sink=$!
	bin/otelcol-coorlog "${configs[@]}" >"$dir/otelcol.log" 2>&1 &
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
	bin/otlpsink report -in "$dir/received.jsonl" -truth "$RUN/truth.jsonl" -key 'blk_-?\d+' -rows "${DEMO_ROWS:-12}"
	echo
	echo "processor telemetry (from the collector's Prometheus endpoint):"
	grep -v -e '_bucket' -e '^#' "$dir/metrics.txt" | sed 's/^/  /' || true
	echo "files: $dir/received.jsonl (annotated records), $dir/otelcol.log (collector log)"
	[ "$vl" = 0 ] || vl_report "$name"
}

# vlq QUERY: a LogsQL query to VictoriaLogs; JSON lines, every value a string.
vlq() { curl -sf --max-time 30 "http://$COORLOG_DEMO_VL_ADDR/select/logsql/query" --data-urlencode "query=$1"; }
# field NAME: NAME's value in each JSON line on stdin (flat rows of plain values, as the queries below give).
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

# vl_start: waits for the background build, then (re)starts VictoriaLogs with an empty store.
vl_start() {
	if [ -n "$vl_pid" ]; then
		progress "demo: waiting for the VictoriaLogs build" bash -c "while kill -0 $vl_pid 2>/dev/null; do sleep 1; done"
		if ! wait "$vl_pid"; then
			tail -5 "$RUN/victorialogs-install.log" >&2
			echo "VictoriaLogs could not be built (log: $RUN/victorialogs-install.log): the demo goes on WITHOUT it (otlpsink only)"
			vl=0
			return
		fi
		sed -n 's/^victorialogs: built .* in /VictoriaLogs built in /p' "$RUN/victorialogs-install.log"
	fi
	vl_proc=$(bash scripts/victorialogs.sh start "$RUN/victorialogs" "$COORLOG_DEMO_VL_ADDR") ||
		die "VictoriaLogs did not start (log: $RUN/victorialogs/victoria-logs.log); COORLOG_DEMO_VL_ADDR picks another address, COORLOG_DEMO_VL=0 runs without it"
	echo "VictoriaLogs $(basename "$(bash scripts/victorialogs.sh path)") on http://$COORLOG_DEMO_VL_ADDR (pid $vl_proc, store $RUN/victorialogs/data)"
}

# vl_report RUN: the anomalous sessions of one collector run, from what VictoriaLogs holds (not from
# our sink), against the labels in truth.jsonl.
vl_report() {
	local f="coorlog.demo.run:=$1 -anomaly.summary:true" q rows id truth label kind tp=0 fp=0 fn=0 shown=0 flagged
	curl -sf -o /dev/null "http://$COORLOG_DEMO_VL_ADDR/internal/force_flush" || true
	echo
	echo "what VictoriaLogs holds for this run (LogsQL, http://$COORLOG_DEMO_VL_ADDR/select/logsql/query):"
	q="coorlog.demo.run:=$1 | stats count() as records, count_uniq(anomaly.session.id) as sessions, min(_time) as first, max(_time) as last"
	rows=$(vlq "$q") || { echo "  query failed: $q"; return; }
	echo "  $(field records <<<"$rows") records of $(field sessions <<<"$rows") sessions, time $(field first <<<"$rows") .. $(field last <<<"$rows") (the lines' own timestamps)"
	q="$f anomaly.is_anomaly:true | stats by (anomaly.route) count_uniq(anomaly.session.id) as sessions, count() as records | sort by (anomaly.route)"
	echo "  \$ $q"
	vlq "$q" | while read -r row; do
		printf '    route %-12s %3s anomalous sessions, %4s records\n' "$(field anomaly.route <<<"$row")" "$(field sessions <<<"$row")" "$(field records <<<"$row")"
	done
	q="$f anomaly.is_anomaly:true | stats by (anomaly.session.id, anomaly.route, anomaly.evolved) count() as records, max(anomaly.score) as score | sort by (anomaly.route, score desc)"
	echo "  \$ $q"
	printf '    %-28s %-12s %-8s %7s %6s  %s\n' session route evolved records score truth
	flagged=$(vlq "$q")
	while read -r row; do
		[ -n "$row" ] || continue
		shown=$((shown + 1))
		id=$(field anomaly.session.id <<<"$row")
		truth=$(grep -m1 "\"id\":\"$id\"" "$RUN/truth.jsonl" || true)
		kind=$(sed -n 's/.*"kind":"\([a-z]*\)".*/\1/p' <<<"$truth")
		case "$truth" in
		*'"label":1'*) tp=$((tp + 1)); label="anomalous" ;;
		*) fp=$((fp + 1)); label="normal: FALSE ALARM" ;;
		esac
		[ "$kind" != evolved ] || label="$label (evolved session)"
		[ "$shown" -le "${DEMO_ROWS:-12}" ] || continue
		printf '    %-28s %-12s %-8s %7s %6.3f  %s\n' "$id" "$(field anomaly.route <<<"$row")" "$(field anomaly.evolved <<<"$row")" \
			"$(field records <<<"$row")" "$(field score <<<"$row")" "$label"
	done <<<"$flagged"
	[ "$shown" -le "${DEMO_ROWS:-12}" ] || echo "    ... $((shown - ${DEMO_ROWS:-12})) more (DEMO_ROWS=N shows more)"
	for id in $(grep '"label":1' "$RUN/truth.jsonl" | field id); do
		grep -q "\"anomaly.session.id\":\"$id\"" <<<"$flagged" || { fn=$((fn + 1)); echo "    $id  MISSED (labelled anomalous, not flagged)"; }
	done
	echo "  from the store: $tp anomalous sessions found, $fp false alarms, $fn missed"
}

# urlenc STRING: percent-encodes all but [A-Za-z0-9._~-] (ASCII input).
urlenc() {
	local s=$1 out= c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case "$c" in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) printf -v c '%%%02X' "'$c"; out+=$c ;;
		esac
	done
	printf '%s' "$out"
}

# vl_leave RUN: where to look at the store (web UI, LogsQL), a screenshot of the UI, how to stop it.
vl_leave() {
	local run=$1 base="http://$COORLOG_DEMO_VL_ADDR" id c rows first last end days q url chrome
	say "6. VictoriaLogs keeps running on $base (each run's records in the stream {coorlog.demo.run=RUN})"
	# The view to open first: the longest anomalous session the LLM judged, preferring one of the
	# evolved (upgraded) sessions of the labels; else any anomalous one.
	id=
	for q in "anomaly.route:=llm anomaly.evolved:=true" ""; do
		for c in $(vlq "coorlog.demo.run:=$run anomaly.is_anomaly:true -anomaly.summary:true $q | stats by (anomaly.session.id) count() as n | sort by (n desc, anomaly.session.id) | limit 20" | field anomaly.session.id); do
			[ -n "$id" ] || id=$c
			if grep "\"id\":\"$c\"" "$RUN/truth.jsonl" | grep -q '"kind":"evolved"'; then id=$c; break; fi
		done
		[ -z "$id" ] || break
	done
	rows=$(vlq "coorlog.demo.run:=$run | stats min(_time) as first, max(_time) as last")
	first=$(field first <<<"$rows") last=$(field last <<<"$rows")
	echo "web UI (vmui): $base/select/vmui/   (the records carry their 2008 timestamps: pick that time range)"
	if [ -n "$id" ] && [ -n "$first" ]; then
		# vmui's own URL parameters: the query, the time range, the JSON view (every field with its
		# name; the table view cuts the reason and the message off at 1400 px).
		end=$(date -u -d "${last%%T*} + 1 day" +%Y-%m-%dT00:00:00)
		days=$(( ($(date -u -d "$end" +%s) - $(date -u -d "${first%%T*}" +%s)) / 86400 ))
		q="coorlog.demo.run:=$run anomaly.session.id:=$id | fields _time, anomaly.session.id, anomaly.is_anomaly, anomaly.score, anomaly.route, anomaly.evolved, anomaly.reason, _msg"
		url="$base/select/vmui/#/?query=$(urlenc "$q")&g0.range_input=${days}d"
		url+="&g0.end_input=$(urlenc "$end")&g0.relative_time=none&view=json&hide_chart=true"
		echo "  anomalous session $id with its anomaly.* fields:"
		echo "  $url"
		rm -f "$RUN/victorialogs.png"
		chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
		if [ -z "$chrome" ]; then
			echo "  (screenshot skipped: chromium is not installed; apt-get install -y chromium adds it)"
		elif timeout 120 "$chrome" --headless --disable-gpu --hide-scrollbars $([ "$(id -u)" != 0 ] || echo --no-sandbox) \
			--window-size=1400,900 --virtual-time-budget=10000 --screenshot="$RUN/victorialogs.png" "$url" >"$RUN/chromium.log" 2>&1 &&
			[ -s "$RUN/victorialogs.png" ]; then
			echo "  screenshot of that view (headless chromium): $RUN/victorialogs.png"
		else
			echo "  (screenshot failed, log: $RUN/chromium.log)"
		fi
	fi
	echo "LogsQL over HTTP, e.g. the anomalous sessions per route:"
	echo "  curl -s $base/select/logsql/query --data-urlencode 'query=coorlog.demo.run:=$run anomaly.is_anomaly:true | stats by (anomaly.route) count_uniq(anomaly.session.id) as sessions'"
	echo "more queries and an alert rule: README.md, \"Viewing results\""
	echo "VictoriaLogs is STILL RUNNING (pid $vl_proc, log $RUN/victorialogs/victoria-logs.log). Stop it with:"
	echo "  bash scripts/victorialogs.sh stop $RUN/victorialogs"
	echo "(the next make demo restarts it with an empty store)"
}
records() { curl -sf "http://127.0.0.1:$COORLOG_DEMO_SINK_PORT/stats" | sed -n 's/.*"records":\([0-9]*\).*/\1/p'; }

if [ -n "${COORLOG_DEMO_LLM_ENDPOINT:-}" ]; then
	say "4. collector with your LLM ($COORLOG_DEMO_LLM_ENDPOINT): file_log -> coorlog -> batch -> otlp_http (otlpsink, VictoriaLogs) + debug"
	[ "$vl" = 0 ] || vl_start
	run_collector llm "$COORLOG_DEMO_LLM_ENDPOINT"
	[ "$vl" = 0 ] || vl_leave llm
	exit 0
fi

say "4. collector without an LLM: file_log -> coorlog -> batch -> otlp_http (otlpsink, VictoriaLogs) + debug"
[ "$vl" = 0 ] || vl_start
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
[ "$vl" = 0 ] || vl_leave simulated-llm
