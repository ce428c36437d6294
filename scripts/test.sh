#!/usr/bin/env bash
# `make test` (and CI's .ci/run): setup, gofmt, go vet, the race tests of every package, the
# 1M-record soak, a short fuzz pass of every target, and the end-to-end test of the real collector
# binary. Each step says what it is, and a step that runs for long says so every 20 s.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/progress.sh
export CGO_ENABLED=1

step() { printf '\n== test: %s\n' "$*"; }
t0=$(date +%s)

step "build: setup, the collector, the commands, and the packages the tests compile (scripts/build.sh)"
bash scripts/build.sh --race

step "gofmt"
out=$(gofmt -l $(git ls-files '*.go'))
[ -z "$out" ] || { echo "gofmt needed:"; echo "$out"; exit 1; }

step "go vet ./..."
progress "test: go vet" go vet ./...

step "go test -race ./... (a first run compiles every package with the race detector: minutes)"
progress "test: go test -race" go test -race -count=1 -timeout 30m ./...

step "soak: 1M records through the processor"
progress "test: soak" go test -count=1 -run TestSoak ./processor

step "fuzz: a short pass of every target"
bash scripts/fuzz-short.sh

step "end to end: the collector binary"
bash scripts/e2e.sh

echo "test: all steps passed in $(( $(date +%s) - t0 ))s"
