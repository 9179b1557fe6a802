# Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
## llama-cpp-python (the bundled offline model) builds from source. A native build (-march=native)
## picks up AMX on CPUs that have it, and crashed with a segmentation fault in llama_decode on such
## a machine (a VM that lists amx_tile); this portable x86-64 AVX2 build ran there. Override to
## tune for a machine of your own.
CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export CMAKE_ARGS

.PHONY: install install-dev run init-db demo-data eval test test-fast lint format bench browser screenshots clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

## Set up, create the database and open the app (SQLite under data/, offline model by default).
run: install
	$(PY) -m coach init-db
	$(PY) -m streamlit run app.py --server.port=$(PORT)

init-db: install
	$(PY) -m coach init-db

demo-data: install
	$(PY) -m coach demo-data

## Play the shipped scenarios (scenarios/) once each and print the report: offline with the
## bundled model by default (the tiny model fails most checks), one conversation at a time (one
## local model answers one request at a time anyway). EVAL_ARGS replaces the options, e.g.
## EVAL_ARGS="--runs 3 --concurrency 8 --min-pass-rate 0.8" with an OpenAI-compatible model.
EVAL_ARGS ?= --concurrency 1
eval: install
	$(PY) -m coach init-db
	$(PY) -m coach eval $(EVAL_ARGS)

## Debian's Chromium for the browser tests (Playwright cannot download its own browsers here).
browser:
	@test -x /usr/bin/chromium && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-color-emoji)

## The whole test suite. PostgreSQL tests run when COACH_TEST_POSTGRES_URL is set. The browser
## tests run in a pytest process of their own: Playwright's sync API keeps an event loop marked
## as running on the main thread, which the async tests must not share. Exit code 5 (no tests
## collected) counts as a failure.
test: install-dev browser
	@$(PY) -m pytest -m "not browser" $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	  $(PY) -m pytest -m browser tests/browser bench/tests $(PYTEST_ARGS); rc2=$$?; \
	  if [ $$rc2 -eq 5 ]; then echo "pytest collected no browser tests: failing" >&2; exit 1; fi; \
	  if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$rc2

## Refresh the README's screenshots in docs/screenshots/ (the tests alone write to a temporary folder).
screenshots: install-dev browser
	COACH_TEST_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)

test-fast: install-dev
	$(PY) -m pytest -m "not browser and not slow" $(PYTEST_ARGS)

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: install-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## Benchmarks; results are printed and saved under bench/results/.
bench: install-dev
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
