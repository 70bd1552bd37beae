"""Builds the retrieval service from one Settings object: store, gateway client, routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from liftoff.retrieval.config import Settings
from liftoff.retrieval.errors import SHAPES
from liftoff.retrieval.gateway import Gateway
from liftoff.retrieval.observability import RetrievalMetrics
from liftoff.retrieval.routes import collections, health, openai
from liftoff.retrieval.service import Retrieval
from liftoff.retrieval.store import open_store
from liftoff.server.access import protect
from liftoff.server.bodies import BodySizeLimit
from liftoff.server.errors import install_error_handlers
from liftoff.server.observability import RequestObserver, route_paths

logger = logging.getLogger("retrieval")


def create_app(settings: Settings) -> FastAPI:
    """The service as an ASGI app; the store opens and the gateway client starts with its
    lifespan."""
    metrics = RetrievalMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await asyncio.to_thread(open_store, settings)
        gateway = Gateway(
            settings.gateway_url,
            api_key=settings.gateway_api_key.get_secret_value()
            if settings.gateway_api_key
            else None,
            connect_timeout=settings.connect_timeout,
            request_timeout=settings.request_timeout,
            embed_batch=settings.embed_batch,
        )
        retrieval = Retrieval(store, gateway, settings, metrics)
        app.state.retrieval = retrieval
        logger.info("retrieval service: %s; gateway %s", store.describe(), settings.gateway_url)
        try:
            yield
        finally:
            await gateway.close()
            retrieval.close()
            await asyncio.to_thread(store.close)
            logger.info("retrieval service stopped")

    app = FastAPI(
        title="Liftoff retrieval service",
        summary="Question answering over your documents: collections of embedded chunks "
        "(SQLite + sqlite-vec or Postgres + pgvector), served as OpenAI-compatible "
        "rag:<collection> models with citations",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.include_router(health.router)
    app.include_router(openai.router)
    app.include_router(collections.router)
    install_error_handlers(app, SHAPES, log_hint="the retrieval service's log")
    _add_middleware(app, settings, metrics)
    return app


def _add_middleware(app: FastAPI, settings: Settings, metrics: RetrievalMetrics) -> None:
    # Added innermost first: a request meets them in the reverse order.
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_document_bytes,
        limits={},
        timeout=settings.body_timeout,
        shapes=SHAPES,
    )
    open_paths = {"/healthz", "/readyz"} | ({"/metrics"} if settings.metrics_public else set())
    protect(
        app,
        settings.exposure,
        keys=settings.load_api_keys() if settings.auth_required else [],
        open_paths=open_paths,
        shapes=SHAPES,
    )
    app.add_middleware(
        RequestObserver,
        metrics=metrics.http,
        paths=route_paths(app.routes),
        log_name="retrieval.access",
    )
