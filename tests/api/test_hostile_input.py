"""Schemathesis against the gateway's own OpenAPI document: thousands of generated requests,
valid and not, with authentication on. No 5xx, every answer as the schema documents it,
every request the schema allows accepted (the document states every constraint the gateway
enforces, but those tying one field of a chat to another: ``schemathesis.toml`` says which),
and every method a route does not take answered 405 with ``Allow``.

Not checked: that every request the schema forbids is refused (``negative_data_rejection``):
pydantic's lax mode reads ``0`` as ``false`` and ``"2"`` as ``2``, as OpenAI-compatible
servers built on it do, and that is not a fault."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.ollama_server import FakeOllama
from tests.servers import ServerProcess

KEY = "sk-fuzz-key"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
    ]
)


@pytest.fixture(scope="module")
def gateway(shared_fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_API_KEYS": KEY, "LIFTOFF_LOG_LEVEL": "WARNING"}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


def run_schemathesis(
    schema_url: str,
    report: Path,
    *,
    headers: list[str],
    max_examples: int = 150,
    extra: tuple[str, ...] = (),
    config: Path | None = None,
) -> dict[str, object]:
    """Run schemathesis with ``CHECKS``; ``config``: a ``schemathesis.toml`` for the run."""
    configured = ("--config-file", str(config)) if config else ()
    command = [
        sys.executable, "-m", "schemathesis.cli", *configured, "run", schema_url, *extra,
        "--checks", CHECKS, "--max-examples", str(max_examples), "--seed", "20261122",
        # One worker: with several threads, CPython 3.11's ast.parse (hypothesis uses it)
        # now and then fails with "AST constructor recursion depth mismatch".
        "--workers", "1", "--suppress-health-check", "all", "--generation-database", "none",
        "--no-color", "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    for header in headers:
        command += ["-H", header]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert report.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    summary: dict[str, object] = json.loads(report.read_text())
    assert result.returncode == 0, result.stdout[-6000:]
    return summary


def test_two_thousand_generated_requests_find_no_server_error_or_schema_violation(
    gateway: ServerProcess, tmp_path: Path
) -> None:
    summary = run_schemathesis(
        f"{gateway.url}/openapi.json",
        tmp_path / "report.json",
        headers=[f"Authorization: Bearer {KEY}"],
        config=Path(__file__).with_name("schemathesis.toml"),
    )
    cases = summary["test_cases"]
    assert isinstance(cases, dict)
    assert cases["generated"] >= 2000
    assert cases["with_failures"] == 0 and cases["errored"] == 0
    assert summary["failures"] == [] and summary["errors"] == []
    operations = summary["operations"]
    assert isinstance(operations, dict) and operations["tested"] >= 12
    assert gateway.process is not None and gateway.process.poll() is None  # still up
