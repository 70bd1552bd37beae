"""A gated run as Markdown, for ``$GITHUB_STEP_SUMMARY`` (the job's summary page)."""

from __future__ import annotations

from collections.abc import Sequence

from liftoff.evaluation.runs.compare import Comparison
from liftoff.evaluation.runs.gates import Check
from liftoff.evaluation.runs.model import Run


def render_summary(
    run: Run, checks: Sequence[Check] = (), comparison: Comparison | None = None
) -> str:
    passed = run.status == "completed" and all(check.passed for check in checks)
    lines = [
        f"### liftoff eval: {'✅ passed' if passed else '❌ failed'}",
        "",
        f"Run `{run.id}`: `{_cell(run.target.model)}` at `{_cell(run.target.base_url)}`, "
        f"{run.progress.done}/{run.progress.total} examples"
        + (f" of `{_cell(run.dataset)}`" if run.dataset else "")
        + ".",
        "",
    ]
    if run.status != "completed":
        lines += [f"**Run {run.status}:** {_cell(run.error or '')}", ""]
    gates = {check.metric: check for check in checks if check.kind == "gate"}
    if run.scores:
        lines += ["| metric | score | 95% CI | gate |", "|---|---:|---:|---|"]
        for name, value in run.scores.items():
            interval = run.interval(name)
            ci = "" if interval is None else f"[{interval.low:.4f}, {interval.high:.4f}]"
            gate = gates.get(name)
            verdict = "" if gate is None else f"{'✅' if gate.passed else '❌'} `{gate.name}`"
            lines.append(f"| {name} | {value:.4f} | {ci} | {verdict} |")
        lines.append("")
    regressions = {check.metric: check for check in checks if check.kind == "regression"}
    if comparison is not None:
        lines += [
            f"#### Against baseline `{_cell(comparison.baseline)}` "
            f"({comparison.examples} paired examples)",
            "",
            "| metric | baseline | this run | delta | 95% CI | check |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for name, d in comparison.metrics.items():
            check = regressions.get(name)
            verdict = "" if check is None else f"{'✅' if check.passed else '❌'} `{check.name}`"
            lines.append(
                f"| {name} | {d.baseline:.4f} | {d.candidate:.4f} | {d.delta:+.4f} | "
                f"[{d.ci.low:+.4f}, {d.ci.high:+.4f}] | {verdict} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")
