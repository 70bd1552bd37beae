"""A run as one self-contained HTML page: scores, distributions, the worst examples.

No scripts, no fonts, no CDN: inline CSS and inline SVG histograms, so the page opens from a
CI artifact or ``GET /v1/runs/{id}/report`` alike. The page is the Jinja2 template
``templates/report.html`` with autoescaping on for everything: every value a run carries
(prompts, predictions, references, names, errors) reaches the page escaped, and no value is
marked safe.

    report = await load_report(store, run_id, worst=10)  # a few queries, no whole run loaded
    page = render_report(report)  # CPU only (milliseconds): the service runs it in a thread

A report reads the run, each metric's distribution (counted by the store), the worst
``worst`` examples and at most ``FAILED_SHOWN`` failed ones: neither its work in Python nor
its size grows with the run's, whether the run has 10 examples or 100,000.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics.passages import answers
from liftoff.evaluation.runs.compare import Comparison
from liftoff.evaluation.runs.gates import Check
from liftoff.evaluation.runs.model import Distribution, ExampleRecord, Run, higher_is_better
from liftoff.evaluation.runs.store import RunStore

if TYPE_CHECKING:
    import jinja2

BINS = 10
FAILED_SHOWN = 100
_WIDTH, _BAR, _PLOT = 320, 28, 110  # histogram: SVG width, bar width, tallest bar (px)


@dataclass(frozen=True)
class Report:
    """What the page shows, read from the store by :func:`load_report`."""

    run: Run
    distributions: list[Distribution]
    rank_by: str | None
    worst: list[ExampleRecord]
    failed: list[ExampleRecord]
    checks: Sequence[Check] = ()
    comparison: Comparison | None = None


@dataclass(frozen=True)
class Bar:
    count: int
    low: float
    high: float
    x: int
    height: int


async def load_report(
    store: RunStore,
    run_id: str,
    *,
    worst: int = 10,
    metric: str | None = None,
    checks: Sequence[Check] = (),
    comparison: Comparison | None = None,
) -> Report:
    """The report's numbers and rows. ``metric`` ranks the worst examples (default: the
    run's first metric); raises ``InvalidInput`` when the run was scored without it, and
    ``RunNotFound``."""
    run = await store.get_run(run_id)
    if metric is not None and run.scores and metric not in run.scores:
        raise InvalidInput(
            f"run {run.id} has no {metric} scores; it has {', '.join(run.scores)}", param="metric"
        )
    rank_by = metric or next(iter(run.scores), None)
    distributions = [
        found
        for name in run.scores
        if (found := await store.distribution(run_id, name, bins=BINS)) is not None
    ]
    ranked = []
    if rank_by is not None and run.scores:
        ranked = await store.worst_examples(
            run_id, rank_by, worst, higher_is_better=higher_is_better(rank_by)
        )
    failed = []
    if run.progress.failed:
        failed = await store.examples(run_id, statuses=("failed",), limit=FAILED_SHOWN)
    return Report(run, distributions, rank_by, ranked, failed, checks, comparison)


def render_report(report: Report) -> str:
    """The page, as text."""
    run = report.run
    others = [name for name in run.scores if name != report.rank_by]
    title = f"Evaluation run {run.id}" + (f" — {run.name}" if run.name else "")
    generation = ", ".join(
        f"{key}={value!r}"
        for key, value in run.generation.model_dump().items()
        if value is not None
    )
    return _template().render(
        title=title,
        run=run,
        generation=generation,
        histograms=[(found, _bars(found)) for found in report.distributions],
        rank_by=report.rank_by,
        worst=[(record, _other_scores(record, others), _cited(record)) for record in report.worst],
        failed=report.failed,
        checks=report.checks,
        comparison=report.comparison,
    )


@functools.cache
def _template() -> jinja2.Template:
    # Imported here: the `liftoff` command loads this module in images without the
    # evaluation extra (the gateway's), which only render reports if they install it.
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("liftoff.evaluation.reports", "templates"),
        autoescape=True,  # every template, whatever its name: escaping is never opt-in
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html")


def _other_scores(record: ExampleRecord, metrics: list[str]) -> str:
    scores = record.scores or {}
    # A retrieval metric has no score where it does not apply (an unanswerable question).
    return ", ".join(f"{name} {scores[name]:.3g}" for name in metrics if name in scores)


@dataclass(frozen=True)
class Cited:
    """One citation of an answer as the report lists it; ``answers``: it holds a passage
    that answers the question (None: the row names no passages)."""

    label: str
    score: float | None
    answers: bool | None


def _cited(record: ExampleRecord) -> list[Cited] | None:
    if record.citations is None:
        return None
    passages = record.passages
    return [
        Cited(
            citation.label(),
            citation.score,
            None if passages is None else any(answers(p, citation) for p in passages),
        )
        for citation in record.citations
    ]


def _bars(distribution: Distribution) -> list[Bar]:
    """The histogram's bars, laid out in the SVG: the tallest is ``_PLOT`` pixels high."""
    counts, top = distribution.counts, distribution.top
    peak = max(counts) or 1
    return [
        Bar(count, index * top / len(counts), (index + 1) * top / len(counts),
            10 + index * (_BAR + 2), round(count / peak * _PLOT))
        for index, count in enumerate(counts)
    ]  # fmt: skip
