"""What a run is: its spec, its record and its examples, one pydantic model each.

A run sends every example of a dataset to a target (an OpenAI-compatible endpoint and a
model), keeps each generated output as it arrives, then scores all of them at once.

    queued ──▶ generating ──▶ scoring ──▶ completed
                   │
                   └──▶ failed  (examples failed after retries; resuming retries them)

Each model *is* its wire shape, so nothing maps a record field by field:
``Run.model_dump(mode="json")`` is ``GET /v1/runs/{id}``, ``ExampleRecord.model_dump(mode="json")``
is one row of ``GET /v1/runs/{id}/examples`` and of a run document, and ``model_validate``
reads either back. The store keeps the same shapes (see ``liftoff.evaluation.runs.store``).

    >>> spec = RunSpec(target=TargetRef(base_url="http://127.0.0.1:8000/v1"), metrics=("bleu",))
    >>> spec.target.model is None  # the target's first model, resolved when the run is created
    True
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from liftoff.evaluation.metrics import DEFAULT_METRICS, METRICS, Citation, ScoreOptions
from liftoff.evaluation.metrics.base import CONFIDENCE_LEVEL
from liftoff.evaluation.runs.dataset import Example


def _absent(value: object) -> bool:
    return value is None


RunStatus = Literal["queued", "generating", "scoring", "completed", "failed"]
ExampleStatus = Literal["pending", "done", "failed"]
Endpoint = Literal["auto", "chat", "completions"]
UNFINISHED: tuple[RunStatus, ...] = ("queued", "generating", "scoring")


class _Request(BaseModel):
    """What a caller chooses: unknown fields are refused, values never change afterwards."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Record(BaseModel):
    """What the service and the CLI write: read back leniently (a newer writer may add fields)."""

    model_config = ConfigDict(frozen=True)


class GenerationParams(_Request):
    """Sampling parameters sent with every request of a run (greedy and seeded by default).

    >>> GenerationParams(max_tokens=32, stop="\\n").stop
    ['\\n']
    """

    max_tokens: int | None = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = 0
    stop: list[str] | None = Field(default=None, max_length=4)

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class TargetRef(_Request):
    """Where a run generates: an OpenAI-compatible base URL, a model, and which endpoint
    (``auto``: prompt rows to ``/completions``, messages rows to ``/chat/completions``)."""

    base_url: str
    model: str | None = None  # None: the first model the target lists, resolved at creation
    endpoint: Endpoint = "auto"


class RunSpec(_Request):
    """Everything that decides a run's outputs and scores: what a caller asks for, and
    (with the model resolved and the metric names canonical) what the run stores."""

    name: str | None = None
    dataset: str | None = None
    target: TargetRef
    generation: GenerationParams = GenerationParams()
    concurrency: int = Field(default=4, ge=1)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    options: ScoreOptions = ScoreOptions()


class ResolvedTarget(TargetRef):
    """The target of a stored run: the model is always named."""

    model_config = ConfigDict(extra="ignore")

    model: str


class Progress(_Record):
    total: int
    done: int
    failed: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed


class Interval(_Record):
    """A 95% confidence interval (percentile bootstrap), as ``POST /v1/scores`` shapes it."""

    low: float
    high: float
    level: float = CONFIDENCE_LEVEL


class CorpusScores(_Record):
    """What scoring adds to a run: corpus scores, their intervals (for the metrics that have
    one; null when none has) and signatures, each keyed by metric in the run's order."""

    corpus: dict[str, float]
    confidence_intervals: dict[str, Interval] | None = None
    signatures: dict[str, str]


class Run(RunSpec):
    """A run as stored and sent: its spec, status, progress and, once completed, the corpus
    scores with their intervals and signatures (shaped as in ``POST /v1/scores``).

    ``corpus``, ``confidence_intervals`` and ``signatures`` are null until the run is scored;
    their keys follow ``metrics``.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    object: Literal["evaluation.run"] = "evaluation.run"
    status: RunStatus
    origin: str
    created_at: str
    updated_at: str
    target: ResolvedTarget
    progress: Progress
    error: str | None = None
    corpus: dict[str, float] | None = None
    confidence_intervals: dict[str, Interval] | None = None
    signatures: dict[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED

    @property
    def scores(self) -> dict[str, float]:
        """The corpus scores (empty until the run is completed)."""
        return self.corpus or {}

    def interval(self, metric: str) -> Interval | None:
        return (self.confidence_intervals or {}).get(metric)


class ExampleRecord(Example):
    """One example of a run: the row, what the target answered, and its scores.

    ``citations`` are the passages the target cited with its answer, best first, as it
    returned them (the retrieval service's ``citations``: ``index, source, chunk, start,
    score, text``); left out when the answer carried no ``citations`` field. ``scores`` holds
    each metric's score and, for ROUGE, ``<name>_precision`` and ``<name>_recall``; null
    until the run is scored. A retrieval metric has no score for an example it does not
    apply to (hit rate for an unanswerable question).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: ExampleStatus = "pending"
    prediction: str | None = None
    error: str | None = None
    attempts: int = 0
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    generated_at: str | None = None
    citations: tuple[Citation, ...] | None = Field(default=None, exclude_if=_absent)
    scores: dict[str, float] | None = None


class Generation(BaseModel):
    """What the target answered for one example: the fields of :class:`ExampleRecord` that
    generating fills in."""

    model_config = ConfigDict(frozen=True)

    prediction: str
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    citations: tuple[Citation, ...] | None = None


class Distribution(_Record):
    """One metric's per-example scores in a run: how many, their mean and median, and how
    many fall in each of ``len(counts)`` equal bins over [0, ``top``] (the last bin includes
    ``top``). ``top`` is the metric's scale, or the largest score when that is larger (TER
    can exceed 100)."""

    metric: str
    count: int
    mean: float
    median: float
    top: float
    counts: list[int]


class LoadedRun(BaseModel):
    """A run with all its examples in dataset order: what comparisons read."""

    model_config = ConfigDict(frozen=True)

    run: Run
    examples: list[ExampleRecord]

    def per_example(self, metric: str) -> list[tuple[ExampleRecord, float]]:
        """Scored examples with their ``metric`` score, in dataset order."""
        return [
            (record, record.scores[metric])
            for record in self.examples
            if record.scores is not None and metric in record.scores
        ]


def higher_is_better(metric: str) -> bool:
    """Whether a larger ``metric`` score is better (False for TER, an error rate)."""
    return METRICS[metric].higher_is_better
