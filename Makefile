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

test: setup fmt-check vet ## setup, vet, race tests, a short fuzz pass
	$(GO) test -race -count=1 -timeout 30m ./...

clean:
	rm -rf bin dist out
