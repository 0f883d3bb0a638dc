# journey-stitcher — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK := deploy/local/stack.sh

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
test: $(STAMP) check ## Lint, type-check and run every test against the real Kafka and Redis
	@eval "$$(bash $(STACK) up | grep -E '^(KAFKA_BOOTSTRAP_SERVERS|REDIS_URL)=')" && \
	  export KAFKA_BOOTSTRAP_SERVERS REDIS_URL && \
	  $(BIN)/pytest

.PHONY: unit
unit: $(STAMP) ## Run the unit tests only (no services)
	$(BIN)/pytest tests/unit
