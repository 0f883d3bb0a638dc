# journey-stitcher — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK := deploy/local/stack.sh
# Evaluates to `export KAFKA_BOOTSTRAP_SERVERS=… REDIS_URL=…` after starting the local stack.
WITH_STACK = eval "$$(bash $(STACK) up | grep -E '^(KAFKA_BOOTSTRAP_SERVERS|REDIS_URL)=' | sed 's/^/export /')"

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create .venv and install the project with its test extras

.PHONY: tools
tools: ## Install the system tools the tests use (promtool, from Debian's prometheus package)
	@command -v promtool >/dev/null || { \
	  echo "installing promtool (Debian package prometheus)" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

.PHONY: check
check: $(STAMP) ## Lint (ruff) and type-check (mypy --strict)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

.PHONY: up
up: ## Start the local Kafka (KRaft) and Redis; prints KAFKA_BOOTSTRAP_SERVERS / REDIS_URL
	@bash $(STACK) up

.PHONY: down
down: ## Stop the local Kafka and Redis
	@bash $(STACK) down

.PHONY: test
test: $(STAMP) tools check ## Lint, type-check and run every test against the real Kafka and Redis
	@$(WITH_STACK) && $(BIN)/pytest

.PHONY: unit
unit: $(STAMP) tools ## Run the unit tests only (no services; promtool checks the metrics page)
	$(BIN)/pytest tests/unit

.PHONY: demo
demo: $(STAMP) ## The main job: a realistic omnichannel sample through a real worker, summarised
	@$(WITH_STACK) && $(BIN)/journey-stitcher demo

BENCH_DIR := .cache/bench
.PHONY: bench-core
bench-core: $(STAMP) ## Events/s of `replay` over 200k generated events (100k customers), one core
	@mkdir -p $(BENCH_DIR)
	@test -s $(BENCH_DIR)/core-200k.jsonl || $(BIN)/journey-stitcher generate --events 200000 \
	  --customers 100000 --seed 42 --output $(BENCH_DIR)/core-200k.jsonl
	$(BIN)/python -m journey_stitcher.bench.core $(BENCH_DIR)/core-200k.jsonl --runs 3

BENCH_EVENTS ?= 1000000
BENCH_CUSTOMERS ?= 200000
BENCH_NAIVE_EVENTS ?= 30000
BENCH_LATENCY_SECONDS ?= 30
BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP) ## Worker end to end on the local Kafka/Redis (BENCH_EVENTS, BENCH_CUSTOMERS, BENCH_ARGS, …)
	@mkdir -p $(BENCH_DIR) bench-results
	@$(WITH_STACK) && $(BIN)/python -m journey_stitcher.bench.pipeline --events $(BENCH_EVENTS) \
	  --customers $(BENCH_CUSTOMERS) --naive-events $(BENCH_NAIVE_EVENTS) \
	  --latency-seconds $(BENCH_LATENCY_SECONDS) --cache $(BENCH_DIR) --report bench-results/report.json \
	  $(BENCH_ARGS)
