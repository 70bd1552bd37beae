"""Completed runs put straight into a store (no generation): for store, compare and report tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from liftoff.evaluation.metrics import Citation, Passage, Score, ScoreOptions, score
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.executor import RunExecutor, ScoringJob
from liftoff.evaluation.runs.model import Generation, LoadedRun, Run, RunSpec, TargetRef
from liftoff.evaluation.runs.store import RunStore

FAST = ("bleu", "chrf", "ter", "rouge1", "rougeL")
SPEC = RunSpec(target=TargetRef(base_url="http://127.0.0.1:9/v1", model="m"), metrics=FAST)


def examples(references: Sequence[Sequence[str]], prefix: str = "ex") -> list[Example]:
    return [
        Example(id=f"{prefix}{i}", prompt=f"prompt {i}", references=tuple(refs))
        for i, refs in enumerate(references)
    ]


async def score_here(job: ScoringJob) -> Mapping[str, Score]:
    return score(*job.arguments())


async def completed_run(
    store: RunStore,
    rows: Sequence[Example],
    predictions: Sequence[str],
    metrics: Sequence[str] = FAST,
    *,
    origin: str = "test",
) -> Run:
    run = await store.create_run(SPEC.model_copy(update={"metrics": tuple(metrics)}), rows,
                                 origin=origin)  # fmt: skip
    for row, prediction in zip(rows, predictions, strict=True):
        await store.record_output(run.id, row.id, Generation(prediction=prediction, latency_s=0.01))
    return await RunExecutor(store, score_here).score(run.id)


async def loaded(store: RunStore, run_id: str) -> LoadedRun:
    return LoadedRun(run=await store.get_run(run_id), examples=await store.examples(run_id))


RETRIEVAL = ("hit_rate@1", "mrr@3", "abstention")


async def completed_retrieval_run(
    store: RunStore,
    ranks: Sequence[int | str | None],
    *,
    metrics: Sequence[str] = RETRIEVAL,
    options: ScoreOptions | None = None,
    prefix: str = "q",
) -> Run:
    """A scored run of questions that ``gold.md`` answers, one per rank: the rank (1 first)
    at which the answer cites it among three citations, None for not at all; ``"none"`` is an
    unanswerable question, answered "I don't know." without citations."""
    rows, generations = [], []
    for position, rank in enumerate(ranks):
        unanswerable = rank == "none"
        rows.append(Example(id=f"{prefix}{position}", prompt=f"question {position}",
                            references=("an answer",),
                            passages=() if unanswerable else (Passage(id="gold.md"),)))  # fmt: skip
        cited = () if unanswerable else tuple(
            Citation(index=k, source="gold.md" if k == rank else f"other-{k}.md", chunk=0,
                     score=1 - k / 10, text=f"passage {k}")
            for k in (1, 2, 3)
        )  # fmt: skip
        answer = "I don't know." if unanswerable else f"answer {position}"
        generations.append(Generation(prediction=answer, latency_s=0.01, citations=cited))
    spec = SPEC.model_copy(update={"metrics": tuple(metrics),
                                   "options": options or ScoreOptions()})  # fmt: skip
    run = await store.create_run(spec, rows, origin="test")
    for row, generation in zip(rows, generations, strict=True):
        await store.record_output(run.id, row.id, generation)
    return await RunExecutor(store, score_here).score(run.id)
