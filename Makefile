# The two commands: `make demo` (set up and show the tool on a local broker) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: setup
	$(BIN)/python demo/demo.py

test: setup
	$(BIN)/ruff check src tests bench demo
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV)
