# Real-World Architectures: every entry point. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
# uv is bootstrapped with pip when missing; `python -m uv` works without a PATH change.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
COMPOSE ?= docker compose
SCENARIO ?= mix
LOAD_USERS ?= 50
LOAD_TIME ?= 60s
LOAD_HOST ?= http://127.0.0.1:8080
DURATION ?= 60s
INTENSITY ?= small
SEED ?=

.PHONY: chaos experiment experiments help bootstrap sync run test test-fast lint fmt up up-lean prometheus-tools down logs load load-ui bench bench-catalog bench-chat bench-cql bench-edge bench-edge-relays bench-tracing bench-tools bench-dispatch bench-payments clean

help: ## list the targets
	@grep -E '^[a-z -]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap: ## install uv if it is missing
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

sync: bootstrap ## install every dependency from uv.lock into .venv
	@$(UV) sync --frozen --all-packages

run: sync ## the whole stack natively; Ctrl-C stops it; ARGS=--free-ports for a second stack
	@$(UV) run --frozen python -m devstack run $(ARGS)

test: sync lint ## lint, type-check, then every test (unit, integration, contract, e2e)
	@$(UV) run --frozen pytest

test-fast: sync ## unit and contract tests only: no servers
	@$(UV) run --frozen pytest tests -m "not integration and not e2e" --ignore=tests/e2e

.PHONY: test-containers
test-containers: sync ## build every image, docker compose up on podman (or Docker), smoke it through the edge, remove it all
	@RWA_CONTAINERS=1 $(UV) run --frozen pytest tests/containers --timeout=1800 -s -q

lint: sync ## ruff, mypy and hadolint
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy libs services tests loadtests
	@$(UV) run --frozen hadolint --no-color Dockerfile infra/containers/*.Dockerfile

fmt: sync ## format and auto-fix
	@$(UV) run --frozen ruff format .
	@$(UV) run --frozen ruff check --fix .

up: ## docker compose: build and start the stack with observability (edge :8080, Grafana :3000, Jaeger :16686, Prometheus :9090)
	RWA_OTLP_ENDPOINT=http://otel-collector:4318 $(COMPOSE) --profile observability up --build -d --wait

up-lean: ## docker compose: the stack without observability (no Collector, Jaeger, Prometheus, Grafana; no spans)
	$(COMPOSE) up --build -d --wait


down: ## docker compose: stop the stack (observability included) and remove its volumes
	$(COMPOSE) --profile observability down -v

logs: ## docker compose: follow the logs
	$(COMPOSE) logs -f

bench-chat: sync ## 10,000 WebSocket clients on both gateways in one channel: delivery p50/p99
	@$(UV) run --frozen python -m loadtests.chat_fanout

bench-cql: sync ## benchmark the CQL development server through cassandra-driver
	@$(UV) run --frozen python -m loadtests.cql_bench

bench-catalog: sync ## title reads through the zoned cache under Zipf(1), beside raw Redis GET
	@$(UV) run --frozen python -m loadtests.catalog_bench

bench-dispatch: sync ## location ingest and nearby queries on 100,000 drivers, beside GEOADD/GEOSEARCH
	@$(UV) run --frozen python -m loadtests.dispatch_bench

bench-payments: sync ## confirmed payments/s and latency, beside pgbench on the same Postgres
	@$(UV) run --frozen python -m loadtests.payments_bench

bench-edge: sync bench-tools ## edge PoPs beside nginx proxy_cache: hits, misses, the anycast entry, config propagation
	@$(UV) run --frozen python -m loadtests.edge_bench

bench-edge-relays: sync ## a cached GET's p50/p99 on a PoP holding 2,000 relayed WebSockets, beside none
	@$(UV) run --frozen python -m loadtests.edge_relay_bench --sockets 2000

bench-tracing: sync bench-tools ## what tracing costs: PoP cache hits/s and confirm p50/p99, off vs 10% vs every trace sampled
	@$(UV) run --frozen python -m loadtests.tracing_bench $(ARGS)

prometheus-tools: ## install Prometheus and promtool if missing (Debian's prometheus package, as root)
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; fi

bench-tools: ## install the benchmarks' outside tools if missing: nginx (baseline) and wrk (Debian, as root)
	@if ! command -v wrk >/dev/null || ! (command -v nginx || test -x /usr/sbin/nginx) >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq nginx-light wrk >/dev/null; fi

load: sync ## locust headless: SCENARIO (mix), LOAD_USERS, LOAD_TIME, LOAD_HOST; HTML + CSVs in loadtests/results/
	@$(UV) run --frozen python -m loadtests.load --scenario $(SCENARIO) --users $(LOAD_USERS) \
		--time $(LOAD_TIME) --host $(LOAD_HOST)

load-ui: sync ## locust's web UI on http://127.0.0.1:8089 for SCENARIO (mix) against LOAD_HOST
	@$(UV) run --frozen python -m loadtests.load --ui --scenario $(SCENARIO) --users $(LOAD_USERS) \
		--host $(LOAD_HOST)

chaos: sync ## the mix under a seeded chaos monkey, invariants checked: SEED, DURATION (60s), INTENSITY (small); report in loadtests/results/chaos-<seed>.*
	@$(UV) run --frozen python -m loadtests.chaos --duration $(DURATION) --intensity $(INTENSITY) \
		$(if $(SEED),--seed $(SEED),)

SCALE ?= full
experiment: sync ## one experiment: NAME (`make experiment NAME=list` lists them), SCALE (full|small); report in loadtests/results/experiments/
	@$(UV) run --frozen python -m loadtests.experiments $(if $(filter list,$(NAME)),--list,$(NAME)) --scale $(SCALE)

experiments: sync ## every experiment (SCALE full|small): verdicts, tables, plots and summary.md in loadtests/results/experiments/
	@$(UV) run --frozen python -m loadtests.experiments --scale $(SCALE)

bench: sync bench-tools ## every benchmark beside its baseline: one report (Markdown, JSON, PNG) in loadtests/results/
	@$(UV) run --frozen python -m loadtests.bench

clean: ## remove caches and the virtualenv
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
