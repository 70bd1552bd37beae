"""Schemathesis against the evaluation service's OpenAPI document, as for the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.test_hostile_input import run_schemathesis
from tests.servers import ServerProcess

KEY = "sk-eval-fuzz"


@pytest.mark.timeout(900)  # 3,700 cases; a few minutes on a busy 2-core machine
def test_two_thousand_generated_requests_find_no_server_error_or_schema_violation(
    tmp_path: Path,
) -> None:
    # Runs may only generate against the configured target (nothing listens there), so
    # fuzzed target URLs are refused before any traffic leaves the service.
    env = {"LIFTOFF_EVAL_STORE": str(tmp_path / "runs.sqlite3"), "LIFTOFF_EVAL_API_KEYS": KEY,
           "LIFTOFF_EVAL_TARGET": "http://127.0.0.1:9/v1",
           "LIFTOFF_EVAL_LOG_LEVEL": "WARNING"}  # fmt: skip
    with ServerProcess("liftoff.evaluation.main:app", env) as service:
        summary = run_schemathesis(
            f"{service.url}/openapi.json",
            tmp_path / "report.json",
            headers=[f"Authorization: Bearer {KEY}"],
            max_examples=250,
            config=Path(__file__).with_name("schemathesis.toml"),
        )
        assert service.process is not None and service.process.poll() is None
    cases = summary["test_cases"]
    assert isinstance(cases, dict)
    assert cases["generated"] >= 2000
    assert cases["with_failures"] == 0 and cases["errored"] == 0
    assert summary["failures"] == [] and summary["errors"] == []
