#!/usr/bin/env bash
# End-to-end test of the collector distribution: (re)builds bin/otelcol-coorlog when a source is
# newer, then runs internal/e2e (file_log -> coorlog -> otlp_http into a receiver run by the test,
# raw HDFS lines of normal, anomalous and evolved sessions, attributes checked against the labels,
# once without an LLM, once with a local oracle LLM endpoint, once with operator feedback), and the
# same path into a real VictoriaLogs store (scripts/victorialogs.sh builds it), checked through its
# LogsQL query API.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CGO_ENABLED=1
source scripts/lib/progress.sh
bash scripts/setup.sh
SKIP_SETUP=1 bash scripts/otelcol.sh --if-stale
COORLOG_E2E=1 progress "e2e: go test ./internal/e2e" go test -count=1 -v -timeout 20m ./internal/e2e/ "$@"
