"""Run documents (``liftoff eval run --json``): written from the models, read back as baselines,
including the documents the first release wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import score
from liftoff.evaluation.reports.document import RunDocument, load_run_document, run_document
from liftoff.evaluation.runs.compare import compare
from liftoff.evaluation.runs.gates import check_gates, parse_gate
from liftoff.evaluation.runs.store import RunStore
from tests.evaluation.runs.stored import completed_run, examples, loaded

FIXTURES = Path(__file__).parent / "fixtures"
# Written by `liftoff eval run --json` at commit 5385f40, against the embedded Gemma model:
# a gated run compared with an earlier one, and a run whose examples all failed.
FIRST_RELEASE = FIXTURES / "run-document-v1.json"
FIRST_RELEASE_FAILED = FIXTURES / "run-document-v1-failed.json"


def test_a_document_of_the_first_release_loads_as_a_baseline() -> None:
    written = json.loads(FIRST_RELEASE.read_text())
    baseline = load_run_document(FIRST_RELEASE)
    run = baseline.run
    assert (run.id, run.status, run.origin, run.name) == (
        "f7b2f7cbe1cc", "completed", "cli", "fixture <run>",
    )  # fmt: skip
    assert run.target.model == "gemma-3-270m-q4_k_m" and run.generation.max_tokens == 12
    assert run.corpus == written["run"]["corpus"]
    # Read back field for field; options the first release did not have take their defaults.
    expected = json.loads(json.dumps(written["run"]))
    expected["options"]["meteor"] = {"tokenize": "nltk-word"}
    expected["options"]["abstention"] = {"phrase": "I don't know"}
    assert run.model_dump(mode="json") == expected
    assert [r.model_dump(mode="json") for r in baseline.examples] == written["examples"]
    assert [r.id for r in baseline.examples] == ["sky", "tags", "hello", "4"]
    assert baseline.examples[0].metadata == {"topic": "nature"}
    assert baseline.examples[2].messages is not None and baseline.examples[2].prompt is None
    same = compare(baseline, baseline)  # what --baseline does with it
    assert same.examples == 4 and all(d.delta == 0 for d in same.metrics.values())
    expected = score([r.prediction or "" for r in baseline.examples],
                     [list(r.references) for r in baseline.examples], ["bleu"])  # fmt: skip
    assert same.metrics["bleu"].baseline == pytest.approx(expected["bleu"].corpus, abs=1e-9)


def test_a_failed_run_of_the_first_release_loads_too() -> None:
    baseline = load_run_document(FIRST_RELEASE_FAILED)
    assert baseline.run.status == "failed" and baseline.run.corpus is None
    assert all(r.status == "failed" and r.prediction is None for r in baseline.examples)


async def test_a_document_written_now_reads_back_the_same(store: RunStore, tmp_path: Path) -> None:
    run = await completed_run(store, examples([["a cat sat"], ["dogs bark"]]), ["a cat", "dogs"])
    candidate = await loaded(store, run.id)
    comparison = compare(candidate, candidate)
    checks = check_gates(run.scores, [parse_gate("bleu>=1"), parse_gate("meteor>=0")])
    document = run_document(candidate, checks, comparison)
    assert not document.passed  # meteor was not scored: its gate fails
    text = document.model_dump_json(indent=2)
    assert json.loads(text)["object"] == "evaluation.report"
    assert RunDocument.model_validate_json(text) == document
    path = tmp_path / "run.json"
    path.write_text(text)
    assert load_run_document(path) == candidate


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{oops", "is not a run document (written by `liftoff eval run --json`)"),
        ('{"object": "evaluation.scores"}', "is not a run document"),
        ("[1, 2]", "is not a run document"),
        ('{"object": "evaluation.report", "passed": true, "run": {"id": "x"}, "examples": []}',
         "is not a valid run document: run.target: Field required"),
    ],
)  # fmt: skip
def test_what_is_not_a_run_document_is_refused_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=r"baseline\.json") as error:
        load_run_document(path)
    assert message in error.value.message and error.value.param == "baseline"
