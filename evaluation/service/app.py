"""Builds the evaluation service from one Settings object: store, scoring pool, runs, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import APIKeys, AuthMiddleware
from api.middleware import BodySizeLimit, JSONBodies
from api.observability import RequestObserver, route_paths
from evaluation.config import Settings
from evaluation.runs.store import RunStore
from evaluation.service import errors
from evaluation.service.manager import RunManager
from evaluation.service.observability import EvaluationMetrics
from evaluation.service.routes import health, runs, scores
from evaluation.service.scoring import ScoringPool

logger = logging.getLogger("evaluation")


def create_app(settings: Settings) -> FastAPI:
    """The service as an ASGI app; the store and scoring workers start with its lifespan."""
    metrics = EvaluationMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = RunStore(settings.store)
        pool = ScoringPool(settings.score_workers)
        pool.start()
        manager = RunManager(store, pool, settings, metrics)
        app.state.store, app.state.pool, app.state.manager = store, pool, manager
        logger.info("evaluation service: runs in %s, default target %s", store.path,
                    settings.target)  # fmt: skip
        if settings.resume_on_start:
            manager.resume_unfinished()
        try:
            yield
        finally:
            await manager.close()
            pool.close()
            store.close()
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
    app.add_middleware(JSONBodies)
    app.add_middleware(
        BodySizeLimit, default=settings.max_body_bytes, limits={}, timeout=settings.body_timeout
    )
    keys = settings.api_key_list
    if keys:
        app.add_middleware(AuthMiddleware, keys=APIKeys(keys), open_paths={"/healthz", "/readyz"})
        logger.info("authentication on: %d API key(s)", len(keys))
    app.add_middleware(
        RequestObserver,
        metrics=metrics,
        paths=route_paths(app.routes),
        log_name="evaluation.access",
    )
