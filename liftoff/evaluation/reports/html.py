"""A run as one self-contained HTML page: scores, distributions, the worst examples.

No scripts, no fonts, no CDN: inline CSS and inline SVG histograms, every piece of text
escaped, so the page opens from a CI artifact or ``GET /v1/runs/{id}/report`` alike.

    >>> page = render_report(loaded, worst=10)   # doctest: +SKIP
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from html import escape

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.runs.compare import Comparison
from liftoff.evaluation.runs.gates import Check
from liftoff.evaluation.runs.model import LOWER_IS_BETTER, ExampleRecord, LoadedRun

BINS = 10
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;
color:#1d1d1f}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f7}span.num{display:block;text-align:right;font-variant-numeric:tabular-nums}
.text{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px}
.pass{color:#17803d;font-weight:600}.fail{color:#c62828;font-weight:600}
.sig{font-family:ui-monospace,monospace;font-size:11px;color:#555}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{flex:0 0 340px}
.chart svg rect{fill:#4f7fd8}.chart text{font-size:10px;fill:#333}
"""


def render_report(
    loaded: LoadedRun,
    *,
    worst: int = 10,
    metric: str | None = None,
    checks: Sequence[Check] = (),
    comparison: Comparison | None = None,
) -> str:
    """The page. ``metric`` ranks the worst examples (default: the run's first metric);
    raises ``InvalidInput`` when the run was scored without it."""
    run = loaded.run
    if metric is not None and run.corpus and metric not in run.corpus:
        raise InvalidInput(
            f"run {run.id} has no {metric} scores; it has {', '.join(run.corpus)}", param="metric"
        )
    title = f"Evaluation run {run.id}" + (f" — {run.spec.name}" if run.spec.name else "")
    rank_by = metric or next(iter(run.corpus), None)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _overview(loaded),
        _scores(loaded),
    ]
    if checks:
        parts.append(_checks(checks))
    if comparison is not None:
        parts.append(_comparison(comparison))
    if run.corpus:
        parts.append(_distributions(loaded))
    if rank_by is not None:
        parts.append(_worst(loaded, rank_by, worst))
    failed = [r for r in loaded.examples if r.status == "failed"]
    if failed:
        parts.append(_failed(failed))
    parts.append("</body></html>")
    return "\n".join(parts)


def _overview(loaded: LoadedRun) -> str:
    run, spec = loaded.run, loaded.run.spec
    generation = ", ".join(
        f"{key}={value!r}"
        for key, value in spec.generation.model_dump().items()
        if value is not None
    )
    rows = [
        ("status", run.status + (f": {run.error}" if run.error else "")),
        ("dataset", spec.dataset or "(inline)"),
        ("target", spec.target),
        ("model", spec.model),
        ("endpoint", spec.endpoint),
        ("generation", generation),
        ("examples", f"{run.progress.done} done, {run.progress.failed} failed, "
                     f"{run.progress.total} in all"),
        ("created", run.created_at),
        ("updated", run.updated_at),
    ]  # fmt: skip
    return _table(["", ""], [[escape(k), escape(v)] for k, v in rows], header=False)


def _scores(loaded: LoadedRun) -> str:
    if not loaded.run.corpus:
        return "<h2>Scores</h2><p>Not scored yet.</p>"
    rows = []
    for name, result in loaded.run.corpus.items():
        ci = "" if result.ci_low is None else f"[{result.ci_low:.4f}, {result.ci_high:.4f}]"
        rows.append([
            escape(name), _num(result.score), _num(ci),
            f'<span class="sig">{escape(result.signature)}</span>',
        ])  # fmt: skip
    return "<h2>Scores</h2>" + _table(["metric", "corpus", "95% CI", "signature"], rows)


def _checks(checks: Sequence[Check]) -> str:
    rows = [
        [
            '<span class="pass">PASS</span>' if c.passed else '<span class="fail">FAIL</span>',
            escape(c.kind),
            escape(c.name),
            escape(c.message),
        ]
        for c in checks
    ]
    return "<h2>Checks</h2>" + _table(["result", "kind", "check", "detail"], rows)


def _comparison(comparison: Comparison) -> str:
    rows = [
        [
            escape(name), _num(d.baseline), _num(d.candidate), _num(f"{d.delta:+.4f}"),
            _num(f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}]"),
            ("better" if d.improved > 0 else "worse") if d.significant else "no clear change",
        ]
        for name, d in comparison.deltas.items()
    ]  # fmt: skip
    intro = (
        f"<p>Baseline {escape(comparison.baseline)} vs this run on {comparison.examples} shared "
        f"examples; paired bootstrap, {comparison.resamples} resamples.</p>"
    )
    headers = ["metric", "baseline", "this run", "delta", "95% CI of delta", "verdict"]
    return "<h2>Comparison with the baseline</h2>" + intro + _table(headers, rows)


def _distributions(loaded: LoadedRun) -> str:
    charts = []
    for name, result in loaded.run.corpus.items():
        values = [value for _, value in loaded.per_example(name)]
        if not values:
            continue
        top = max(result.scale, max(values))
        counts = [0] * BINS
        for value in values:
            counts[min(int(value / top * BINS), BINS - 1) if top else 0] += 1
        summary = (
            f"mean {statistics.fmean(values):.4g}, median {statistics.median(values):.4g}, "
            f"n={len(values)}"
        )
        charts.append(
            f'<div class="chart"><strong>{escape(name)}</strong> '
            f'<span class="sig">{escape(summary)}</span>{_histogram(counts, top)}</div>'
        )
    return '<h2>Score distributions</h2><div class="charts">' + "".join(charts) + "</div>"


def _histogram(counts: Sequence[int], top: float) -> str:
    width, height, bar = 320, 150, 28
    peak = max(counts) or 1
    shapes = []
    for index, count in enumerate(counts):
        h = round(count / peak * 110)
        x = 10 + index * (bar + 2)
        shapes.append(
            f'<rect x="{x}" y="{125 - h}" width="{bar}" height="{h}">'
            f"<title>{count} example(s) in [{index * top / BINS:g}, "
            f"{(index + 1) * top / BINS:g})</title></rect>"
        )
        if count:
            shapes.append(
                f'<text x="{x + bar / 2}" y="{121 - h}" text-anchor="middle">{count}</text>'
            )
    shapes.append(f'<text x="10" y="140">0</text><text x="{width - 10}" y="140" '
                  f'text-anchor="end">{top:g}</text>')  # fmt: skip
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="histogram">{"".join(shapes)}</svg>'
    )


def _worst(loaded: LoadedRun, metric: str, count: int) -> str:
    scored = loaded.per_example(metric)
    if not scored:
        return ""
    sign = -1 if metric in LOWER_IS_BETTER else 1  # worst first: highest TER, lowest others
    ranked = sorted(scored, key=lambda item: (sign * item[1], item[0].position))
    others = [name for name in loaded.run.corpus if name != metric]
    rows = [
        [
            escape(record.example.id),
            _num(value),
            f'<div class="text">{escape(_input(record))}</div>',
            f'<div class="text">{escape(record.output or "")}</div>',
            f'<div class="text">{_references(record.example.references)}</div>',
            _num(", ".join(f"{n} {(record.scores or {}).get(n, 0):.3g}" for n in others)),
        ]
        for record, value in ranked[:count]
    ]
    headers = ["id", metric, "input", "prediction", "references", "other scores"]
    title = f"Worst {min(count, len(ranked))} examples by {escape(metric)}"
    return f'<h2 id="worst">{title}</h2>' + _table(headers, rows)


def _failed(failed: Iterable[ExampleRecord]) -> str:
    rows = [[escape(r.example.id), escape(r.error or "")] for r in failed]
    return "<h2>Failed examples</h2>" + _table(["id", "error"], rows)


def _input(record: ExampleRecord) -> str:
    example = record.example
    if example.messages is not None:
        return "\n".join(f"[{m.role}] {m.content}" for m in example.messages)
    return example.prompt or ""


def _references(references: Sequence[str]) -> str:
    if len(references) == 1:
        return escape(references[0])
    return "<ol>" + "".join(f"<li>{escape(ref)}</li>" for ref in references) + "</ol>"


def _num(value: float | str) -> str:
    text = f"{value:.4f}" if isinstance(value, float) else escape(value)
    return f'<span class="num">{text}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, header: bool = True) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"
