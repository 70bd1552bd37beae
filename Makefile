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
	@echo "make validate - offline validators over every deploy file (Docker, Compose, CI, k8s)"
	@echo "make smoke  - smoke-test a running gateway (SMOKE_URL, default http://127.0.0.1:8000)"
	@echo "make eval   - gate the sample dataset against the embedded model (reports in build/eval/)"
	@echo "make rag-eval - ingest the sample documents, ask the sample questions through rag:samples, gate retrieval"

# uv itself comes from PyPI through pip, pinned.
.cache/uv-$(UV_VERSION):
	@python3 -m uv --version 2>/dev/null | grep -q "$(UV_VERSION)" || \
		python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@mkdir -p .cache && touch $@

.venv/.synced: .cache/uv-$(UV_VERSION) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --all-groups
	@touch $@

# WordNet 3.0 for METEOR, offline: from Debian's packages into ~/.cache/liftoff/nltk_data.
# A no-op once it is there.
setup: .venv/.synced
	@$(PY) -m liftoff.evaluation.wordnet

run: setup
	$(PY) -m liftoff up

test: setup
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

# The CC0 sample documents (examples/rag/docs) ingested into a fresh index, the sample questions
# (examples/rag/questions.jsonl) asked through rag:samples, gated on hit rate, MRR and "I don't
# know" for the unanswerable ones; report in build/rag/report.json. RAG_ARGS adds options, e.g.
# RAG_ARGS="--url http://127.0.0.1:8002" to use a running retrieval service.
.PHONY: rag-eval
rag-eval: setup
	$(PY) scripts/rag_sample.py $(RAG_ARGS)
