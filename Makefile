# event-driven-bayes — every command a developer or CI needs.
# `make test` is the one test command; .ci/run installs what a fresh machine
# lacks and then runs exactly that.

SHELL       := /bin/bash
MODULES     := services/events services/platform services/api services/bayes services/e2e k8s/charttest k8s/node k8s/kindtest
GO          ?= go
GOFLAGS_RACE := -race -count=1
BIN         := bin
# The compose module: its file checks run without Docker, its stack test
# needs Docker and the compose v2 CLI pinned in its tools/go.mod. It is kept
# out of MODULES so `make test` runs the stack once, through e2e-compose.
COMPOSE_MOD := services/e2e/compose
COMPOSE_BIN ?= $(CURDIR)/$(BIN)/docker-compose

.PHONY: all build test check unit bench profile run tidy clean chaos fuzz compose-cli e2e-compose images readme

all: build

## build: write the two binaries to bin/api and bin/bayes
build:
	@mkdir -p $(BIN)
	cd services/api && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$(BIN)/api .
	cd services/bayes && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$(BIN)/bayes .

## check: gofmt and go vet on every module
check:
	@out=$$(gofmt -l services k8s); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES) $(COMPOSE_MOD); do (cd $$m && $(GO) vet ./...) || exit 1; done

## test: every test of every module (unit, integration with a real
## redis-server, end-to-end with both binaries), with the race detector;
## then e2e-compose when Docker is usable (or EDB_REQUIRE_DOCKER=1), else
## the docker-compose.yml checks alone, saying the stack was skipped
test: check
	@command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install -y redis-server (or run .ci/run)"; exit 1; }
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test $(GOFLAGS_RACE) -timeout 15m ./...) || exit 1; done
	@if docker info >/dev/null 2>&1 || [ "$${EDB_REQUIRE_DOCKER:-}" = 1 ]; then \
		$(MAKE) --no-print-directory e2e-compose; \
	else \
		echo "== $(COMPOSE_MOD): docker-compose.yml checks only"; \
		echo "   SKIPPED the compose stack (build, up, 500 observations, restarts, down): \`docker info\` failed, no Docker engine here."; \
		echo "   .ci/run installs and starts one; elsewhere start Docker and run make e2e-compose."; \
		cd $(COMPOSE_MOD) && EDB_REQUIRE_DOCKER= $(GO) test -count=1 ./...; \
	fi

## readme: run the README's examples against a live api and bayes and write
## what they print under each command (after a change of an answer)
readme:
	cd services/e2e && EDB_UPDATE_README=1 $(GO) test -run TestREADME -count=1 .

## compose-cli: build the compose v2 CLI pinned in $(COMPOSE_MOD)/tools/go.mod
## to bin/docker-compose (GOWORK=off: its many dependencies stay out of the
## workspace's version selection)
compose-cli:
	@mkdir -p $(BIN)
	cd $(COMPOSE_MOD)/tools && v=$$(GOWORK=off $(GO) list -m -f '{{.Version}}' github.com/docker/compose/v2) && \
		GOWORK=off $(GO) build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$$v" \
		-o $(COMPOSE_BIN) github.com/docker/compose/v2/cmd

## e2e-compose: docker-compose.yml checks, then the real stack: images built
## from local stand-ins, up, 500 observations, redis restart, bayes SIGKILL,
## down. Fails without Docker (EDB_REQUIRE_DOCKER=0 turns that into a skip)
e2e-compose: compose-cli
	cd $(COMPOSE_MOD) && COMPOSE_BIN=$(COMPOSE_BIN) EDB_REQUIRE_DOCKER=$${EDB_REQUIRE_DOCKER:-1} \
		$(GO) test -count=1 -v -timeout 25m ./...

## images: build the api and bayes images with docker compose
## (event-driven-bayes-api:dev, event-driven-bayes-bayes:dev, the names the chart uses)
images:
	docker compose build bayes-subscriber api-publisher

## ---- Kubernetes on kind (charts/event-driven-bayes, k8s/, skaffold.yaml) ----
## kind and helm are Go tools pinned in k8s/tools/go.mod (`go tool kind`,
## `go tool helm`); the node image and kubectl are built here from the Go
## module proxy (k8s/node); docker and skaffold come from the user's machine.
KIND          := $(GO) tool kind
HELM          := $(GO) tool helm
K8S_CLUSTER   := event-driven-bayes
K8S_NS        := event-driven-bayes
K8S_CHART     := charts/event-driven-bayes
K8S_TOOLS_BIN := $(CURDIR)/$(BIN)/k8s
# The node build's caches (binaries, root filesystem, stamps), outside the
# clone like Go's, so a new clone on the same machine reuses them.
KIND_NODE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/event-driven-bayes/kind-node
# The node image `make kind-image` builds (k8s/node/build.sh). Empty: the
# image pinned in k8s/kind-config.yaml, pulled by kind (needs a registry).
KIND_NODE_IMAGE ?= event-driven-bayes/kind-node:v1.34.0
# kubectl v1.34.0 from the node build when it exists, else the user's.
KUBECTL       ?= $(if $(wildcard $(KIND_NODE_CACHE)/bin/kubectl),$(KIND_NODE_CACHE)/bin/kubectl,kubectl)
export KIND_NODE_CACHE
# kube-prometheus-stack: Prometheus, Grafana and the ServiceMonitor CRD; the
# same pin and settings as the monitoring profile in skaffold.yaml. Off by
# default (MONITORING=1 turns it on): it is pulled from the internet.
MONITORING    ?=
KPS_VERSION   := 77.0.0
KPS_FLAGS     := --repo https://prometheus-community.github.io/helm-charts --version $(KPS_VERSION) \
	--namespace monitoring --create-namespace --wait --timeout 10m \
	--set alertmanager.enabled=false --set nodeExporter.enabled=false \
	--set prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false \
	--set grafana.sidecar.dashboards.searchNamespace=ALL \
	--set grafana.service.type=NodePort --set grafana.service.nodePort=30300
# A new tag per `make deploy`, so the pods roll to the images just built.
K8S_TAG       := dev-$(shell date +%Y%m%d%H%M%S)

.PHONY: kind-image kind-up kind-base-images deploy dev port-forward kind-down e2e-kind chart-test helm-lint k8s-tools

## kind-image: build the kind node image (Kubernetes v1.34.0 from the Go
## module proxy, Debian root filesystem, component images preloaded);
## skips every step whose inputs did not change. About 25 min cold.
kind-image:
	k8s/node/engine.sh ensure
	NODE_IMAGE=$(KIND_NODE_IMAGE) k8s/node/build.sh

## kind-up: create the kind cluster of k8s/kind-config.yaml (idempotent) from
## the local node image; ./graphs is mounted into the node and made writable
## for bayes (uid 65532)
kind-up: $(if $(KIND_NODE_IMAGE),kind-image)
	k8s/node/engine.sh ensure
	mkdir -p graphs && chmod a+rwx graphs
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(K8S_CLUSTER)'; then \
		echo "kind cluster $(K8S_CLUSTER) exists"; \
	else \
		start=$$(date +%s); \
		$(KIND) create cluster --config k8s/kind-config.yaml $(if $(KIND_NODE_IMAGE),--image $(KIND_NODE_IMAGE)) --wait 180s && \
		echo "kind cluster $(K8S_CLUSTER): Ready in $$(( $$(date +%s) - start )) s" && \
		k8s/node/settle.sh $(KUBECTL) kind-$(K8S_CLUSTER); \
	fi

## kind-base-images: the base images api and bayes build on, and the Redis
## image the chart names, made locally where no registry can be reached
## (services/e2e/compose/cmd/standins; GO_IMAGE, RUNTIME_IMAGE and
## REDIS_IMAGE override them); the Redis image is loaded into kind and the
## build arguments written to .cache/standins.env for deploy and dev
STANDINS_ENV := $(CURDIR)/.cache/standins.env
K8S_REDIS_IMAGE := docker.io/library/redis:7.4.6-alpine
kind-base-images:
	@mkdir -p $(dir $(STANDINS_ENV))
	cd services/e2e/compose && $(GO) run ./cmd/standins -tag-redis $(K8S_REDIS_IMAGE) > $(STANDINS_ENV)
	$(KIND) load docker-image --name $(K8S_CLUSTER) $(K8S_REDIS_IMAGE)

## deploy: without skaffold: build both images, load them into kind, then
## install the chart with charts/.../values-kind.yaml (MONITORING=1 also
## installs kube-prometheus-stack first and turns the ServiceMonitor on)
deploy: kind-base-images
	set -a && . $(STANDINS_ENV) && set +a && \
	docker build --network host --build-arg GO_IMAGE --build-arg RUNTIME_IMAGE -f Dockerfile.api -t event-driven-bayes-api:$(K8S_TAG) . && \
	docker build --network host --build-arg GO_IMAGE --build-arg RUNTIME_IMAGE -f Dockerfile.bayes -t event-driven-bayes-bayes:$(K8S_TAG) .
	$(KIND) load docker-image --name $(K8S_CLUSTER) event-driven-bayes-api:$(K8S_TAG) event-driven-bayes-bayes:$(K8S_TAG)
	$(if $(MONITORING),$(HELM) upgrade --install monitoring kube-prometheus-stack --kube-context kind-$(K8S_CLUSTER) $(KPS_FLAGS))
	$(HELM) upgrade --install event-driven-bayes $(K8S_CHART) --kube-context kind-$(K8S_CLUSTER) \
		--namespace $(K8S_NS) --create-namespace -f $(K8S_CHART)/values-kind.yaml \
		$(if $(MONITORING),--set metrics.serviceMonitor.enabled=true) \
		--set api.image.tag=$(K8S_TAG) --set bayes.image.tag=$(K8S_TAG) --wait --timeout 5m

## k8s-tools: build the pinned kind and helm into bin/k8s, for skaffold,
## which runs `kind load` and `helm` from PATH
k8s-tools:
	@mkdir -p $(K8S_TOOLS_BIN)
	$(GO) build -o $(K8S_TOOLS_BIN)/kind sigs.k8s.io/kind
	$(GO) build -ldflags "-X helm.sh/helm/v3/internal/version.version=$$($(GO) list -m -f '{{.Version}}' helm.sh/helm/v3)" \
		-o $(K8S_TOOLS_BIN)/helm helm.sh/helm/v3/cmd/helm

## dev: skaffold dev on the kind cluster: rebuild, redeploy and port-forward
## (api :8000, bayes :8001) on every change; `make dev SKAFFOLD_FLAGS=-pmonitoring`
## adds kube-prometheus-stack and Grafana :3000
SKAFFOLD_FLAGS ?=
dev: k8s-tools kind-base-images
	@command -v skaffold >/dev/null || { echo "skaffold not found: install it (README, Kubernetes on kind)"; exit 1; }
	set -a && . $(STANDINS_ENV) && set +a && PATH="$(K8S_TOOLS_BIN):$$PATH" skaffold dev --port-forward --kube-context kind-$(K8S_CLUSTER) $(SKAFFOLD_FLAGS)

## port-forward: api :8000 and bayes :8001 (and Grafana :3000 with
## MONITORING=1) until Ctrl-C; the kind NodePorts 30800 and 30801 work
## without it
port-forward:
	@trap 'kill $$(jobs -p) 2>/dev/null' INT TERM EXIT; \
	$(KUBECTL) --context kind-$(K8S_CLUSTER) -n $(K8S_NS) port-forward svc/event-driven-bayes-api 8000:8000 & \
	$(KUBECTL) --context kind-$(K8S_CLUSTER) -n $(K8S_NS) port-forward svc/event-driven-bayes-bayes 8001:8001 & \
	$(if $(MONITORING),$(KUBECTL) --context kind-$(K8S_CLUSTER) -n monitoring port-forward svc/monitoring-grafana 3000:80 &) \
	wait

## kind-down: delete the kind cluster and check nothing of it is left
## (./graphs on the host stays)
kind-down:
	k8s/node/down.sh $(K8S_CLUSTER) $(KIND)

## e2e-kind: the whole Kubernetes path on a real cluster: kind-up, images
## built from stand-ins and loaded, helm install, every pod Ready, then
## through port-forward the README's journey, the Redis pod deleted, a bayes
## pod deleted under load, helm upgrade under load, helm test; then
## kind-down. KEEP_CLUSTER=1 leaves the cluster up afterwards.
e2e-kind: kind-up k8s-tools
	@rc=0; cd k8s/kindtest && KIND_CLUSTER=$(K8S_CLUSTER) KUBECTL=$(KUBECTL) \
		KIND=$(K8S_TOOLS_BIN)/kind HELM=$(K8S_TOOLS_BIN)/helm EDB_REQUIRE_KIND=1 \
		$(GO) test -count=1 -v -timeout 40m ./... || rc=$$?; \
	cd $(CURDIR); if [ -z "$(KEEP_CLUSTER)" ]; then $(MAKE) --no-print-directory kind-down || rc=1; fi; exit $$rc

## chart-test: render the chart with the Helm SDK and check it strictly, plus
## kind-config.yaml and skaffold.yaml (no cluster needed; part of make test)
chart-test:
	cd k8s/charttest && $(GO) test $(GOFLAGS_RACE) ./...

## helm-lint: helm lint --strict with the default and the kind values
helm-lint:
	$(HELM) lint --strict $(K8S_CHART)
	$(HELM) lint --strict $(K8S_CHART) -f $(K8S_CHART)/values-kind.yaml

## chaos: the fault suite (services/e2e, build tag chaos): SIGKILLs of
## bayes and Redis under load, replicas replaced, Redis absent at start-up,
## lost replies, bad input, deletes and resets interleaved with observations
## and bayes SIGKILLs; each ends with the models counting exactly what was
## acknowledged (after a model's last reset or delete). A few minutes; needs
## redis-server
chaos:
	@command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install -y redis-server (or run .ci/run)"; exit 1; }
	cd services/e2e && $(GO) test -race -tags chaos -count=1 -timeout 20m -run Chaos ./...

## fuzz: fuzz the event decoder and the prior parser for FUZZTIME each
## (default 60s); `make test` runs only their seed corpora
FUZZTIME ?= 60s
fuzz:
	cd services/events && $(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) .
	cd services/events && $(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./prior

## docs-assets: refresh the API docs page's renderer (Swagger UI, embedded by
## services/platform/apidocs) from the npm registry at the version its
## package-lock.json pins, and record the files' hashes; needs node and npm
.PHONY: docs-assets
docs-assets:
	services/platform/apidocs/update-assets.sh

## unit: the fast tests only (no Redis, no processes)
unit:
	cd services/events && $(GO) test ./...
	cd services/bayes && $(GO) test ./domain/... ./app/...
	cd services/api && $(GO) test ./domain/... ./app/...

## bench: the Go micro-benchmarks (domain update, predictive, event codec,
## drain loop, the api's group-commit publisher),
## then bin/bench: every figure of the performance table against a reference
## measured in the same run (wrk, redis-benchmark, the real binaries), and
## the many-models figures: 10,000 new models in a burst on one bayes (peak
## RSS, goroutines, GET /models?limit=100, 201 → visible, every latest.png;
## MAX_MODELS=20000 on both services for it), and on a Redis Cluster of
## three masters and three replicas started here: events/s bayes applies
## with 3 shards vs 1, the api's req/s with REDIS_WAIT_REPLICAS=1 vs 0.
## BENCH_FLAGS=-short for a quick run (CI; 1,000 models in the burst);
## BENCH_FLAGS='-rows models' for the many-models figures alone,
## BENCH_FLAGS='-rows cluster' for the two cluster rows.
BENCH_FLAGS ?=
bench: build
	@for t in wrk redis-benchmark; do command -v $$t >/dev/null || { echo "$$t not found: apt-get install -y wrk redis-server"; exit 1; }; done
	cd services/bayes && $(GO) test -run '^$$' -bench . -benchmem ./domain/... ./adapters/redisstream/
	cd services/events && $(GO) test -run '^$$' -bench . -benchmem ./...
	cd services/api && $(GO) test -run '^$$' -bench . -benchmem ./adapters/redisstream/
	cd services/e2e && $(GO) build -o ../../$(BIN)/bench ./cmd/bench
	$(BIN)/bench -api $(BIN)/api -bayes $(BIN)/bayes $(BENCH_FLAGS)

## profile: CPU profiles of the api and of a bare Fiber handler under the
## same wrk load (the bench's api row), written to profiles/ and summed up;
## open one with `go tool pprof -http=127.0.0.1:8080 bin/api profiles/api.pprof`.
profile: build
	@command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk redis-server"; exit 1; }
	cd services/e2e && $(GO) build -o ../../$(BIN)/bench ./cmd/bench
	$(BIN)/bench -rows api -short -profile profiles
	cd services/api && $(GO) tool pprof -top -nodecount=30 ../../$(BIN)/api ../../profiles/api.pprof

## run: both services, plus a local redis-server on 6379 when REDIS_URL is
## unset and redis-server is installed; Ctrl-C stops everything
run: build
	@set -euo pipefail; pids=(); \
	trap 'kill $${pids[@]} 2>/dev/null; wait 2>/dev/null; echo stopped' INT TERM EXIT; \
	if [ -z "$${REDIS_URL:-}" ] && [ -z "$${REDIS_HOST:-}" ] && command -v redis-server >/dev/null; then \
		mkdir -p .run; redis-server --port 6379 --bind 127.0.0.1 --dir .run --appendonly yes --save "" & pids+=($$!); \
		for i in $$(seq 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	fi; \
	PORT=$${BAYES_PORT:-8001} API_PUBLIC_URL=$${API_PUBLIC_URL:-http://localhost:$${API_PORT:-8000}} $(BIN)/bayes & pids+=($$!); \
	PORT=$${API_PORT:-8000} CORS_ALLOW_ORIGINS=$${CORS_ALLOW_ORIGINS:-http://localhost:$${BAYES_PORT:-8001},http://127.0.0.1:$${BAYES_PORT:-8001}} $(BIN)/api & pids+=($$!); \
	echo "api on :$${API_PORT:-8000}, bayes on :$${BAYES_PORT:-8001} (live page: http://localhost:$${BAYES_PORT:-8001}/); Ctrl-C stops everything"; \
	wait -n

## tidy: go mod tidy in every module
tidy:
	@for m in $(MODULES) $(COMPOSE_MOD); do (cd $$m && $(GO) mod tidy) || exit 1; done
	cd $(COMPOSE_MOD)/tools && GOWORK=off $(GO) mod tidy

clean:
	rm -rf $(BIN) .run
