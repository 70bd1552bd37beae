"""A gated run as Markdown, for ``$GITHUB_STEP_SUMMARY`` (the job's summary page)."""

from __future__ import annotations

from collections.abc import Sequence

from liftoff.evaluation.runs.compare import Comparison
from liftoff.evaluation.runs.gates import Check
from liftoff.evaluation.runs.model import LoadedRun


def render_summary(
    loaded: LoadedRun, checks: Sequence[Check] = (), comparison: Comparison | None = None
) -> str:
    run, spec = loaded.run, loaded.run.spec
    passed = run.status == "completed" and all(check.passed for check in checks)
    lines = [
        f"### liftoff eval: {'✅ passed' if passed else '❌ failed'}",
        "",
        f"Run `{run.id}`: `{_cell(spec.model)}` at `{_cell(spec.target)}`, "
        f"{run.progress.done}/{run.progress.total} examples"
        + (f" of `{_cell(spec.dataset)}`" if spec.dataset else "")
        + ".",
        "",
    ]
    if run.status != "completed":
        lines += [f"**Run {run.status}:** {_cell(run.error or '')}", ""]
    gates = {check.metric: check for check in checks if check.kind == "gate"}
    if run.corpus:
        lines += ["| metric | score | 95% CI | gate |", "|---|---:|---:|---|"]
        for name, score in run.corpus.items():
            ci = "" if score.ci_low is None else f"[{score.ci_low:.4f}, {score.ci_high:.4f}]"
            gate = gates.get(name)
            verdict = "" if gate is None else f"{'✅' if gate.passed else '❌'} `{gate.name}`"
            lines.append(f"| {name} | {score.score:.4f} | {ci} | {verdict} |")
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
        for name, d in comparison.deltas.items():
            check = regressions.get(name)
            verdict = "" if check is None else f"{'✅' if check.passed else '❌'} `{check.name}`"
            lines.append(
                f"| {name} | {d.baseline:.4f} | {d.candidate:.4f} | {d.delta:+.4f} | "
                f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}] | {verdict} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")
