# Two commands: `make run` (set up, build the index, start the chat) and `make test`.
# Both work on a fresh clone with only Python 3.11 and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The chat's address: `make run PORT=8000`, or the ALLIANCE_QA_HOST / ALLIANCE_QA_PORT environment variables.
HOST   ?= $(or $(ALLIANCE_QA_HOST),127.0.0.1)
PORT   ?= $(or $(ALLIANCE_QA_PORT),7860)

.PHONY: run test install install-dev index lint bench bank-vectors clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: an unpinned torch would pull a CUDA build of several GB.
$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev
	bash scripts/ensure-chromium.sh

index: install
	$(BIN)/alliance-qa build

run: index
	@echo "Starting the chat at http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/alliance-qa serve --host $(HOST) --port $(PORT)

# Every test, browser and load tests included, on two workers (pytest-xdist; a whole file goes to one worker, so
# its module fixtures are built once); `.venv/bin/pytest -m "not slow"` is the sub-minute inner loop.
test: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

# Speed against its limits and at scale (~15 min on 2 cores; not part of `make test`).
# Writes bench/results.json and prints the table quoted in the README's Performance section.
bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks --out bench/results.json

# After editing src/alliance_qa/data/general_questions.txt: the bank's vectors for the bundled model, shipped so
# that a first build does not embed the bank (a test fails until they match the bank again).
bank-vectors: $(VENV)/.installed
	$(BIN)/python -c "from pathlib import Path; import alliance_qa.calibrate as c; from alliance_qa.embed import load_embedder; print(c.write_shipped_vectors(load_embedder(), Path(c.__file__).parent / 'data'))"

clean:
	rm -rf $(VENV) index/current index/builds index/.build.lock test-artifacts
