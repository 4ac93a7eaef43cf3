# event-driven-bayes — every command a developer or CI needs.
# `make test` is the one test command; .ci/run installs what a fresh machine
# lacks and then runs exactly that.

SHELL       := /bin/bash
MODULES     := services/events services/platform services/api services/bayes services/e2e
GO          ?= go
GOFLAGS_RACE := -race -count=1
BIN         := bin

.PHONY: all build test check unit bench run tidy clean

all: build

## build: write the two binaries to bin/api and bin/bayes
build:
	@mkdir -p $(BIN)
	cd services/api && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$(BIN)/api .
	cd services/bayes && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$(BIN)/bayes .

## check: gofmt and go vet on every module
check:
	@out=$$(gofmt -l services); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

## test: every test of every module (unit, integration with a real
## redis-server, end-to-end with both binaries), with the race detector
test: check
	@command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install -y redis-server (or run .ci/run)"; exit 1; }
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test $(GOFLAGS_RACE) -timeout 15m ./...) || exit 1; done

## unit: the fast tests only (no Redis, no processes)
unit:
	cd services/events && $(GO) test ./...
	cd services/bayes && $(GO) test ./domain/... ./app/...
	cd services/api && $(GO) test ./domain/... ./app/...

## bench: Go benchmarks of the domain update and the event codec
bench:
	cd services/bayes && $(GO) test -run '^$$' -bench . -benchmem ./domain/...
	cd services/events && $(GO) test -run '^$$' -bench . -benchmem ./...

## run: both services, plus a local redis-server on 6379 when REDIS_URL is
## unset and redis-server is installed; Ctrl-C stops everything
run: build
	@set -euo pipefail; pids=(); \
	trap 'kill $${pids[@]} 2>/dev/null; wait 2>/dev/null; echo stopped' INT TERM EXIT; \
	if [ -z "$${REDIS_URL:-}" ] && [ -z "$${REDIS_HOST:-}" ] && command -v redis-server >/dev/null; then \
		mkdir -p .run; redis-server --port 6379 --bind 127.0.0.1 --dir .run --appendonly yes --save "" & pids+=($$!); \
		for i in $$(seq 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	fi; \
	PORT=$${BAYES_PORT:-8001} $(BIN)/bayes & pids+=($$!); \
	PORT=$${API_PORT:-8000} $(BIN)/api & pids+=($$!); \
	echo "api on :$${API_PORT:-8000}, bayes on :$${BAYES_PORT:-8001}; Ctrl-C stops everything"; \
	wait -n

## tidy: go mod tidy in every module
tidy:
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy) || exit 1; done

clean:
	rm -rf $(BIN) .run
