#!/usr/bin/env bash
# End-to-end throughput ratio of the collector with and without the coorlog processor, side by side
# in one run: the same raw HDFS log (synthetic block sessions, `demolog lines`) read by file_log and
# sent by otlp_http to cmd/otlpsink, once through `coorlog, batch` and once through `batch` only,
# alternating for TPUT_ROUNDS rounds. For each run: wall time from "Everything is ready" until the
# sink holds every record, the collector's CPU time over the same span (/proc/PID/stat), and its
# peak RSS. Medians and the ratio go to docs/notes/collector.md (between the throughput markers).
#
# Variables: TPUT_SESSIONS (15000 sessions, about 300k lines), TPUT_ROUNDS (3), TPUT_CONCURRENT (200
# sessions in progress at a time in the input), TPUT_PERF=1 (CPU profiles of both collectors in the
# last round, `perf record -g`, summarised by Go package into OUT/profile-{with,without}.txt),
# COORLOG_TPUT_MODEL (default demo/run/model; `make demo` makes it), TPUT_PORT (14329).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CGO_ENABLED=1
OUT=demo/run/throughput
SESSIONS=${TPUT_SESSIONS:-15000}
ROUNDS=${TPUT_ROUNDS:-3}
PORT=${TPUT_PORT:-14329}
MODEL=${COORLOG_TPUT_MODEL:-demo/run/model}
mkdir -p "$OUT" bin

bash scripts/setup.sh
SKIP_SETUP=1 SKIP_SMOKE=1 bash scripts/otelcol.sh --if-stale
for c in otlpsink demolog; do go build -o "bin/$c" "./cmd/$c"; done
COL=bin/otelcol-coorlog
if [ "${TPUT_PERF:-}" = 1 ]; then
	# The distribution is linked without symbols (-s -w); perf needs them: the same build, linked with.
	(cd cmd/otelcol-coorlog && go build -o "$ROOT/bin/otelcol-coorlog-symbols" .)
	COL=bin/otelcol-coorlog-symbols
fi
if [ ! -s "$MODEL/coorlog.bundle" ]; then
	echo "no model at $MODEL: running the demo first to make one"
	bash scripts/demo.sh >/dev/null
fi
MODEL=$(cd "$MODEL" && pwd)

# 200 blocks in progress at a time, as on a live cluster: sessions close (and are scored) while
# the file is being read, not all at its end.
bin/demolog lines --out "$OUT/load.log" --sessions "$SESSIONS" --concurrent "${TPUT_CONCURRENT:-200}" --seed 21
LINES=$(wc -l <"$OUT/load.log")

write_config() { # $1 = name, $2 = processors list
	local extra=""
	[[ "$2" == *coorlog* ]] && extra="
  coorlog:
    model_path: $MODEL
    session:
      key: {source: body_regex, regex: 'blk_-?\\d+'}
      missing_key: pass_through
      inactivity_timeout: 500ms
    workers: 2"
	cat >"$OUT/$1.yaml" <<EOF
receivers:
  file_log:
    include: [$ROOT/$OUT/load.log]
    start_at: beginning
processors:
  batch:$extra
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:$PORT
    sending_queue:
      queue_size: 10000
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [file_log]
      processors: [$2]
      exporters: [otlp_http]
EOF
}
write_config without "batch"
write_config with "coorlog, batch"

TICK=$(getconf CLK_TCK)
cpu_seconds() { awk -v t="$TICK" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }
now() { date +%s.%N; }
records() { curl -sf "http://127.0.0.1:$PORT/stats" | sed -n 's/.*"records":\([0-9]*\).*/\1/p'; }

run_one() { # $1 = variant; prints: variant wall_s cpu_s rss_mib
	local v=$1 log="$OUT/$1.log"
	bin/otlpsink -listen "127.0.0.1:$PORT" -out /dev/null 2>/dev/null &
	local sink=$!
	sleep 0.3
	"$COL" --config "$OUT/$v.yaml" >"$log" 2>&1 &
	local col=$! t0 c0 t1 c1 rss got=0
	until grep -q "Everything is ready" "$log"; do
		kill -0 "$col" 2>/dev/null || { tail "$log" >&2; exit 1; }
		sleep 0.05
	done
	t0=$(now); c0=$(cpu_seconds "$col")
	local perf=
	if [ -n "${PROFILE_THIS:-}" ]; then
		perf record -q -F 499 -g -p "$col" -o "$OUT/perf-$v.data" >/dev/null 2>&1 &
		perf=$!
	fi
	while :; do
		got=$(records || echo 0)
		[ "${got:-0}" -ge "$LINES" ] && break
		kill -0 "$col" 2>/dev/null || { tail "$log" >&2; exit 1; }
		sleep 0.1
	done
	t1=$(now); c1=$(cpu_seconds "$col")
	[ -z "$perf" ] || { kill -INT "$perf"; wait "$perf" || true; }
	rss=$(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$col/status")
	kill -TERM "$col"; wait "$col" || { echo "collector ($v) did not stop cleanly" >&2; exit 1; }
	kill -TERM "$sink"; wait "$sink" || true
	awk -v v="$v" -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" -v r="$rss" \
		'BEGIN { printf "%s %.3f %.3f %s\n", v, b - a, d - c, r }'
}

# profile_summary VARIANT: self time of the profiled collector by Go package (the symbol up to its
# last "." before the function name), and the top functions.
profile_summary() {
	perf report -i "$OUT/perf-$1.data" --stdio --no-children --sort sym -g none --percent-limit 0 2>/dev/null |
		awk '/^ +[0-9.]+%/ { p = $1; sub("%", "", p); $1 = ""; $2 = ""; sym = $0; gsub(/^ +/, "", sym)
			pkg = sym; sub(/\(.*/, "", pkg); n = split(pkg, a, "."); pkg = a[1]; for (i = 2; i < n; i++) pkg = pkg "." a[i]
			if (sym ~ /^0x/ || n < 2) pkg = "(C / kernel / unknown)"
			by[pkg] += p; top[++k] = sprintf("%6.2f%%  %s", p, sym) }
		END { print "self time by package:"; for (q in by) printf "%6.2f%%  %s\n", by[q], q | "sort -rn | head -40"
			close("sort -rn | head -40"); print "\ntop functions:"; for (i = 1; i <= 40 && i <= k; i++) print top[i] }'
}

results="$OUT/results.txt"
: >"$results"
echo "input: $LINES lines, $SESSIONS sessions; $ROUNDS rounds"
for i in $(seq 1 "$ROUNDS"); do
	for v in without with; do
		PROFILE_THIS=
		[ "${TPUT_PERF:-}" != 1 ] || [ "$i" != "$ROUNDS" ] || PROFILE_THIS=1
		r=$(PROFILE_THIS=$PROFILE_THIS run_one "$v")
		echo "round $i: $r" | awk '{ printf "round %s %-8s wall %6.2fs  cpu %6.2fs  peak RSS %s MiB\n", $2, $3, $4, $5, $6 }'
		echo "$r" >>"$results"
	done
done

if [ "${TPUT_PERF:-}" = 1 ]; then
	for v in with without; do
		[ -s "$OUT/perf-$v.data" ] || continue
		profile_summary "$v" >"$OUT/profile-$v.txt"
		echo "profile: $OUT/profile-$v.txt (perf data: $OUT/perf-$v.data)"
	done
fi

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
stat_of() { awk -v v="$1" -v c="$2" '$1 == v { print $c }' "$results" | median; }
w_wall=$(stat_of without 2); w_cpu=$(stat_of without 3); w_rss=$(stat_of without 4)
c_wall=$(stat_of with 2); c_cpu=$(stat_of with 3); c_rss=$(stat_of with 4)
table=$(awk -v n="$LINES" -v ww="$w_wall" -v wc="$w_cpu" -v wr="$w_rss" -v cw="$c_wall" -v cc="$c_cpu" -v cr="$c_rss" 'BEGIN {
	printf "| pipeline | wall (median) | records/s | CPU s | CPU µs/record | peak RSS |\n"
	printf "|---|---|---|---|---|---|\n"
	printf "| file_log -> batch -> otlp_http | %.2f s | %.0f | %.2f | %.1f | %s MiB |\n", ww, n / ww, wc, wc * 1e6 / n, wr
	printf "| file_log -> coorlog -> batch -> otlp_http | %.2f s | %.0f | %.2f | %.1f | %s MiB |\n", cw, n / cw, cc, cc * 1e6 / n, cr
	printf "\nThroughput ratio (with / without coorlog): **%.2f** (wall), CPU per record ratio %.2f.\n", ww / cw, cc / wc
}')
echo
echo "$table"

machine="$(nproc) cores, $(awk '/model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//')"
section=$(cat <<EOF
<!-- throughput:begin -->
Measured $(date -u +%Y-%m-%d) on this machine ($machine), \`bash scripts/e2e-throughput.sh\`
(TPUT_SESSIONS=$SESSIONS, TPUT_ROUNDS=$ROUNDS, ${TPUT_CONCURRENT:-200} blocks in progress at a time):
$LINES raw HDFS lines, the same file through both
pipelines, alternating runs, medians. Wall time runs from the collector's "Everything is ready" to the
last record at the sink (so it includes coorlog's inactivity timeout of 500 ms for the last sessions);
CPU is the collector process's user+system time over the same span (the sink runs in another process).
No LLM (evolved sessions take the fallback route), default encoder, embedding cache warm after the
first occurrence of each template.

$table
<!-- throughput:end -->
EOF
)
notes=docs/notes/collector.md
if [ -f "$notes" ] && grep -q '<!-- throughput:begin -->' "$notes"; then
	# awk -v keeps the section's text as is (it has no backslashes).
	awk -v s="$section" '
		/<!-- throughput:begin -->/ { print s; skip = 1; next }
		/<!-- throughput:end -->/ { skip = 0; next }
		!skip { print }' "$notes" >"$notes.tmp" && mv "$notes.tmp" "$notes"
	echo "updated $notes"
else
	echo "(no throughput markers in $notes: section not written)"
fi
