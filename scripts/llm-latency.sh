#!/usr/bin/env bash
# The real collector on an upgraded HDFS log with a slow LLM (issue 16): cmd/oraclellm answers from
# the labels at ACCURACY after LATENCY per request, like a real endpoint; the collector runs
# file_log -> coorlog (AEM on, llm.max_concurrent 8) -> otlp_http into cmd/otlpsink, and the
# received records are scored against the labels. Prints F1, the routes and the fallbacks by reason.
#
#   scripts/llm-latency.sh [LATENCY=2s] [ACCURACY=0.99] [SESSIONS=2400] [OUT=out/llm-latency]
#   COLLECTOR=bin/other-otelcol scripts/llm-latency.sh     # another build of the distribution
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CGO_ENABLED=1
LATENCY=${LATENCY:-2s}
ACCURACY=${ACCURACY:-0.99}
SESSIONS=${SESSIONS:-2400}
OUT=${OUT:-out/llm-latency}
COLLECTOR=${COLLECTOR:-bin/otelcol-coorlog}
SINK_PORT=${SINK_PORT:-14339}
LLM_PORT=${LLM_PORT:-14338}
mkdir -p "$OUT" bin
for c in coorlog otlpsink oraclellm demolog; do go build -o "bin/$c" "./cmd/$c"; done
[ -x "$COLLECTOR" ] || SKIP_SMOKE=1 bash scripts/otelcol.sh --if-stale

D=$OUT/data
if [ ! -s "$D/evolved.jsonl" ]; then
	bin/coorlog sessions --out "$D" --anomaly-rate 0.3 --test-frac 0.6 --seed 42 >/dev/null
	bin/coorlog evolve --in "$D/test.jsonl" --out "$D/evolved.jsonl" --seed 1 >/dev/null
	bin/coorlog train --train "$D/train.jsonl" --valid "$D/valid.jsonl" --out "$D/model" 2>"$OUT/train.log"
	bin/demolog compose --test "$D/test.jsonl" --evolved "$D/evolved.jsonl" --normal 0 --anomalous 0 \
		--evolved-sessions "$SESSIONS" --log "$D/upgraded.log" --truth "$D/truth.jsonl"
fi
lines=$(wc -l <"$D/upgraded.log")
run=$OUT/run; rm -rf "$run"; mkdir -p "$run"; cp -r "$D/model" "$run/model"
cat >"$run/otelcol.yaml" <<YAML
receivers:
  file_log: {include: ["$ROOT/$D/upgraded.log"], start_at: beginning}
processors:
  coorlog:
    model_path: $ROOT/$run/model
    session: {key: {source: body_regex, regex: 'blk_-?\d+'}, missing_key: pass_through, inactivity_timeout: 2s}
    aem: {interval: 5s}
    llm: {endpoint: "http://127.0.0.1:$LLM_PORT/v1", model: oracle, max_concurrent: 8, timeout: 60s}
exporters:
  otlp_http: {endpoint: "http://127.0.0.1:$SINK_PORT"}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {logs: {receivers: [file_log], processors: [coorlog], exporters: [otlp_http]}}
YAML
bin/oraclellm -listen "127.0.0.1:$LLM_PORT" -truth "$D/truth.jsonl" -accuracy "$ACCURACY" -latency "$LATENCY" 2>"$run/oraclellm.log" &
llm=$!
bin/otlpsink -listen "127.0.0.1:$SINK_PORT" -out "$run/received.jsonl" 2>"$run/otlpsink.log" &
sink=$!
"$COLLECTOR" --config "$run/otelcol.yaml" >"$run/otelcol.log" 2>&1 &
col=$!
trap 'kill -TERM $col $sink $llm 2>/dev/null || true' EXIT
start=$(date +%s)
records() { curl -sf "http://127.0.0.1:$SINK_PORT/stats" | sed -n 's/.*"records":\([0-9]*\).*/\1/p'; }
while :; do
	kill -0 "$col" 2>/dev/null || { tail -20 "$run/otelcol.log"; exit 1; }
	got=$(records || echo 0)
	[ "${got:-0}" -ge "$lines" ] && break
	[ $(( $(date +%s) - start )) -lt 900 ] || { echo "llm-latency: not every record arrived in 15 min" >&2; exit 1; }
	sleep 2
done
took=$(( $(date +%s) - start ))
echo "all $lines records at the sink after $took s (LLM latency $LATENCY, accuracy $ACCURACY, collector $COLLECTOR)"
# Late verdicts come after their records: wait until the sink has seen no record for 30 s.
last=-1
while got=$(records || echo 0); [ "$got" != "$last" ]; do last=$got; sleep 30; done
span=$(curl -sf "http://127.0.0.1:$SINK_PORT/stats" | jq -r '((.last | sub("\\.[0-9]+Z$"; "Z") | fromdate) - (.first | sub("\\.[0-9]+Z$"; "Z") | fromdate))')
echo "sink: $last records in all (annotated records + late verdicts); first to last record: $span s"
echo "collector peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$col/status")"
kill -TERM "$col"; wait "$col" || true
grep -ho '"peak_waiting"[^}]*' "$run/otelcol.log" || echo "no session waited for the LLM without holding a worker"
kill -TERM "$sink" "$llm"; wait "$sink" "$llm" 2>/dev/null || true
bin/otlpsink report -in "$run/received.jsonl" -truth "$D/truth.jsonl" -key 'blk_-?\d+' -rows 0 | grep -E "routes|precision"
echo "fallbacks by reason:"
jq -r 'select(.attributes["anomaly.route"] == "fallback") | [.attributes["anomaly.session.id"], .attributes["anomaly.reason"]] | @tsv' \
	"$run/received.jsonl" | sort -u | cut -f2 | sort | uniq -c | sort -rn
grep -h "requests answered" "$run/oraclellm.log" || true
