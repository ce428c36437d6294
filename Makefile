# coorlog: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
export CGO_ENABLED := 1

.PHONY: setup test vet fmt-check bench otelcol demo eval clean fuzz

setup: ## libtorch, OpenBLAS and gotch adapted to them (idempotent; seconds when done)
	@bash scripts/setup.sh

vet: setup
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: setup fmt-check vet ## setup, vet, race tests, the 1M-record soak, a short fuzz pass
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -count=1 -run TestSoak ./processor
	@bash scripts/fuzz-short.sh

fuzz: setup ## longer fuzzing: FUZZTIME=60s make fuzz
	@FUZZTIME=$${FUZZTIME:-60s} bash scripts/fuzz-short.sh

clean:
	rm -rf bin dist out
