"""Builds the gateway from one Settings object: backend, limits, security, routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from liftoff.api.backends import create_backend
from liftoff.api.backends.base import Backend
from liftoff.api.config import Settings
from liftoff.api.errors import ServiceError
from liftoff.api.generation import Generator, Limits
from liftoff.api.lifecycle import Lifecycle
from liftoff.api.limits import ConcurrencyLimiter, RateLimiter, RateLimits
from liftoff.api.metrics import GatewayMetrics
from liftoff.api.middleware import OllamaJSONBodies
from liftoff.api.protocols import health, ollama, ollama_models, openai, vertex
from liftoff.api.protocols.bounds import document_limits
from liftoff.api.protocols.errors import SHAPES
from liftoff.api.shared_limits import RedisRateLimiter
from liftoff.server.access import protect
from liftoff.server.bodies import BodySizeLimit
from liftoff.server.errors import install_error_handlers
from liftoff.server.observability import RequestObserver, route_paths

logger = logging.getLogger("api")


def create_app(settings: Settings) -> FastAPI:
    """The gateway as an ASGI app; the backend starts with the app's lifespan."""
    metrics = GatewayMetrics()
    lifecycle = Lifecycle(
        grace_seconds=settings.shutdown_grace_seconds,
        drain_seconds=settings.shutdown_drain_seconds,
    )
    concurrency = ConcurrencyLimiter(
        settings.concurrency_limit, queue=settings.max_queue, queue_timeout=settings.queue_timeout
    )
    metrics.in_flight.set_function(lambda: concurrency.active)
    metrics.queued.set_function(lambda: concurrency.waiting)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        restore_signals = lifecycle.install(asyncio.get_running_loop())
        rate_limiter, shared = _rate_limiter(settings)
        if shared is not None:
            metrics.rate_limits_shared.set_function(lambda: float(shared.shared))
            await shared.start()
        backend = create_backend(settings)
        await backend.start()
        app.state.generator = Generator(
            backend,
            Limits(
                timeout=settings.request_timeout,
                max_tokens=settings.max_tokens_limit,
                max_prompt_chars=settings.max_prompt_chars,
                max_choices=settings.max_choices,
            ),
            rate_limiter=rate_limiter,
            concurrency=concurrency,
            metrics=metrics,
            must_stop=lifecycle.must_stop,
        )
        logger.info("serving %s via the %s backend", await _served(backend), backend.name)
        try:
            yield
        finally:
            restore_signals()
            await backend.close()
            if shared is not None:
                await shared.close()
            logger.info("gateway stopped")

    app = FastAPI(
        title="Liftoff generation gateway",
        summary="OpenAI-, Ollama- and Vertex AI-compatible generation API",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.lifecycle = lifecycle
    app.include_router(health.router)
    app.include_router(openai.router)
    app.include_router(ollama.router)
    app.include_router(ollama_models.router)
    app.include_router(vertex.build_router(settings))
    install_error_handlers(app, SHAPES, log_hint="the gateway's log")
    _document_limits(app, settings)
    _add_middleware(app, settings, metrics)
    return app


def _add_middleware(app: FastAPI, settings: Settings, metrics: GatewayMetrics) -> None:
    # Added innermost first: a request meets them in the reverse order.
    app.add_middleware(OllamaJSONBodies)
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_body_bytes,
        limits={settings.vertex_predict_route: settings.vertex_max_body_bytes},
        timeout=settings.body_timeout,
        shapes=SHAPES,
    )
    open_paths = {"/healthz", "/readyz", settings.vertex_health_route}
    if settings.metrics_public:
        open_paths.add("/metrics")
    protect(
        app,
        settings.exposure,
        keys=settings.load_api_keys() if settings.auth_required else [],
        open_paths=open_paths,
        shapes=SHAPES,
        cors_origins=settings.cors_allow_list,
    )
    if settings.cors_allow_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(
        RequestObserver, metrics=metrics.http, paths=route_paths(app.routes), log_name="api.access"
    )


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI document states the limits these settings set (``bounds.document_limits``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document_limits(document, max_tokens=settings.max_tokens_limit,
                            max_chars=settings.max_prompt_chars,
                            max_choices=settings.max_choices)  # fmt: skip
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _rate_limiter(settings: Settings) -> tuple[RateLimits | None, RedisRateLimiter | None]:
    """The rate limiter the settings ask for (none, this process's, or Redis'), and the
    Redis one again when it is that."""
    rpm, tpm = settings.rate_limit_rpm, settings.rate_limit_tpm
    if settings.redis_url is None:
        limiter = RateLimiter(requests_per_minute=rpm, tokens_per_minute=tpm)
        return (limiter if rpm or tpm else None), None
    if not (rpm or tpm):
        logger.info("LIFTOFF_REDIS_URL is set but no rate limit is: nothing to share")
        return None, None
    shared = RedisRateLimiter(
        settings.redis_url.get_secret_value(),
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
        timeout=settings.redis_timeout,
    )
    return shared, shared


async def _served(backend: Backend) -> str:
    try:
        return ", ".join(model.id for model in await backend.list_models())
    except ServiceError:
        return "(no model yet)"
