# The two commands of the README. Both do their own set-up (scripts/setup is idempotent).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench-setup
setup:
	@scripts/setup

demo: setup
	$(PY) -m tools.demo

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Benchmarks (tools/bench/*, see their --help) need ffmpeg as the reference recorder.
bench-setup:
	@scripts/setup --bench
