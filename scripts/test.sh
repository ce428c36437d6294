#!/usr/bin/env bash
# `make test` (and CI's .ci/run): setup, the generated collector sources checked against their
# inputs, gofmt, go vet, and the race tests of every package (the fuzz targets' seed corpora, the
# 1M-record soak, and the processor into a real VictoriaLogs store among them). Each step says
# what it is, and a step that runs for long says so every 20 s.
#
# Heavier checks have their own targets: `make e2e` (the collector binary end to end: it compiles
# the collector's 1,144 packages), `make fuzz` (new fuzz inputs: it compiles every fuzzed package's
# dependencies again with coverage instrumentation), `make stress`; `make check` runs test, e2e and
# a short fuzz pass in a row.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/progress.sh
export CGO_ENABLED=1

step() { printf '\n== test: %s\n' "$*"; }
t0=$(date +%s)

step "build: setup and the -race variants of the packages the tests compile (scripts/build.sh --tests)"
bash scripts/build.sh --tests

# TestBackendVictoriaLogs (root package) sends the processor's records to a real VictoriaLogs and
# reads them back with LogsQL; the store is built here, once per machine, not inside the tests.
step "VictoriaLogs, the OTLP log store the backend test queries (scripts/victorialogs.sh install)"
bash scripts/victorialogs.sh install >/dev/null

step "generated collector sources (cmd/otelcol-coorlog) match builder-config.yaml and go.mod"
bash scripts/otelcol.sh --check-generated

step "gofmt"
out=$(gofmt -l $(git ls-files '*.go'))
[ -z "$out" ] || { echo "gofmt needed:"; echo "$out"; exit 1; }

# -race: vet then reuses the race variants the tests compile, instead of compiling every package
# once more without it.
step "go vet -race ./..."
progress "test: go vet" go vet -race ./...

# COORLOG_SOAK_FULL: the soak runs its full 1M records under the race detector (about 30 s).
step "go test -race ./... (the race tests of every package, the 1M-record soak, the fuzz seed corpora)"
COORLOG_SOAK_FULL=1 progress "test: go test -race" go test -race -count=1 -timeout 30m ./...

echo "test: all steps passed in $(( $(date +%s) - t0 ))s"
