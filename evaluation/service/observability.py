"""Request ids, the access log and Prometheus metrics of the evaluation service.

As in the gateway (``api.observability``): every response carries ``X-Request-ID`` (the
client's, when it sent a sane one), one JSON log line per request (method, route, status,
latency, key id), and ``GET /metrics`` from a registry of this app's own. Never a key,
never a prediction or reference.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import RequestInfo, current_request

access_log = logging.getLogger("evaluation.access")

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_SCORING_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class EvaluationMetrics:
    """Every metric of one app, in a registry of its own (several apps in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "liftoff_eval_requests", "HTTP requests answered", ["route", "method", "status", "key"],
            registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "liftoff_eval_request_duration_seconds", "Time until the last byte of the response",
            ["route"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.scored_examples = Counter(
            "liftoff_eval_scored_examples", "Examples scored", ["source"], registry=r
        )
        self.scoring_seconds = Histogram(
            "liftoff_eval_scoring_duration_seconds", "Time to score one request or run",
            ["source"], buckets=_SCORING_BUCKETS, registry=r,
        )  # fmt: skip
        self.generations = Counter(
            "liftoff_eval_generations", "Generation requests of runs, after retries", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.generation_seconds = Histogram(
            "liftoff_eval_generation_duration_seconds", "Time the target took for one example",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.prompt_tokens = Counter(
            "liftoff_eval_prompt_tokens", "Prompt tokens the targets reported", registry=r
        )
        self.completion_tokens = Counter(
            "liftoff_eval_completion_tokens", "Completion tokens the targets reported", registry=r
        )
        self.runs = Counter(
            "liftoff_eval_runs_finished", "Runs that finished, by final status", ["status"],
            registry=r,
        )  # fmt: skip
        self.active_runs = Gauge(
            "liftoff_eval_runs_active", "Runs generating or scoring now", registry=r
        )


class RequestObserver:
    def __init__(self, app: ASGIApp, *, metrics: EvaluationMetrics, paths: set[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = paths  # labels for requests refused before routing; others: "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info = RequestInfo(
            request_id=_request_id(scope),
            client=scope["client"][0] if scope.get("client") else "",
        )
        token = current_request.set(info)
        status = 500
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
            current_request.reset(token)
            self._record(scope, info, status, time.perf_counter() - started)

    def _record(self, scope: Scope, info: RequestInfo, status: int, seconds: float) -> None:
        route = str(getattr(scope.get("route"), "path", None) or "")
        if not route:
            route = scope["path"] if scope["path"] in self.paths else "unmatched"
        self.metrics.requests.labels(route, scope["method"], str(status), info.key_id).inc()
        self.metrics.latency.labels(route).observe(seconds)
        access_log.info(
            "%s %s %d",
            scope["method"],
            route,
            status,
            extra={
                "request_id": info.request_id,
                "method": scope["method"],
                "route": route,
                "path": scope["path"],
                "status": status,
                "latency_ms": round(seconds * 1000, 2),
                "key_id": info.key_id,
            },
        )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds the running request's id to every log record that lacks one: logs of a run
    started by a request carry that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = current_request.get()
        if info is not None and not hasattr(record, "request_id"):
            record.request_id = info.request_id
        return True
