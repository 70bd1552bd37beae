"""The service's scoring pool scores a retrieval run's job in a worker process: citations and
passages cross the process boundary intact (the manager's path for ``POST /v1/runs``)."""

from __future__ import annotations

from liftoff.evaluation.metrics import Citation, Passage, ScoreOptions, score
from liftoff.evaluation.runs.executor import ScoringJob
from liftoff.evaluation.service.scoring import ScoringPool


async def test_a_retrieval_job_scores_the_same_in_a_worker_as_here() -> None:
    cited = (
        Citation(index=1, source="a.md", chunk=0, score=0.8, text="Drones are males."),
        Citation(index=2, source="b.md", chunk=2, score=0.7, text="Two thousand eggs."),
    )
    job = ScoringJob(
        run_id="r",
        example_ids=("q", "none"),
        predictions=("Two thousand.", "I don't know."),
        references=(("Two thousand eggs.",), ("I don't know.",)),
        metrics=("hit_rate@1", "mrr@4", "abstention", "rougeL"),
        options=ScoreOptions.model_validate({"bootstrap": {"resamples": 100}}),
        retrieved=(cited, ()),
        passages=((Passage(text="two thousand eggs"),), ()),
    )
    pool = ScoringPool(1)
    try:
        in_worker = await pool.run(score, *job.arguments())
    finally:
        pool.close()
    assert in_worker == score(*job.arguments())
    assert in_worker["mrr@4"].per_example == (0.5, None)
    assert in_worker["abstention"].per_example == (None, 1.0)
