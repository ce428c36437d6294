#!/usr/bin/env bash
# Builds bin/otelcol-coorlog-scale, the distribution of the Kafka scale-out recipe
# (examples/scale-out/: builder-config.yaml, tier1.yaml, tier2.yaml): the main distribution's
# components plus kafkareceiver, kafkaexporter and groupbyattrsprocessor. scripts/otelcol.sh does
# the work (setup, OCB v0.165.0, compile without -trimpath so the Go build cache is shared with the
# main distribution, `components` check, start/stop smoke test); OCB generates into
# dist/otelcol-coorlog-scale (git-ignored) and runs again only when the manifest or go.mod changed.
# Then both tiers' configurations must pass `validate`, with the variables the recipe reads.
#
# Takes scripts/otelcol.sh's arguments (--if-stale) and variables (SKIP_SETUP, SKIP_SMOKE, OCB).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export OTELCOL_MANIFEST=examples/scale-out/builder-config.yaml
export OTELCOL_DIST=dist/otelcol-coorlog-scale
export OTELCOL_NAME=otelcol-coorlog-scale
case "${1:-}" in
--check-generated | --generate) echo "otelcol-scale: $1 is for the committed main distribution (scripts/otelcol.sh)" >&2; exit 2 ;;
esac
bash scripts/otelcol.sh "$@"

# The recipe's two configurations, with placeholder values for what they read from the environment;
# tier 2 in both roles (a follower with the defaults, the learner with AEM on and no reload).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
validate() { # $1 = file, then VAR=value settings
	local file=$1 out
	shift
	if ! out=$(env KAFKA_BROKERS=127.0.0.1:9092 KAFKA_TOPIC=hdfs_logs KAFKA_GROUP=coorlog \
		LOG_INCLUDE="$tmp/*.log" COORLOG_MODEL_PATH="$tmp" OTLP_ENDPOINT=http://127.0.0.1:4318 "$@" \
		"bin/$OTELCOL_NAME" validate --config "$file" 2>&1); then
		echo "otelcol-scale: $file does not validate ($*):" >&2
		echo "$out" >&2
		exit 1
	fi
}
validate examples/scale-out/tier1.yaml
validate examples/scale-out/tier2.yaml
validate examples/scale-out/tier2.yaml COORLOG_AEM=true COORLOG_MODEL_RELOAD_INTERVAL=0s COORLOG_FEEDBACK_ENDPOINT=127.0.0.1:4320
echo "otelcol-scale: examples/scale-out/tier1.yaml and tier2.yaml (follower and learner) validate with bin/$OTELCOL_NAME"
