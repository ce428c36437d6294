# coorlog: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
export CGO_ENABLED := 1
COUNT ?= 5
HOG ?= 1

.PHONY: setup test check vet fmt-check fuzz otelcol demo e2e e2e-scale bench throughput stress clean

setup: ## libtorch, OpenBLAS and gotch adapted to them (idempotent; seconds when done)
	@bash scripts/setup.sh

vet: setup
	$(GO) vet -race ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: ## setup, gofmt, vet, the race tests of every package (1M-record soak and fuzz seed corpora included)
	@bash scripts/test.sh

check: ## test, then the collector end to end (e2e) and a short pass of every fuzz target
	@bash scripts/test.sh && bash scripts/e2e.sh && bash scripts/fuzz-short.sh

stress: setup ## the race suite COUNT times (default 5), shuffled, with a CPU hog on every core (HOG=0: none)
	@COUNT=$(COUNT) HOG=$(HOG) bash scripts/stress.sh

fuzz: setup ## longer fuzzing (a count per target; FUZZTIME=60s for a timed run, see scripts/fuzz-short.sh)
	@FUZZTIME=$${FUZZTIME:-500000x} bash scripts/fuzz-short.sh

clean:
	rm -rf bin dist out

otelcol: setup ## build bin/otelcol-coorlog from cmd/otelcol-coorlog (OCB's sources; regenerated when builder-config.yaml or go.mod changed)
	@bash scripts/otelcol.sh

demo: ## the main job on embedded defaults: setup and build (scripts/build.sh), train a demo model, run the collector, summarise
	@bash scripts/demo.sh

e2e: setup ## end-to-end test of the real collector binary (builds it when stale)
	@bash scripts/e2e.sh

e2e-scale: setup ## the Kafka scale-out recipe (examples/scale-out) on kfake: 1-3 collectors, ~1M records, a rebalance, model reload (minutes; not in test or CI)
	@bash scripts/e2e-scale.sh

bench: setup ## regenerate every evaluation figure (BENCHMARKS.md) from ../shared/data
	@bash scripts/bench.sh

throughput: setup ## otelcol with and without coorlog, same input, side by side; then the slow-LLM scenario (TPUT_LLM=0 skips it)
	@bash scripts/e2e-throughput.sh
