"""Builds the gateway: backend, limits, routes and error shapes, from one Settings object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.backends import create_backend
from api.backends.base import Backend
from api.config import Settings
from api.errors import GatewayError
from api.generation import Generator
from api.middleware import BodySizeLimit, JSONBodies
from api.protocols import health, ollama, openai, vertex
from api.protocols.errors import install_error_handlers

logger = logging.getLogger("api")


def create_app(settings: Settings) -> FastAPI:
    """The gateway as an ASGI app; the backend starts with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = create_backend(settings)
        await backend.start()
        app.state.generator = Generator(
            backend,
            timeout=settings.request_timeout,
            max_tokens_limit=settings.max_tokens_limit,
        )
        logger.info("serving %s via the %s backend", await _served(backend), backend.name)
        try:
            yield
        finally:
            await backend.close()

    app = FastAPI(
        title="Liftoff generation gateway",
        summary="OpenAI-, Ollama- and Vertex AI-compatible generation API",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(health.router)
    app.include_router(openai.router)
    app.include_router(ollama.router)
    app.include_router(vertex.build_router(settings))
    install_error_handlers(app)
    app.add_middleware(JSONBodies)
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_body_bytes,
        limits={settings.vertex_predict_route: settings.vertex_max_body_bytes},
    )
    return app


async def _served(backend: Backend) -> str:
    try:
        return ", ".join(model.id for model in await backend.list_models())
    except GatewayError:
        return "(no model yet)"
