"""The run executor: what it refuses before storing anything, and how a run ends failed."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import pytest

from liftoff.evaluation.errors import InvalidInput, WordNetUnavailable
from liftoff.evaluation.metrics import Passage, Score
from liftoff.evaluation.runs.dataset import Example, Message
from liftoff.evaluation.runs.errors import DatasetError, ScoringFailed
from liftoff.evaluation.runs.executor import RunExecutor, ScoringJob
from liftoff.evaluation.runs.model import Generation, TargetRef
from liftoff.evaluation.runs.store import RunStore
from liftoff.evaluation.runs.target import Target
from tests.evaluation.runs.stored import SPEC, examples, score_here

NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens on the discard port


def _target() -> Target:
    return Target(NOWHERE, api_key=None, retries=0, timeout=5, probe_timeout=5)


@pytest.mark.parametrize(
    ("spec_update", "rows", "error", "message"),
    [
        ({"target": TargetRef(base_url=NOWHERE, endpoint="completions")},
         [Example(id="chat", messages=(Message(role="user", content="hi"),), references=("x",))],
         DatasetError, "example 'chat' has messages, which need the chat endpoint"),
        ({"metrics": ("bleu", "rougeX")}, examples([["x"]]), InvalidInput,
         "unknown metric 'rougeX'"),
        # A retrieval metric that no row of the dataset can be scored on.
        ({"metrics": ("bleu", "hit_rate@4")}, examples([["x"]]), InvalidInput,
         "hit_rate@4 scores questions that a passage answers (rows naming passages), and "
         "there are none"),
        ({"metrics": ("abstention",)},
         [Example(id="q", prompt="x", references=("y",), passages=(Passage(id="a.md"),))],
         InvalidInput, 'abstention scores unanswerable questions (rows with "passages": [])'),
    ],
)  # fmt: skip
async def test_a_bad_run_is_refused_before_the_target_is_asked_or_anything_stored(
    store: RunStore,
    spec_update: dict[str, object],
    rows: list[Example],
    error: type[Exception],
    message: str,
) -> None:
    async with _target() as target:  # unreachable: asking it would be a TargetError
        with pytest.raises(error, match=re.escape(message)):
            await RunExecutor(store, score_here).create(
                rows, SPEC.model_copy(update=spec_update), target, origin="test"
            )
    assert await store.list_runs() == []


async def test_examples_the_target_cannot_answer_fail_the_run_naming_the_first(
    store: RunStore,
) -> None:
    run = await store.create_run(SPEC, examples([["a"], ["b"]]), origin="test")
    seen: list[tuple[str, str | None]] = []
    async with _target() as target:
        run = await RunExecutor(store, score_here).execute(
            run.id, target, on_result=lambda record, _, error: seen.append((record.id, error))
        )
    assert run.status == "failed" and run.progress.failed == 2
    assert run.error is not None and run.error.startswith(
        "2 of 2 examples could not be generated (first: 'ex0': cannot reach the target: "
    )
    assert sorted(example_id for example_id, _ in seen) == ["ex0", "ex1"]
    assert all(error is not None for _, error in seen)


async def _ready_to_score(store: RunStore) -> str:
    run = await store.create_run(SPEC, examples([["a b"]]), origin="test")
    await store.record_output(run.id, "ex0", Generation(prediction="a b", latency_s=0.1))
    return run.id


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        (ScoringFailed("a scoring worker died while scoring (out of memory?)"),
         "a scoring worker died while scoring (out of memory?)"),
        (WordNetUnavailable("WordNet 3.0 is missing: run `make setup`"),
         "WordNet 3.0 is missing: run `make setup`"),
        (ZeroDivisionError("division by zero"), "internal error: division by zero"),
    ],
)  # fmt: skip
async def test_a_scorer_that_fails_ends_the_run_failed_with_the_reason(
    store: RunStore, caplog: pytest.LogCaptureFixture, problem: Exception, message: str
) -> None:
    async def scorer(job: ScoringJob) -> Mapping[str, Score]:
        raise problem

    run_id = await _ready_to_score(store)
    with caplog.at_level(logging.ERROR, logger="liftoff.evaluation.runs.executor"):
        run = await RunExecutor(store, scorer).score(run_id)
    assert (run.status, run.error, run.corpus) == ("failed", message, None)
    crashed = [r for r in caplog.records if r.exc_info is not None]
    assert bool(crashed) == isinstance(problem, ZeroDivisionError)  # a traceback for bugs only
