# bookd: `make run` starts the service on SQLite; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# Compiled modules (and pytest's rewritten tests) are kept in __pycache__ from one run to the next,
# whatever the shell says: a second `make test` starts its workers seconds sooner.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install run test lint typecheck pytest soak bench clean docs-examples screenshots browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/bookd init --port $(PORT)
	$(BIN)/bookd serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The console's browser tests drive Debian's Chromium (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || apt-get install -y -qq chromium >/dev/null 2>&1 \
	  || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1) \
	  || echo "\n*** WARNING: chromium could not be installed (as root: apt-get install chromium); the browser tests are skipped (CI=true fails them) ***\n"

PG_CHECK = @$(BIN)/python -c "import asyncio, asyncpg, os; asyncio.run(asyncpg.connect(os.environ.get('BOOKD_TEST_POSTGRES_URL', 'postgresql://postgres@127.0.0.1:5432/postgres'), timeout=3))" 2>/dev/null \
	  || echo "\n*** WARNING: no PostgreSQL answers; only the SQLite half of the suite runs (CI=true fails instead) ***\n"

# Every test, the crash, kill, race and real-clock ones at small sizes (tests/sizes.py).
pytest: install browser
	$(PG_CHECK)
	$(BIN)/pytest -n 2 --dist worksteal --durations=15

test: lint typecheck pytest

# The `soak` tests at full size: thousands of reminders and deliveries with killed workers, the
# real-clock lifecycle, the races and property tests at their full counts.
soak: install browser
	$(PG_CHECK)
	BOOKD_TEST_SOAK=1 $(BIN)/pytest -n 2 --dist worksteal --durations=15 -m soak

# Regenerates docs/event-examples.md from a run of the system (the test suite checks it).
docs-examples: install
	BOOKD_WRITE_EXAMPLES=1 $(BIN)/pytest -q tests/webhooks/test_examples.py

# Retakes the screenshots in docs/screenshots/ (the browser tests take them every run).
screenshots: install browser
	BOOKD_WRITE_SCREENSHOTS=1 $(BIN)/pytest -q tests/console/test_browser.py tests/selfservice/test_browser.py

# Benchmarks (see "Performance" in the README); BOOKD_BENCH_QUICK=1 for a short run.
# wrk is the load generator when it can be installed; otherwise an async httpx client stands in.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk >/dev/null 2>&1 \
	  || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1) \
	  || echo "wrk could not be installed: workload 3 uses bench/loadgen.py (httpx)"
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis bookd.db bookd.db-*
