"""Scoring is bounded: resamples are capped, work whose client left is stopped, and each
request has a time limit. The probe's input: 10,000 pairs with ``resamples: 100000`` held the
only scoring worker 55 s after the client left, and the next one-pair request timed out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.evaluation.service.conftest import metric_value, service_env
from tests.servers import ServerProcess

APP = "liftoff.evaluation.main:app"
ONE_PAIR = {"predictions": ["the cat sat"], "references": [["the cat sat"]], "metrics": ["bleu"]}


def _heavy(resamples: int) -> dict[str, Any]:
    """10,000 pairs, every metric: tens of seconds of one worker's time, or minutes."""
    predictions = [f"the quick brown fox {i} jumps over the lazy dog near river {i % 97}"
                   for i in range(10_000)]  # fmt: skip
    references = [[f"a quick brown fox {i} leaped over a lazy dog by the river {i % 89}"]
                  for i in range(10_000)]  # fmt: skip
    return {"predictions": predictions, "references": references,
            "options": {"bootstrap": {"resamples": resamples}}}  # fmt: skip


@pytest.fixture
def service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    extra: dict[str, str] = getattr(request, "param", {})
    with ServerProcess(APP, service_env(tmp_path / "runs.sqlite3", **extra)) as server:
        yield server


def test_resamples_beyond_the_cap_are_refused_naming_the_field(service: ServerProcess) -> None:
    response = httpx.post(f"{service.url}/v1/scores", json=_heavy(100_000), timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "options.bootstrap.resamples"
    assert "less than or equal to 10000" in error["message"]
    schema = httpx.get(f"{service.url}/openapi.json").json()["components"]["schemas"]
    assert schema["RequestBootstrap"]["properties"]["resamples"]["maximum"] == 10_000


def _one_pair_seconds(service: ServerProcess) -> float:
    started = time.monotonic()
    response = httpx.post(f"{service.url}/v1/scores", json=ONE_PAIR, timeout=120)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_scoring_stops_when_its_client_leaves(service: ServerProcess) -> None:
    with pytest.raises(httpx.ReadTimeout):  # the client gives up after 3 s and leaves
        httpx.post(f"{service.url}/v1/scores", json=_heavy(10_000), timeout=3)
    # The only worker is free again at once (a new one loads WordNet: a few seconds),
    # instead of finishing minutes of work for nobody.
    assert _one_pair_seconds(service) < 20
    text = httpx.get(f"{service.url}/metrics").text
    left = metric_value(text, "liftoff_eval_requests_total", route="/v1/scores", status="499")
    assert left == 1


@pytest.mark.parametrize("service", [{"LIFTOFF_EVAL_SCORE_TIMEOUT": "3"}], indirect=True)
def test_a_request_that_takes_too_long_is_stopped_with_504(service: ServerProcess) -> None:
    started = time.monotonic()
    response = httpx.post(f"{service.url}/v1/scores", json=_heavy(10_000), timeout=120)
    assert response.status_code == 504, response.text
    assert time.monotonic() - started < 15
    error = response.json()["error"]
    assert error["type"] == "scoring_timeout" and "within 3 s" in error["message"]
    assert _one_pair_seconds(service) < 20
