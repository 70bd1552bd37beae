"""``POST /v1/scores``: corpus and per-example scores of predictions against references."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from liftoff.evaluation.service.deps import MetricsDep, PoolDep, SettingsDep
from liftoff.evaluation.service.errors import ERRORS
from liftoff.evaluation.service.schemas import ScoreRequest
from liftoff.evaluation.service.scoring import check_score_request, score_to_json
from liftoff.server.disconnect import unless_disconnected

router = APIRouter(prefix="/v1", tags=["scores"], responses=ERRORS)


@router.post("/scores")
async def create_scores(
    body: ScoreRequest, request: Request, pool: PoolDep, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    """Score predictions with BLEU, chrF, TER (0-100), ROUGE-1/2/L/Lsum, METEOR, and the
    retrieval metrics hit rate, MRR and abstention (0-1).

    Scoring stops when the client leaves and after LIFTOFF_EVAL_SCORE_TIMEOUT seconds (504)."""
    corpus, names = check_score_request(body, max_examples=settings.max_examples)
    started = time.perf_counter()
    work = pool.run(score_to_json, body.predictions, corpus, names, body.options.library(),
                    timeout=settings.score_timeout)  # fmt: skip
    payload = await unless_disconnected(request, work)
    metrics.scoring_seconds.labels("scores").observe(time.perf_counter() - started)
    metrics.scored_examples.labels("scores").inc(len(body.predictions))
    return Response(payload, media_type="application/json")
