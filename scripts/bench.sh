#!/usr/bin/env bash
# Regenerates every figure of the evaluation (docs/notes/cli.md, merged into
# BENCHMARKS.md) from the shared data in one command:
#
#   bash scripts/bench.sh            # full run (about 1.5-2 min on 2 cores)
#   QUICK=1 bash scripts/bench.sh    # subsampled smoke run (a few minutes)
#
# Outputs: out/bench/*.txt and *.json (tables), docs/*.png (figures).
# Every seed is fixed here; the LLM is the simulated one (accuracy 0.99,
# answering from the test labels), and every LLM figure says so.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-out/bench}
PLOTS=${PLOTS:-docs}
ENCODER=${ENCODER:-}          # empty = the shipped default encoder
SEED=${SEED:-42}
EVOLVE_SEED=${EVOLVE_SEED:-1}
ENTRY_RATE=${ENTRY_RATE:-0.3}
SEQ_RATE=${SEQ_RATE:-0.2}
ANOMALY_RATE=${ANOMALY_RATE:-0.03}
LLM=${LLM:-simulated:0.99}
THREADS=${THREADS:-2}

SUB=()
SCALE=(--scale-sizes 1000,10000,100000 --scale-lengths 10,20,50,100,200)
if [[ -n "${QUICK:-}" ]]; then
  SUB=(--max-normal 1500)
  SCALE=(--scale-sizes 1000,10000 --scale-lengths 10,50,100)
fi
ENC=()
[[ -n "$ENCODER" ]] && ENC=(--encoder "$ENCODER")

mkdir -p "$OUT" "$PLOTS" bin
go build -o bin/coorlog ./cmd/coorlog

# 1. The side-by-side table: HDFS sessions and BGL windows, intra- and
#    inter-version, methods (a)-(f), plus the scale figures.
bin/coorlog bench --plots "$PLOTS" --json "$OUT/bench.json" --seed "$SEED" --evolve-seed "$EVOLVE_SEED" \
  --entry-rate "$ENTRY_RATE" --seq-rate "$SEQ_RATE" --anomaly-rate "$ANOMALY_RATE" --llm "$LLM" \
  --threads "$THREADS" "${SUB[@]}" "${SCALE[@]}" "${ENC[@]}" | tee "$OUT/bench.txt"

# 2. The CLI path a user takes: sessions -> train -> evolve -> eval, with the
#    tau sensitivity figure (CoorLog Fig. 3a) on the evolved HDFS test set.
bin/coorlog sessions --source hdfs --out "$OUT/hdfs" --seed "$SEED" --anomaly-rate "$ANOMALY_RATE" "${SUB[@]}"
bin/coorlog train --train "$OUT/hdfs/train.jsonl" --valid "$OUT/hdfs/valid.jsonl" --out "$OUT/hdfs-model" \
  --seed "$SEED" --threads "$THREADS" "${ENC[@]}" | tee "$OUT/train.txt"
bin/coorlog evolve --in "$OUT/hdfs/test.jsonl" --out "$OUT/hdfs/test_evolved.jsonl" --seed "$EVOLVE_SEED" \
  --entry-rate "$ENTRY_RATE" --seq-rate "$SEQ_RATE" --report "$OUT/evolve_report.json" | tee "$OUT/evolve.txt"
bin/coorlog eval --model "$OUT/hdfs-model" --test "$OUT/hdfs/test.jsonl" --llm "$LLM" --seed "$SEED" --threads "$THREADS" \
  --plot "$PLOTS" "${ENC[@]}" | tee "$OUT/eval_intra.txt"
bin/coorlog eval --model "$OUT/hdfs-model" --test "$OUT/hdfs/test_evolved.jsonl" --llm "$LLM" --seed "$SEED" --aem --threads "$THREADS" \
  --plot "$PLOTS" "${ENC[@]}" | tee "$OUT/eval_inter.txt"
echo "tables in $OUT, figures in $PLOTS"
