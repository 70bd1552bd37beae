"""Gate and regression checks as JUnit XML, the format CI systems show as test results.

One ``testsuite`` per run; one ``testcase`` per check, plus one saying whether the run itself
completed (a run whose examples could not all be generated fails it with an ``error``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from liftoff.evaluation.runs.gates import Check
from liftoff.evaluation.runs.model import Run


def render_junit(run: Run, checks: Sequence[Check], *, seconds: float = 0.0) -> str:
    failures = sum(not check.passed for check in checks)
    errors = int(run.status != "completed")
    tests = len(checks) + 1
    counts = {"tests": str(tests), "failures": str(failures), "errors": str(errors)}
    suites = ET.Element("testsuites", {"name": "liftoff eval", "time": f"{seconds:.3f}", **counts})
    suite_attributes = {
        "name": f"liftoff eval run {run.id}",
        "timestamp": run.created_at.removesuffix("Z"),
        "time": f"{seconds:.3f}",
        "skipped": "0",
        **counts,
    }
    suite = ET.SubElement(suites, "testsuite", suite_attributes)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", run.id),
        ("target", run.target.base_url),
        ("model", run.target.model),
        ("dataset", run.dataset or ""),
        ("examples", str(run.progress.total)),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    completed = ET.SubElement(suite, "testcase", classname="liftoff.eval.run", name="run completed")
    if errors:
        ET.SubElement(
            completed, "error", message=run.error or f"run is {run.status}", type=run.status
        ).text = run.error or ""
    for check in checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"liftoff.eval.{check.kind}", name=check.name, time="0"
        )
        if not check.passed:
            ET.SubElement(
                case, "failure", message=check.message, type=check.kind
            ).text = check.message
    signatures = run.signatures or {}
    scores = "\n".join(
        f"{name} = {value:.4f} ({signatures.get(name, '')})" for name, value in run.scores.items()
    )
    ET.SubElement(suite, "system-out").text = scores
    ET.indent(suites)
    body: str = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
