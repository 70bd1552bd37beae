"""Request ids, the access log and Prometheus metrics of the evaluation service.

As in the gateway (``api.observability``): every response carries ``X-Request-ID`` (the
client's, when it sent a sane one), one JSON log line per request (method, route, status,
latency, key id), and ``GET /metrics`` from a registry of this app's own. Never a key,
never a prediction or reference.
"""

from __future__ import annotations

import logging
import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from api.context import current_request

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


class RequestIdFilter(logging.Filter):
    """Adds the running request's id to every log record that lacks one: logs of a run
    started by a request carry that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = current_request.get()
        if info is not None and not hasattr(record, "request_id"):
            record.request_id = info.request_id
        return True
