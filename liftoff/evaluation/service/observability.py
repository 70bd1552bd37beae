"""Prometheus metrics of the evaluation service (``GET /metrics``).

Request ids, the access log and request metrics come from the shared layer
(``liftoff.server.observability``); this adds what scoring and runs do. Never a key, never a
prediction or reference.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from liftoff.server.observability import LATENCY_BUCKETS, RequestMetrics

_SCORING_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class EvaluationMetrics:
    """Every metric of one app, in a registry of its own (several apps in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http = RequestMetrics(r, "liftoff_eval")
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
            buckets=LATENCY_BUCKETS, registry=r,
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
