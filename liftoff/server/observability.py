"""The outermost layer: request ids, the access log and per-request metrics.

Every response carries ``X-Request-ID`` (the client's, when it sent a sane one). One log
line per request, written when its last byte has gone out (for a stream, at its end):
method, route, status, latency, key id and tokens. Never the key, never the prompt.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence

from fastapi.routing import APIRoute
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liftoff.server.context import RequestInfo, attach, logged_request

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Request latencies span milliseconds (health, cached) to minutes (long answers on CPU).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class RequestMetrics:
    """Requests by route, method, status and key id, and latency by route, under ``prefix``
    (``liftoff`` → ``liftoff_requests_total``, ``liftoff_request_duration_seconds``)."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.requests = Counter(
            f"{prefix}_requests", "HTTP requests answered", ["route", "method", "status", "key"],
            registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            f"{prefix}_request_duration_seconds", "Time until the last byte of the response",
            ["route"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip


class RequestObserver:
    """Creates each request's ``RequestInfo``, then logs and counts the request when its
    response has ended. ``log_name`` names the access logger (``api.access``)."""

    def __init__(
        self, app: ASGIApp, *, metrics: RequestMetrics, paths: set[str], log_name: str
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = logging.getLogger(log_name)
        # Requests refused before routing (401, 413) are labelled by their path when it
        # is one of the app's own; anything else shares one label, keeping metrics bounded.
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info = RequestInfo(
            request_id=_request_id(scope),
            client=scope["client"][0] if scope.get("client") else "",
        )
        attach(scope, info)
        token = logged_request.set(info)
        status = 500  # what the client sees if the app fails before answering
        header = (b"x-request-id", info.request_id.encode())

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            logged_request.reset(token)
            self._record(scope, info, status, time.perf_counter() - started)

    def _record(self, scope: Scope, info: RequestInfo, status: int, seconds: float) -> None:
        route = str(getattr(scope.get("route"), "path", None) or "")
        if not route:
            route = scope["path"] if scope["path"] in self.paths else "unmatched"
        self.metrics.requests.labels(route, scope["method"], str(status), info.key_id).inc()
        self.metrics.latency.labels(route).observe(seconds)
        self.access_log.info(
            "%s %s %d",
            scope["method"],
            route,
            status,
            extra={
                "request_id": info.request_id,
                "method": scope["method"],
                "route": route,
                "status": status,
                "latency_ms": round(seconds * 1000, 2),
                "key_id": info.key_id,
                "prompt_tokens": info.prompt_tokens,
                "completion_tokens": info.completion_tokens,
            },
        )


def route_paths(routes: Sequence[BaseRoute]) -> set[str]:
    """Every path an app routes, for labelling requests refused before routing."""
    paths: set[str] = set()
    for route in routes:
        if isinstance(route, Route | APIRoute):
            paths.add(route.path)
        # FastAPI keeps included routers as such; their routes carry the full path.
        included = getattr(route, "original_router", None)
        if included is not None:
            paths |= route_paths(included.routes)
    return paths


def metrics_response(request: Request) -> Response:
    """``GET /metrics``: the Prometheus text exposition of ``app.state.metrics.registry``."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex
