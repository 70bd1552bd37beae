"""The CC0 sample questions answered through ``rag:samples`` score above the gate: what
``make rag-eval`` runs (``liftoff eval run`` on the answers' citations), here against this
package's gateway and a fresh SQLite index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from liftoff.evaluation.reports.document import RunDocument
from tests.retrieval.conftest import rag_env, store_env
from tests.servers import REPO, ServerProcess

pytestmark = [pytest.mark.model, pytest.mark.timeout(1800)]

QUESTIONS = REPO / "examples" / "rag" / "questions.jsonl"


def test_sample_questions_through_rag_pass_the_retrieval_gates(
    gateway: ServerProcess, tmp_path: Path
) -> None:
    env = rag_env(gateway, store_env("sqlite", tmp_path, None), LIFTOFF_RAG_TOP_K="4")
    with ServerProcess("liftoff.retrieval.main:app", env) as rag:
        # One token per answer: the gates are on what was retrieved and cited, and on "I don't
        # know." (which the service writes itself); a base model's prose would only cost time.
        done = subprocess.run(
            [sys.executable, "scripts/rag_sample.py", "--url", rag.url, "--max-tokens", "1",
             "--out", str(tmp_path / "out"), "--store", str(tmp_path / "runs.sqlite3")],
            cwd=REPO, capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    document = RunDocument.model_validate_json((tmp_path / "out" / "run.json").read_text())
    run = document.run
    assert document.passed and run.status == "completed" and run.target.model == "rag:samples"
    assert [check.name for check in document.checks] == [
        "hit_rate@4>=0.85", "mrr@4>=0.75", "abstention>=0.75", "false_abstention<=0.15",
    ]  # fmt: skip
    assert run.scores["hit_rate@4"] >= 0.85 and run.scores["mrr@4"] >= 0.75
    assert run.scores["abstention"] >= 0.75 and run.scores["false_abstention"] <= 0.15
    rows = {row["id"]: row for row in map(json.loads, QUESTIONS.read_text().splitlines())}
    for example in document.examples:
        expected = rows[example.id]["passages"]
        scores = example.scores or {}
        if expected:  # answerable: scored on what the answer cited
            assert example.citations, example.id
            assert set(scores) == {"hit_rate@4", "mrr@4", "false_abstention"}
            assert [c.index for c in example.citations] == list(
                range(1, len(example.citations) + 1)
            )
        else:  # unanswerable: only abstention counts
            assert set(scores) == {"abstention"}
    summary = "\n".join(check.message for check in document.checks)
    print(summary)  # the figures, for the log of `make test`
    assert (tmp_path / "out" / "report.html").read_text().count("answered by:") >= 1
    assert 'name="hit_rate@4&gt;=0.85"' in (tmp_path / "out" / "junit.xml").read_text()
