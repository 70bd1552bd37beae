"""Gated runs for CI: the Markdown step summary and JUnit XML name retrieval gates as written."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from liftoff.evaluation.reports.junit import render_junit
from liftoff.evaluation.reports.markdown import render_summary
from liftoff.evaluation.runs.gates import check_gates, parse_gate
from liftoff.evaluation.runs.store import RunStore
from tests.evaluation.runs.stored import completed_retrieval_run


async def test_retrieval_gates_appear_in_the_summary_and_as_junit_test_cases(
    store: RunStore,
) -> None:
    run = await completed_retrieval_run(store, [1, 2, None, 1, "none"])
    gates = [parse_gate("hit_rate@1>=0.5"), parse_gate("MRR@3>=0.9"), parse_gate("abstention>=1")]
    checks = check_gates(run.scores, gates)
    assert [check.passed for check in checks] == [True, False, True]
    summary = render_summary(run, checks)
    assert "| hit_rate@1 | 0.5000 | [" in summary and "| ✅ `hit_rate@1>=0.5` |" in summary
    assert "| mrr@3 | 0.6250 | [" in summary and "| ❌ `mrr@3>=0.9` |" in summary
    assert summary.startswith("### liftoff eval: ❌ failed")
    suite = ET.fromstring(render_junit(run, checks)).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"run completed", "hit_rate@1>=0.5", "mrr@3>=0.9", "abstention>=1"}
    failure = cases["mrr@3>=0.9"].find("failure")
    assert failure is not None and failure.get("message") == "mrr@3 = 0.6250 fails mrr@3>=0.9"
    assert "hit_rate@1 = 0.5000 (k:1|match:id,words|agg:mean|" in (suite.findtext("system-out")
                                                                   or "")  # fmt: skip
