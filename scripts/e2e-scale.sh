#!/usr/bin/env bash
# The Kafka scale-out test (`make e2e-scale`; not part of `make test`, `make check` or CI: several
# minutes and about a million records): builds bin/otelcol-coorlog-scale when stale
# (scripts/otelcol-scale.sh: examples/scale-out/builder-config.yaml), then runs test/scale, a Go
# module of its own (franz-go's in-process Kafka, kfake, stays out of the main module): one tier-1
# collector (examples/scale-out/tier1.yaml) and one to three tier-2 collectors in one consumer group
# (tier2.yaml) on kfake; delivery, sessions kept whole, a collector stopped mid-stream, model reload
# across replicas, and records/s with 1, 2 and 3 collectors (the figures in BENCHMARKS.md, "Scale-out
# on Kafka"). Extra arguments go to `go test` (e.g. -run 'TestScaleOut/rebalance').
#
# Variables: COORLOG_SCALE_SESSIONS (throughput input, default 50000 sessions = ~1M lines),
# COORLOG_SCALE_COLLECTORS (default 1,2,3), COORLOG_E2E_ENCODER (as for scripts/e2e.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CGO_ENABLED=1
source scripts/lib/progress.sh
bash scripts/setup.sh
SKIP_SETUP=1 bash scripts/otelcol-scale.sh --if-stale
# The test module's own dependencies (kfake, kadm) come from the module proxy or the cache.
(cd test/scale && progress "e2e-scale: go mod download" go mod download)
cd test/scale
COORLOG_E2E=1 progress "e2e-scale: go test ./test/scale" go test -count=1 -v -timeout 60m . "$@"
