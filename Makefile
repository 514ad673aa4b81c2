# Two commands matter: `make run` (the whole system locally) and `make test` (everything).
# Both install what they need: uv in .cache/, the virtualenv in .venv/, Kafka jars via Maven.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .cache/uv-venv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
PYTEST_ARGS ?=

.PHONY: run test install lint format bench bench-chaos clean

run: install
	$(BIN)/lienganh run --data-dir $(DATA)

test: install lint
	$(BIN)/lienganh kafka-jars
	$(BIN)/pytest $(PYTEST_ARGS)

# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every
# process start would compile its imports again, ~5 s of CPU each (start-up and restarts).
install: $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode
	$(BIN)/python -m compileall -q contracts/src chassis/src deploy/local/src services/*/src

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv .cache/uv-venv
	.cache/uv-venv/bin/pip install --quiet uv==$(UV_VERSION)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts/src chassis/src deploy/local/src deploy/k8s services/*/src benchmarks

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python benchmarks/pipeline.py --then-batch 8000

# A short chaos run; the issue's full one: CHAOS_ARGS="--kills 200 --broker-restarts 20".
CHAOS_ARGS ?= --kills 20 --broker-restarts 4
bench-chaos: install
	$(BIN)/python benchmarks/chaos.py --seed 16 $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
