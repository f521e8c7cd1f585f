# Two commands do all set-up on a fresh machine:  `make play`  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup play test lint bench clean

$(BIN)/storyloom: pyproject.toml constraints.txt scripts/setup.sh
	PYTHON=$(PY) VENV=$(VENV) bash scripts/setup.sh
	@touch $@

setup: $(BIN)/storyloom ## create .venv with CPU torch, storyloom and the dev tools

play: setup ## talk to the bot in this terminal (bundled model, SQLite file in var/)
	$(BIN)/storyloom play

test: setup ## lint, type-check and run the whole test suite
	$(BIN)/ruff check bot plugins storage tests bench scripts
	$(BIN)/ruff format --check bot plugins storage tests bench scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: setup ## the benchmarks (ratios; JSON in bench/results/)
	$(BIN)/python -m bench generation --quick
	$(BIN)/python -m bench context --quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
