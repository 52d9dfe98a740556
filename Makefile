# Everything runs from .venv, created on first use with the first Python >= 3.11 found.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
POLICY ?= policies/default.yaml
STATE ?= var
PYTEST_ARGS ?=
BENCH_ARGS ?=
ARGS ?=

.PHONY: run test bench install clean

# The C source too: pip builds it into the tree, and a stale build would be used.
$(BIN)/.installed: pyproject.toml dlp_addon/_normalize.c dlp_addon/detect/_phone_runs.c dlp_addon/extract/_json_walk.c \
		dlp_addon/_substrings.c dlp_addon/extract/_escapes.c
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/mitmdump -s dlp_addon/addon.py --listen-host $(HOST) --listen-port $(PORT) \
		--set dlp_policy=$(POLICY) --set dlp_state_dir=$(STATE) --set flow_detail=0 $(ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $@

# BENCH_ARGS='--quick' for a short run; see README.md.
bench: $(BIN)/.bench-installed
	$(BIN)/python -m tests.bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
