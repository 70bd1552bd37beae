"""Wire shapes of the evaluation service: requests (unknown fields are refused) and the
lists it answers with. A run, an example and a comparison are their models' own shapes
(``liftoff.evaluation.runs.model``, ``liftoff.evaluation.runs.compare``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictStr

from liftoff.evaluation.metrics import DEFAULT_METRICS, ScoreOptions
from liftoff.evaluation.metrics.options import BootstrapOptions
from liftoff.evaluation.runs.model import Endpoint, ExampleRecord, GenerationParams, Run

# Bootstrap resamples a request may ask for: ten times sacrebleu's default. Each costs a
# pass over every example for every metric (100,000 over 10,000 pairs held a worker 55 s).
MAX_RESAMPLES = 10_000
MAX_METRICS = 32  # metric names per request (repeats are refused later)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestBootstrap(BootstrapOptions):
    """Bootstrap options of a request: at most ``MAX_RESAMPLES`` resamples."""

    resamples: int = Field(default=1000, ge=0, le=MAX_RESAMPLES)


class RequestScoreOptions(ScoreOptions):
    """Scoring options of a request: the library's, with the service's bound on resamples."""

    bootstrap: RequestBootstrap = RequestBootstrap()

    def library(self) -> ScoreOptions:
        """The same options as the library's own model (what runs store)."""
        return ScoreOptions.model_validate(self.model_dump())


class ScoreRequest(_Strict):
    """``POST /v1/scores``: predictions, and what the metrics asked for read: references (one
    string per prediction, or a list of them) for BLEU, chrF, TER, ROUGE and METEOR;
    ``retrieved`` (each prediction's citations, best first) and ``passages`` (those that
    answer each question; ``[]``: none does) for hit rate, MRR and abstention. An input no
    metric asked for reads is refused, naming it."""

    predictions: list[StrictStr] = Field(min_length=1)
    # Checked by the metrics library, with messages naming the item: references[3][1],
    # retrieved[0][2].chunk, passages[1][0].
    references: list[Any] | None = None
    retrieved: list[Any] | None = None
    passages: list[Any] | None = None
    metrics: list[StrictStr] = Field(
        default_factory=lambda: list(DEFAULT_METRICS), max_length=MAX_METRICS
    )
    options: RequestScoreOptions = RequestScoreOptions()

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "predictions": ["the cat sat on the mat"],
                    "references": [["the cat sat on a mat", "a cat was on the mat"]],
                    "metrics": ["bleu", "rougeL", "meteor"],
                    "options": {"rouge": {"use_stemmer": False}},
                },
                {
                    "predictions": ["Up to two thousand eggs a day.", "I don't know."],
                    "retrieved": [
                        [{"source": "bees/queen.md", "chunk": 0, "text": "..."}, "bees/drones.md"],
                        [],
                    ],
                    "passages": [["bees/queen.md"], []],
                    "metrics": ["hit_rate@4", "mrr@4", "abstention"],
                },
            ]
        },
    )


class TargetSpec(_Strict):
    """Where a run generates: an OpenAI-compatible base URL, a model and an API key (default:
    the service's configured target; the first model it lists). The key is never stored."""

    base_url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)
    model: str | None = Field(default=None, min_length=1, max_length=256)
    api_key: SecretStr | None = Field(default=None, max_length=4096)
    endpoint: Endpoint = "auto"


class RunCreate(_Strict):
    """``POST /v1/runs``: a dataset (JSONL text, or a list of row objects) and a target."""

    dataset: str | list[Any]
    dataset_name: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    target: TargetSpec = TargetSpec()
    generation: GenerationParams = GenerationParams()
    metrics: list[StrictStr] = Field(
        default_factory=lambda: list(DEFAULT_METRICS), max_length=MAX_METRICS
    )
    options: RequestScoreOptions = RequestScoreOptions()
    concurrency: int | None = Field(default=None, ge=1)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dataset": '{"id": "1", "prompt": "2+2=", "references": ["4"]}\n',
                    "target": {"base_url": "http://127.0.0.1:8000/v1"},
                    "generation": {"max_tokens": 32, "temperature": 0, "seed": 0},
                    "metrics": ["bleu", "rougeL"],
                }
            ]
        },
    )


class ResumeRequest(_Strict):
    api_key: SecretStr | None = Field(default=None, max_length=4096)


class RunList(BaseModel):
    """``GET /v1/runs``: runs, newest first."""

    object: Literal["list"] = "list"
    data: list[Run]


class ExampleList(BaseModel):
    """``GET /v1/runs/{id}/examples``: a page of examples in dataset order; ``total`` counts
    all the run's examples."""

    object: Literal["list"] = "list"
    total: int
    offset: int
    data: list[ExampleRecord]
