"""Prometheus metrics of the gateway (``GET /metrics``).

One registry per app, so several apps in one process (tests) never share counters.
Labels are bounded: routes are route templates, keys are key ids, never raw values.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from liftoff.server.observability import RequestMetrics

_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
_RATE_BUCKETS = (1, 2, 5, 10, 20, 40, 80, 160, 320, 640)


class GatewayMetrics:
    """Every metric of one gateway app, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http = RequestMetrics(r, "liftoff")
        self.time_to_first_token = Histogram(
            "liftoff_time_to_first_token_seconds", "Time until the first generated text",
            ["backend"], buckets=_TTFT_BUCKETS, registry=r,
        )  # fmt: skip
        self.tokens_per_second = Histogram(
            "liftoff_generation_tokens_per_second", "Completion tokens per second of generation",
            ["backend"], buckets=_RATE_BUCKETS, registry=r,
        )  # fmt: skip
        self.prompt_tokens = Counter(
            "liftoff_prompt_tokens", "Prompt tokens processed", ["key"], registry=r
        )
        self.completion_tokens = Counter(
            "liftoff_completion_tokens", "Completion tokens generated", ["key"], registry=r
        )
        self.in_flight = Gauge("liftoff_requests_in_flight", "Generations running now", registry=r)
        self.queued = Gauge("liftoff_requests_queued", "Generations waiting for a slot", registry=r)
        self.backend_errors = Counter(
            "liftoff_backend_errors", "Backend failures by kind", ["kind"], registry=r
        )
        self.rejections = Counter(
            "liftoff_rejections", "Requests refused by a limit", ["reason"], registry=r
        )
        self.rate_limits_shared = Gauge(
            "liftoff_rate_limits_shared",
            "1 while rate limits are shared through Redis, 0 while this instance limits alone",
            registry=r,
        )
