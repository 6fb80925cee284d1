# aiwatch: `make demo` to try it, `make test` to check it.
VENV ?= .venv
PY := $(VENV)/bin/python
KB := $(VENV)/bin/kb
STAMP := $(VENV)/.installed
DEMO_DB ?= demo.db
PORT ?= 8001
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo demo-build test test-fast wheel-smoke lint fmt bench bench-web docs clean browser

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first: unpinned, pip would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo-build: install
	$(KB) init --db $(DEMO_DB)
	$(KB) sample crawl --db $(DEMO_DB)
	$(KB) enrich --db $(DEMO_DB) --config demo || test $$? -eq 2

demo: demo-build
	@echo "Serving the knowledge base on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	$(KB) serve --db $(DEMO_DB) --port $(PORT)

# Headless Chromium for the browser tests, from Debian (never `playwright install`).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# Every test (browser, Redis and model-loading ones included): the README's test command.
test: install
	$(PY) -m pytest $(ARGS)

# The quick tier for the edit loop: no browser, no Redis, no model load (about 2 minutes; make test about 15).
test-fast: install
	$(PY) -m pytest -m "not slow" $(ARGS)

# Build the wheel, install it into a fresh virtual environment and run the user's commands from /tmp.
wheel-smoke: install
	bash tests/wheel_smoke.sh

# ruff, mypy (configured in pyproject.toml) and the layer contracts of docs/architecture.md.
lint: install
	$(VENV)/bin/ruff check kb crawlers tests bench datasette
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fmt: install
	$(VENV)/bin/ruff check --fix kb crawlers tests bench datasette

bench: install
	$(PY) bench/run.py $(ARGS)

bench-web: install
	$(PY) bench/web_bench.py --db $(DEMO_DB) $(ARGS)

docs: install
	$(VENV)/bin/cog -r README.md

clean:
	rm -rf .cache build *.egg-info .pytest_cache $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm $(DEMO_DB).lock
