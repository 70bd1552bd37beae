"""A run's target is chosen by its caller: the service must not lend it its key, its
network position or its error messages. The probe's inputs: ``"target": {"base_url":
"http://ATTACKER/v1"}`` received the service's own gateway key, and so did a resumed run;
loopback, link-local metadata addresses and credentials in the URL were accepted, redirects
were followed with the header kept, error messages echoed the fetched body, and a target
answering an HTML page with 200 made the probe answer 500."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liftoff.evaluation.runs.dataset import parse_jsonl
from liftoff.evaluation.runs.model import RunSpec, TargetRef
from liftoff.evaluation.runs.store.sqlite import SQLiteRunStore
from liftoff.server.auth import key_id
from tests.evaluation.service.conftest import metric_value, service_env
from tests.evaluation.service.hostile import Answer, HostileServer
from tests.servers import ServerProcess

APP = "liftoff.evaluation.main:app"
SERVICE_KEY = "sk-service-target-91aa"
CALLER_KEY = "sk-caller-target-5b0e"
DATASET = '{"id": "1", "prompt": "2+2=", "references": ["4"]}\n'
MODELS = Answer(body=json.dumps({"object": "list", "data": [
    {"id": "m", "object": "model", "created": 0, "owned_by": "x"}]}).encode())  # fmt: skip


def _run(service: ServerProcess, **target: str) -> httpx.Response:
    return httpx.post(f"{service.url}/v1/runs", json={"dataset": DATASET, "target": target},
                      timeout=30)  # fmt: skip


@pytest.fixture
def attacker() -> Iterator[HostileServer]:
    """Whoever a caller (or a redirect) would like the service to call, with its key."""
    with HostileServer({"/v1/models": MODELS}).running() as server:
        yield server


def _service(tmp_path: Path, target: str, **extra: str) -> ServerProcess:
    env = service_env(tmp_path / "runs.sqlite3", target, OPENAI_API_KEY=SERVICE_KEY,
                      LIFTOFF_EVAL_RESUME_ON_START="true", **extra)  # fmt: skip
    return ServerProcess(APP, env)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{attacker}/v1", "http://localhost:{attacker}/v1",
    "http://169.254.169.254/latest", "http://[::ffff:127.0.0.1]:{attacker}/v1",
    "https://attacker.example/v1",
])  # fmt: skip
def test_a_url_the_operator_did_not_allow_is_refused_before_any_connection(
    tmp_path: Path, attacker: HostileServer, url: str
) -> None:
    with _service(tmp_path, "http://127.0.0.1:9/v1") as service:
        response = _run(service, base_url=url.format(attacker=attacker.port))
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "target.base_url"
        assert "not a target this service generates against" in error["message"]
        assert httpx.get(f"{service.url}/v1/runs").json()["data"] == []
    assert attacker.requests == []


def test_credentials_in_a_url_are_refused_and_never_repeated(tmp_path: Path) -> None:
    with _service(tmp_path, "http://127.0.0.1:9/v1") as service:
        response = _run(service, base_url="http://admin:hunter2-secret@127.0.0.1:9/v1")
    assert response.status_code == 400
    assert "must not carry credentials" in response.json()["error"]["message"]
    assert "hunter2-secret" not in response.text


@pytest.fixture(scope="module")
def keyed_gateway(gguf_path: Path) -> Iterator[ServerProcess]:
    """A real gateway accepting the service's key and the caller's."""
    env = {"LIFTOFF_MODEL": str(gguf_path), "LIFTOFF_API_KEYS": f"{SERVICE_KEY},{CALLER_KEY}"}
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


def _probes_with(gateway: ServerProcess, key: str) -> float:
    """``GET /v1/models`` requests the gateway answered for ``key``."""
    text = httpx.get(f"{gateway.url}/metrics", headers={"x-api-key": SERVICE_KEY}).text
    try:
        return metric_value(text, "liftoff_requests_total", route="/v1/models", key=key_id(key))
    except AssertionError:
        return 0.0


@pytest.mark.model
def test_the_services_key_goes_to_its_configured_target_alone(
    tmp_path: Path, keyed_gateway: ServerProcess
) -> None:
    # The same gateway under another name is another target: allowed, but not the key's.
    other = f"http://localhost:{keyed_gateway.port}/v1"
    with _service(tmp_path, f"{keyed_gateway.url}/v1", LIFTOFF_EVAL_TARGETS=other) as service:
        assert _run(service).status_code == 202  # the configured target, with the key
        service_probes = _probes_with(keyed_gateway, SERVICE_KEY)
        assert service_probes >= 1
        refused = _run(service, base_url=other)
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith(
            f"the target {other} refused the API key (401 to GET {other}/models)"
        )
        assert _run(service, base_url=other, api_key=CALLER_KEY).status_code == 202
    assert _probes_with(keyed_gateway, SERVICE_KEY) == service_probes
    assert _probes_with(keyed_gateway, CALLER_KEY) >= 1


def test_redirects_are_not_followed(tmp_path: Path, attacker: HostileServer) -> None:
    moved = Answer(307, b"", headers={"Location": f"{attacker.url}/v1/models"})
    with (
        HostileServer({"/v1/models": moved}).running() as target,
        _service(tmp_path, f"{target.url}/v1") as service,
    ):
        response = _run(service)
    assert target.requests[0].headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert response.status_code == 400
    assert "307 Temporary Redirect" in response.text and "not followed" in response.text
    assert attacker.requests == []


@pytest.mark.parametrize(("answer", "expected"), [
    (Answer(500, b'{"error": {"message": "db password is pg-internal-77"}}'),
     "the target answered 500 Internal Server Error to GET"),
    (Answer(403, b'{"error": {"message": "pg-internal-77 forbids"}}'),
     "refused the API key (403 to GET"),
    (Answer(200, b"<html>pg-internal-77</html>", "text/html"), "is not an OpenAI model list"),
    (Answer(200, b'{"data": "pg-internal-77"}'), "is not an OpenAI model list"),
    (Answer(200, b'{"data": [{"name": "pg-internal-77"}]}'), "is not an OpenAI model list"),
])  # fmt: skip
def test_what_a_target_answers_is_never_repeated_and_never_a_500(
    tmp_path: Path, answer: Answer, expected: str
) -> None:
    with (
        HostileServer({"/v1/models": answer}).running() as target,
        _service(tmp_path, f"{target.url}/v1") as service,
    ):
        response = _run(service)
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]["message"]
    assert "pg-internal-77" not in response.text


def test_generation_errors_name_the_status_only(tmp_path: Path) -> None:
    answers = {"/v1/models": MODELS,
               "/v1/completions": Answer(502, b"upstream pg-internal-77 says no")}  # fmt: skip
    with (
        HostileServer(answers).running() as target,
        _service(tmp_path, f"{target.url}/v1", LIFTOFF_EVAL_RETRIES="0") as service,
    ):
        run_id = _run(service).json()["id"]
        for _ in range(100):
            run = httpx.get(f"{service.url}/v1/runs/{run_id}").json()
            if run["status"] == "failed":
                break
            time.sleep(0.1)
        examples = httpx.get(f"{service.url}/v1/runs/{run_id}/examples").text
    assert run["status"] == "failed"
    assert "the target answered 502 Bad Gateway" in run["error"]
    assert "pg-internal-77" not in run["error"] + examples


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{attacker}/v1", "http://localhost:{attacker}/v1",
    "http://[::ffff:127.0.0.1]:{attacker}/v1", "http://169.254.169.254/v1",
    "http://10.0.0.1:{attacker}/v1", "http://[fe80::1]/v1",
])  # fmt: skip
def test_any_target_means_any_public_address_and_nothing_private(
    tmp_path: Path, attacker: HostileServer, url: str
) -> None:
    env = {"LIFTOFF_EVAL_ALLOW_ANY_TARGET": "true"}
    with _service(tmp_path, "http://127.0.0.1:9/v1", **env) as service:
        response = _run(service, base_url=url.format(attacker=attacker.port))
    assert response.status_code == 400, response.text
    assert "is not at a public address" in response.json()["error"]["message"]
    assert attacker.requests == []


def test_a_stored_run_whose_target_is_no_longer_allowed_is_not_resumed(
    tmp_path: Path, attacker: HostileServer
) -> None:
    # A run an earlier release accepted for any URL, interrupted while generating.
    store_path = tmp_path / "runs.sqlite3"

    async def interrupted_run() -> str:
        store = await SQLiteRunStore.open(store_path)
        spec = RunSpec(target=TargetRef(base_url=f"{attacker.url}/v1", model="m"))
        run = await store.create_run(spec, parse_jsonl(DATASET, max_examples=10),
                                     origin="service")  # fmt: skip
        await store.set_status(run.id, "generating")
        await store.close()
        return run.id

    run_id = asyncio.run(interrupted_run())
    with _service(tmp_path, "http://127.0.0.1:9/v1") as service:
        run = httpx.get(f"{service.url}/v1/runs/{run_id}").json()
        resumed = httpx.post(f"{service.url}/v1/runs/{run_id}/resume", json={})
    assert run["status"] == "failed"
    assert "not a target this service generates against" in run["error"]
    assert resumed.status_code == 400
    assert attacker.requests == []
