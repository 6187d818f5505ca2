# Two entry points for people: `make run` and `make test`. Both install into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test bench install

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(VENV)/bin/limelight

test: $(INSTALLED)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest tests --ignore=tests/benchmarks

bench: $(INSTALLED)
	QT_QPA_PLATFORM=offscreen $(PY) -m tests.benchmarks
