# Two entry points for people: `make run` and `make test`. Both install into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test bench fuzz install installer installer-test

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(VENV)/bin/limelight

test: $(INSTALLED)
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest tests --ignore=tests/benchmarks

bench: $(INSTALLED)
	QT_QPA_PLATFORM=offscreen $(PY) -m tests.benchmarks

# The image, labels and report loaders (damaged bytes, declared sizes, archive members, files that are
# not files) under ten times the hypothesis cases of `make test` (several minutes); it prints how many ran.
fuzz: $(INSTALLED)
	LIMELIGHT_FUZZ_PROFILE=fuzz QT_QPA_PLATFORM=offscreen $(PY) -m pytest tests/test_fuzz.py -q

# The desktop bundle (installer/dist/limelight), built in its own clean venv; not part of `make test`.
installer:
	PYTHON=$(PYTHON) installer/build.sh

# Build, install into a temporary prefix, self-test, check the desktop entry, uninstall.
installer-test:
	PYTHON=$(PYTHON) installer/test.sh
