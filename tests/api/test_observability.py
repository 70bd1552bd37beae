"""Metrics and logs: what an operator sees, and what must never appear."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import ollama
import pytest

from liftoff.server.auth import key_id
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.servers import ServerProcess

KEY = "sk-observability-key"
SECRET_PROMPT = "my password is hunter2"


@pytest.fixture
def gateway(fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake_ollama.url, "LIFTOFF_API_KEYS": KEY}
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if line.split("{")[0].split(" ")[0] == name and all(
            found.get(k) == v for k, v in labels.items()
        ):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in metrics")


def test_metrics_count_requests_tokens_and_latency_by_key_id(gateway: ServerProcess) -> None:
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "w x y z"}],
            "max_tokens": 3}  # fmt: skip
    for _ in range(2):
        httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=_auth())
    httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers={"x-api-key": "bad"})
    text = httpx.get(f"{gateway.url}/metrics", headers=_auth()).text
    me = key_id(KEY)
    route = "/v1/chat/completions"
    assert _metric(text, "liftoff_requests_total", route=route, status="200", key=me) == 2
    assert _metric(text, "liftoff_requests_total", route=route, status="401") == 1
    assert _metric(text, "liftoff_completion_tokens_total", key=me) == 6
    assert _metric(text, "liftoff_prompt_tokens_total", key=me) > 0
    assert _metric(text, "liftoff_time_to_first_token_seconds_count", backend="ollama") == 2
    assert _metric(text, "liftoff_generation_tokens_per_second_count", backend="ollama") == 2
    assert _metric(text, "liftoff_request_duration_seconds_count", route=route) == 3
    assert _metric(text, "liftoff_requests_in_flight") == 0
    assert KEY not in text


def test_backend_errors_are_counted_by_kind(
    gateway: ServerProcess, fake_ollama: FakeOllama
) -> None:
    fake_ollama.fail_after_tokens = 1
    with ollama.Client(host=gateway.url, headers=_auth()) as client:
        with pytest.raises(ollama.ResponseError):
            list(client.chat(model=DEFAULT_MODEL, stream=True,
                             messages=[{"role": "user", "content": "a b c"}]))  # fmt: skip
        with pytest.raises(ollama.ResponseError):
            client.chat(model="missing:1b", messages=[{"role": "user", "content": "a"}])
    text = httpx.get(f"{gateway.url}/metrics", headers=_auth()).text
    assert _metric(text, "liftoff_backend_errors_total", kind="backend_error") == 1


def test_unknown_paths_share_one_label(gateway: ServerProcess) -> None:
    for path in ("/a", "/b/c", "/../../etc/passwd"):
        httpx.get(gateway.url + path, headers=_auth())
    text = httpx.get(f"{gateway.url}/metrics", headers=_auth()).text
    assert _metric(text, "liftoff_requests_total", route="unmatched", status="404") == 3
    assert "/b/c" not in text


def _access_lines(log: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "api.access"]


def test_access_log_is_json_with_request_id_route_status_latency_and_tokens(
    gateway: ServerProcess,
) -> None:
    body = {"model": DEFAULT_MODEL, "stream": True, "options": {"num_predict": 4},
            "messages": [{"role": "user", "content": SECRET_PROMPT}]}  # fmt: skip
    response = httpx.post(
        f"{gateway.url}/api/chat", json=body, headers={**_auth(), "X-Request-ID": "trace-42"}
    )
    assert response.headers["x-request-id"] == "trace-42"
    generated = httpx.get(f"{gateway.url}/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    hostile = httpx.get(f"{gateway.url}/healthz", headers={"X-Request-ID": "a\tb" + "c" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])

    log = gateway.output()
    [entry] = [e for e in _access_lines(log) if e["request_id"] == "trace-42"]
    assert entry["route"] == "/api/chat" and entry["method"] == "POST"
    assert entry["status"] == 200
    assert entry["key_id"] == key_id(KEY)
    assert entry["completion_tokens"] == 4
    assert isinstance(entry["latency_ms"], float) and entry["latency_ms"] > 0
    assert SECRET_PROMPT not in log and "hunter2" not in log
