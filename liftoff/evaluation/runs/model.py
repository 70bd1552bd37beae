"""What a run is: its settings (``RunSpec``), its state (``RunRecord``) and its examples.

A run sends every example of a dataset to a target (an OpenAI-compatible endpoint and a
model), keeps each generated output as it arrives, then scores all of them at once.

    queued ──▶ generating ──▶ scoring ──▶ completed
                   │
                   └──▶ failed  (examples failed after retries; resuming retries them)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import METRICS, ScoreOptions
from liftoff.evaluation.metrics.base import CONFIDENCE_LEVEL
from liftoff.evaluation.runs.dataset import Example

RunStatus = Literal["queued", "generating", "scoring", "completed", "failed"]
ExampleStatus = Literal["pending", "done", "failed"]
Endpoint = Literal["auto", "chat", "completions"]
UNFINISHED: tuple[RunStatus, ...] = ("queued", "generating", "scoring")


class GenerationParams(BaseModel):
    """Sampling parameters sent with every request of a run (greedy and seeded by default).

    >>> GenerationParams(max_tokens=32, stop="\\n").stop
    ['\\n']
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int | None = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = 0
    stop: list[str] | None = Field(default=None, max_length=4)

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RunSpec(BaseModel):
    """Everything that decides a run's outputs and scores; stored with the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    model: str
    endpoint: Endpoint = "auto"
    generation: GenerationParams = GenerationParams()
    metrics: tuple[str, ...]
    options: ScoreOptions = ScoreOptions()
    concurrency: int = Field(default=4, ge=1)
    name: str | None = None
    dataset: str | None = None


@dataclass(frozen=True)
class CorpusScore:
    """One metric's corpus score with its 95% interval and signature, as stored."""

    score: float
    signature: str
    scale: float
    ci_low: float | None = None
    ci_high: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "ci": None if self.ci_low is None else {"low": self.ci_low, "high": self.ci_high},
            "signature": self.signature,
            "scale": self.scale,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CorpusScore:
        ci = data.get("ci")
        return cls(
            score=data["score"],
            signature=data["signature"],
            scale=data["scale"],
            ci_low=ci["low"] if ci else None,
            ci_high=ci["high"] if ci else None,
        )


@dataclass(frozen=True)
class ExampleRecord:
    """One example of a run: the row, what the target answered, and its scores."""

    position: int
    example: Example
    status: ExampleStatus = "pending"
    output: str | None = None
    error: str | None = None
    attempts: int = 0
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    generated_at: str | None = None
    scores: Mapping[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.example.to_json(),
            "status": self.status,
            "prediction": self.output,
            "error": self.error,
            "attempts": self.attempts,
            "latency_s": self.latency_s,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
            "generated_at": self.generated_at,
            "scores": dict(self.scores) if self.scores is not None else None,
        }


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    failed: int

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed

    def to_json(self) -> dict[str, int]:
        return {"total": self.total, "done": self.done, "failed": self.failed,
                "pending": self.pending}  # fmt: skip


@dataclass(frozen=True)
class RunRecord:
    """A run as stored: settings, status, progress and, once completed, corpus scores."""

    id: str
    spec: RunSpec
    status: RunStatus
    origin: str
    created_at: str
    updated_at: str
    progress: Progress
    error: str | None = None
    corpus: Mapping[str, CorpusScore] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED

    def to_json(self) -> dict[str, Any]:
        """The run on the wire: ``corpus``, ``confidence_intervals`` and ``signatures`` are
        shaped as in ``POST /v1/scores``."""
        spec = self.spec
        return {
            "id": self.id,
            "object": "evaluation.run",
            "name": spec.name,
            "dataset": spec.dataset,
            "status": self.status,
            "origin": self.origin,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "target": {"base_url": spec.target, "model": spec.model, "endpoint": spec.endpoint},
            "generation": spec.generation.model_dump(),
            "concurrency": spec.concurrency,
            "metrics": list(spec.metrics),
            "options": spec.options.model_dump(),
            "progress": self.progress.to_json(),
            "error": self.error,
            "corpus": {name: s.score for name, s in self.corpus.items()} or None,
            "confidence_intervals": {
                name: {"low": s.ci_low, "high": s.ci_high, "level": CONFIDENCE_LEVEL}
                for name, s in self.corpus.items()
                if s.ci_low is not None
            }
            or None,
            "signatures": {name: s.signature for name, s in self.corpus.items()} or None,
        }


def canonical_metrics(names: Sequence[str]) -> tuple[str, ...]:
    """Metric names as the library spells them (``ROUGEL`` → ``rougeL``), without repeats.

    Raises :class:`~liftoff.evaluation.errors.InvalidInput` naming an unknown metric.
    """
    by_lower = {name.lower(): name for name in METRICS}
    found: list[str] = []
    for requested in names:
        name = by_lower.get(requested.lower()) if isinstance(requested, str) else None
        if name is None:
            raise InvalidInput(
                f"unknown metric {requested!r}; known: {', '.join(METRICS)}", param="metrics"
            )
        if name not in found:
            found.append(name)
    if not found:
        raise InvalidInput("no metrics requested", param="metrics")
    return tuple(found)


LOWER_IS_BETTER = frozenset({"ter"})


@dataclass(frozen=True)
class LoadedRun:
    """A run with all its examples: what reports and comparisons read."""

    run: RunRecord
    examples: tuple[ExampleRecord, ...]

    def per_example(self, metric: str) -> list[tuple[ExampleRecord, float]]:
        """Scored examples with their ``metric`` score, in dataset order."""
        return [
            (record, record.scores[metric])
            for record in self.examples
            if record.scores is not None and metric in record.scores
        ]
