"""Who may use the evaluation service: the rule every service shares (keys whenever it binds
beyond loopback or keys are configured), loopback-only answers without keys, and no
cross-site requests. The probe's inputs: ``LIFTOFF_HOST=0.0.0.0`` made ``GET /v1/runs``
answer 200 without a key, and a browser could create runs with a ``text/plain`` POST."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liftoff.server.connections import UVICORN_OPTIONS
from tests.evaluation.service.conftest import service_env
from tests.servers import REPO, ServerProcess, free_port, outward_address

APP = "liftoff.evaluation.main:app"
KEY = "sk-eval-exposure-7c2e"
DATASET = '{"id": "1", "prompt": "2+2=", "references": ["4"]}\n'


def _start(env: dict[str, str], host: str = "127.0.0.1") -> subprocess.CompletedProcess[str]:
    """Start the service as a user would, expecting it to refuse; returns how it ended."""
    command = [sys.executable, "-m", "uvicorn", APP, "--host", host, "--port", str(free_port()),
               *UVICORN_OPTIONS]  # fmt: skip
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFTOFF_", "UVICORN_"))}
    return subprocess.run(command, cwd=REPO, env={**full_env, **env}, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


@pytest.mark.parametrize("variable", ["LIFTOFF_HOST", "UVICORN_HOST", "LIFTOFF_EVAL_HOST"])
def test_binding_beyond_loopback_without_keys_refuses_to_start(
    tmp_path: Path, variable: str
) -> None:
    # LIFTOFF_HOST is what `liftoff up` binds every service to; UVICORN_HOST the image's.
    ended = _start(service_env(tmp_path / "runs.sqlite3", **{variable: "0.0.0.0"}), "0.0.0.0")
    assert ended.returncode != 0
    assert "the evaluation service binds 0.0.0.0, beyond this machine" in ended.stderr
    assert "LIFTOFF_EVAL_API_KEYS" in ended.stderr and "LIFTOFF_EVAL_AUTH=off" in ended.stderr
    assert "Traceback" not in ended.stderr


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Bound to every address, with keys: how Compose and Kubernetes run it."""
    store = tmp_path_factory.mktemp("exposed") / "runs.sqlite3"
    env = service_env(store, LIFTOFF_HOST="0.0.0.0", LIFTOFF_EVAL_API_KEYS=KEY)
    with ServerProcess(APP, env, host="0.0.0.0") as server:
        yield server


def test_exposed_with_keys_every_route_but_health_needs_a_key(exposed: ServerProcess) -> None:
    outside = f"http://{outward_address()}:{exposed.port}"
    assert httpx.get(f"{outside}/v1/runs").status_code == 401
    assert httpx.get(f"{outside}/metrics").status_code == 401
    scores = {"predictions": ["a"], "references": ["a"]}
    assert httpx.post(f"{outside}/v1/scores", json=scores).status_code == 401
    assert httpx.get(f"{outside}/healthz").status_code == 200
    authorized = httpx.get(f"{outside}/v1/runs", headers={"Authorization": f"Bearer {KEY}"})
    assert authorized.status_code == 200 and authorized.json()["data"] == []
    # With keys, any Host may be used (a Service name, a load balancer's).
    named = httpx.get(f"{outside}/v1/runs", headers={"x-api-key": KEY, "Host": "evaluation"})
    assert named.status_code == 200


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Settings say loopback, no keys; uvicorn was told --host 0.0.0.0 all the same."""
    store = tmp_path_factory.mktemp("keyless") / "runs.sqlite3"
    with ServerProcess(APP, service_env(store), host="0.0.0.0") as server:
        yield server


def test_without_keys_only_this_machine_is_answered(keyless: ServerProcess) -> None:
    outside = httpx.get(f"http://{outward_address()}:{keyless.port}/v1/runs")
    assert outside.status_code == 403
    assert "answers only this machine" in outside.json()["error"]["message"]
    assert httpx.get(f"{keyless.url}/v1/runs").status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io",
                                  "192.0.2.2"])  # fmt: skip
def test_dns_rebinding_a_foreign_host_name_is_refused(keyless: ServerProcess, host: str) -> None:
    response = httpx.get(f"{keyless.url}/v1/runs", headers={"Host": host})
    assert response.status_code == 403
    assert "loopback name" in response.json()["error"]["message"]


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "127.0.0.1:{port}",
                                  "[::1]:{port}", "app.localhost"])  # fmt: skip
def test_loopback_host_names_are_answered(keyless: ServerProcess, host: str) -> None:
    headers = {"Host": host.format(port=keyless.port)}
    assert httpx.get(f"{keyless.url}/v1/runs", headers=headers).status_code == 200


@pytest.mark.parametrize("content_type", [
    "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", None,
])  # fmt: skip
def test_a_cross_site_simple_post_cannot_create_a_run(
    keyless: ServerProcess, content_type: str | None
) -> None:
    # What a page's <form> or fetch(..., {mode: "no-cors"}) sends without a preflight.
    headers = {"Content-Type": content_type} if content_type else {}
    body = f'{{"dataset": {DATASET!r}}}'.replace("'", '"')
    for path in ("/v1/runs", "/v1/scores", "/v1/runs/abc/resume"):
        response = httpx.post(f"{keyless.url}{path}", content=body, headers=headers)
        assert response.status_code == 415, (path, response.text)
        assert "Content-Type: application/json" in response.json()["error"]["message"]
    assert httpx.get(f"{keyless.url}/v1/runs").json()["data"] == []


def test_a_page_elsewhere_is_refused_even_with_json(keyless: ServerProcess) -> None:
    body = {"predictions": ["a"], "references": ["a"], "metrics": ["bleu"]}
    foreign = httpx.post(f"{keyless.url}/v1/scores", json=body,
                         headers={"Origin": "https://evil.example"})  # fmt: skip
    assert foreign.status_code == 403
    assert "Origin" in foreign.json()["error"]["message"]
    sandboxed = httpx.post(f"{keyless.url}/v1/scores", json=body, headers={"Origin": "null"})
    assert sandboxed.status_code == 403
    own = httpx.post(f"{keyless.url}/v1/scores", json=body,
                     headers={"Origin": f"http://127.0.0.1:{keyless.port}"})  # fmt: skip
    assert own.status_code != 403, own.text  # the service's own /docs page may call it
