#!/usr/bin/env bash
# Learn mode without labels (issue 12), one command: `coorlog eval --learn` on every data set, with
# the screen off (every learning session taken as normal) and on (suspects reviewed by the LLM
# within the budget or held out), then detection on the same release's test sessions.
#
#   scripts/learnbench.sh                          # out/learnbench; corpora from out/corpus-full
#   LEARNBENCH_CORPUS=out/corpus scripts/learnbench.sh
#
# Data sets (the learner never sees a label; the simulated LLM answers its reviews from them):
#   hdfs-3, hdfs-20   HDFS sessions with 3% and 20% of them anomalous (`coorlog sessions`)
#   nats              the NATS corpus's oldest release (scripts/corpus), its train split
#   caddy             the Caddy corpus's oldest release: the held-out system, reported apart
#   coredns           the CoreDNS corpus's oldest release: the untouched held-out system, reported apart
#   persist           a fault that keeps happening while coorlog learns (not in the default sets):
#                     for each NATS fault kind, a learning window of the normal sessions, every
#                     session of that kind (7.4%) and 15 of each other kind, from a NATS v2.8.4
#                     corpus with 45% faulty sessions ($LEARNBENCH_PERSIST_CORPUS, default
#                     out/corpus-contam: scripts/corpus/run.sh --sessions 1800 --anomalous 0.45
#                     --servers nats --seed 5 --out out/corpus-contam); the table adds the recall
#                     of the persistent kind on the test part
# LLM: simulated at 0.99 (per session) with AEM. Writes OUT/runs/*.json and OUT/table.txt.
# LEARNBENCH_SETS="coredns caddy" runs only those data sets (names as above; default: all);
# LEARNBENCH_COORLOG=PATH uses a prebuilt coorlog instead of building bin/coorlog.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${LEARNBENCH_OUT:-out/learnbench}
CORPUS=${LEARNBENCH_CORPUS:-out/corpus-full}
SEEDS=${LEARNBENCH_SEEDS:-1}
LLM=${LEARNBENCH_LLM:-simulated:0.99}
BUDGET=${LEARNBENCH_BUDGET:-0.10}
THREADS=${THREADS:-2}
SETS=" $(echo "${LEARNBENCH_SETS:-hdfs-3 hdfs-20 nats caddy coredns}" | tr ',' ' ') "
PERSIST_CORPUS=${LEARNBENCH_PERSIST_CORPUS:-out/corpus-contam}
mkdir -p "$OUT/data" "$OUT/runs" bin
COORLOG=${LEARNBENCH_COORLOG:-}
if [ -z "$COORLOG" ]; then
	go build -o bin/coorlog ./cmd/coorlog
	COORLOG=bin/coorlog
fi
want() { [[ "$SETS" == *" $1 "* ]]; }

sets=()
for seed in $SEEDS; do
	for rate in 3 20; do
		want "hdfs-$rate" || continue
		d=$OUT/data/hdfs-$rate-s$seed
		[ -f "$d/test.jsonl" ] || "$COORLOG" sessions --source hdfs --anomaly-rate "0.$(printf %02d "$rate")" --max-normal 1500 \
			--seed "$seed" --out "$d" >/dev/null
		sets+=("hdfs-$rate-s$seed")
	done
	for server in nats caddy coredns; do
		want "$server" || continue
		rel=$(ls "$CORPUS/$server" 2>/dev/null | sort -V | head -1 || true)
		if [ -z "$rel" ]; then
			echo "learnbench: no $server corpus under $CORPUS (scripts/corpus/run.sh builds it): skipped" >&2
			continue
		fi
		d=$OUT/data/$server-s$seed
		[ -f "$d/test.jsonl" ] || "$COORLOG" sessions --source jsonl --in "$CORPUS/$server/$rel/sessions.jsonl" --seed "$seed" --out "$d" >/dev/null
		sets+=("$server-s$seed")
	done
	if want persist; then
		src=$PERSIST_CORPUS/nats/v2.8.4/sessions.jsonl
		if [ ! -f "$src" ]; then
			echo "learnbench: no $src (see the persist set above): skipped" >&2
		else
			for kind in $(jq -r 'select(.label == 1) | .attributes.kind' "$src" | sort -u); do
				d=$OUT/data/persist-$kind-s$seed
				if [ ! -f "$d/test.jsonl" ]; then
					mkdir -p "$d"
					jq -c -s --arg k "$kind" 'group_by(.attributes.kind) | map(if .[0].label == 0 or .[0].attributes.kind == $k then .[] else .[:15][] end) | .[]' \
						"$src" >"$d/window.jsonl"
					"$COORLOG" sessions --source jsonl --in "$d/window.jsonl" --seed "$seed" --out "$d" >/dev/null
				fi
				sets+=("persist-$kind-s$seed")
			done
		fi
	fi
done

for s in "${sets[@]}"; do
	for screen in off on; do
		f=$OUT/runs/$s-screen-$screen.json
		echo "learnbench: $s, screen $screen" >&2
		"$COORLOG" eval --learn "$OUT/data/$s/train.jsonl" --test "$OUT/data/$s/test.jsonl" --llm "$LLM" --aem \
			--screen "$screen" --review-budget "$BUDGET" --threads "$THREADS" --json >"$f"
	done
done

{
	printf '%-34s %-6s %8s %8s %9s %9s %9s %9s %7s %7s %7s %9s %9s\n' set screen learn anom reviews review% heldout anom_in P R F1 test_llm% persist
	for s in "${sets[@]}"; do
		kind=-
		[[ $s == persist-* ]] && kind=${s#persist-} && kind=${kind%-s*}
		for screen in off on; do
			jq -r --arg s "$s" --arg sc "$screen" --arg k "$kind" '[$s, $sc, .review.sessions, .learn_anomalous, .review.requests,
				(100 * .review.requests / .review.sessions), .review.held_out, .anomalous_taken_as_normal,
				.result.precision, .result.recall, .result.f1, (100 * .result.llm_sessions / .result.sessions),
				(if $k == "-" then "-" else "\(.result.by_kind[$k].flagged)/\(.result.by_kind[$k].sessions)" end)] |
				"\(.[0]) \(.[1]) \(.[2]) \(.[3]) \(.[4]) \(.[5]) \(.[6]) \(.[7]) \(.[8]) \(.[9]) \(.[10]) \(.[11]) \(.[12])"' \
				"$OUT/runs/$s-screen-$screen.json" |
				awk '{ printf "%-34s %-6s %8d %8d %9d %8.1f%% %9d %9d %7.3f %7.3f %7.3f %8.1f%% %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }'
		done
	done
	echo "anom_in: anomalous learning sessions that entered the model as normal; review%: LLM requests per learning session;"
	echo "persist: the persistent fault kind's test sessions flagged"
} | tee "$OUT/table.txt"
