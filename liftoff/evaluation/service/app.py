"""Builds the evaluation service from one Settings object: store, scoring pool, runs, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from liftoff.evaluation.config import Settings
from liftoff.evaluation.runs.store import open_store
from liftoff.evaluation.service import errors
from liftoff.evaluation.service.manager import RunManager
from liftoff.evaluation.service.observability import EvaluationMetrics
from liftoff.evaluation.service.routes import health, runs, scores
from liftoff.evaluation.service.scoring import ScoringPool
from liftoff.server.access import protect
from liftoff.server.bodies import BodySizeLimit, RequireJSON
from liftoff.server.observability import RequestObserver, route_paths
from liftoff.server.settings import SettingsError

logger = logging.getLogger("evaluation")


def create_app(settings: Settings) -> FastAPI:
    """The service as an ASGI app; the store and scoring workers start with its lifespan.

    Raises ``SettingsError`` when the service would be exposed without API keys."""
    problem = settings.exposure.problem()
    if problem is not None:
        raise SettingsError(problem)
    metrics = EvaluationMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await open_store(settings)
        pool = ScoringPool(settings.score_workers)
        pool.start()
        manager = RunManager(store, pool, settings, metrics)
        app.state.store, app.state.pool, app.state.manager = store, pool, manager
        logger.info("evaluation service: runs in %s (as %s), default target %s",
                    store.describe(), manager.lease.owner, settings.target)  # fmt: skip
        try:
            manager.start()
            yield
        finally:
            await manager.close()
            pool.close()
            await store.close()
            logger.info("evaluation service stopped")

    app = FastAPI(
        title="Liftoff evaluation service",
        summary="BLEU, chrF, TER, ROUGE and METEOR as sacrebleu, rouge-score and NLTK compute "
        "them; dataset runs against any OpenAI-compatible endpoint",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.include_router(health.router)
    app.include_router(scores.router)
    app.include_router(runs.router)
    errors.install(app)
    _add_middleware(app, settings, metrics)
    return app


def _add_middleware(app: FastAPI, settings: Settings, metrics: EvaluationMetrics) -> None:
    # Added innermost first: a request meets them in the reverse order.
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_body_bytes,
        limits={},
        timeout=settings.body_timeout,
        shapes=errors.SHAPES,
    )
    # JSON only: a browser cannot send that cross-site without asking first (CORS).
    app.add_middleware(RequireJSON, shapes=errors.SHAPES)
    exposure = settings.exposure
    protect(
        app,
        exposure,
        keys=settings.load_api_keys() if exposure.keys_required else [],
        open_paths={"/healthz", "/readyz"},
        shapes=errors.SHAPES,
    )
    app.add_middleware(
        RequestObserver,
        metrics=metrics.http,
        paths=route_paths(app.routes),
        log_name="evaluation.access",
    )
