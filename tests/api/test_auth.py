"""API keys: who gets in, who does not, and what a refused client learns (nothing useful)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from pydantic import ValidationError

from liftoff.api.config import Settings
from liftoff.server.auth import APIKeys, key_id
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.servers import ServerProcess, outward_address

KEY = "sk-liftoff-test-0123456789abcdef"
OTHER_KEY = "sk-liftoff-second-key"


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "api-keys"
    path.write_text(f"# team B\n{OTHER_KEY}\n")
    return path


@pytest.fixture(scope="module")
def gateway(shared_fake_ollama: FakeOllama, keys_file: Path) -> Iterator[ServerProcess]:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_API_KEYS": KEY, "LIFTOFF_API_KEYS_FILE": str(keys_file)}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


CHAT = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "a b c"}]}


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {KEY}"},
    {"authorization": f"bearer {KEY}"},
    {"AUTHORIZATION": f"BEARER   {KEY}"},
    {"x-api-key": KEY},
    {"X-API-Key": OTHER_KEY},
    {"Authorization": f"Bearer {OTHER_KEY}"},
])  # fmt: skip
def test_valid_keys_in_either_header_are_accepted(
    gateway: ServerProcess, headers: dict[str, str]
) -> None:
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("case", "headers", "message"), [
    ("missing", {}, "missing API key"),
    ("bearer without token", {"Authorization": "Bearer"}, "missing API key"),
    ("empty x-api-key", {"x-api-key": ""}, "missing API key"),
    ("wrong", {"Authorization": "Bearer sk-wrong"}, "invalid API key"),
    ("prefix of a key", {"Authorization": f"Bearer {KEY[:-1]}"}, "invalid API key"),
    ("key plus suffix", {"Authorization": f"Bearer {KEY}x"}, "invalid API key"),
    ("very long", {"Authorization": "Bearer " + "k" * 10_000}, "invalid API key"),
    ("basic scheme", {"Authorization": f"Basic {KEY}"}, "missing API key"),
    ("key without scheme", {"Authorization": KEY}, "missing API key"),
])  # fmt: skip
def test_bad_or_missing_keys_get_401_without_hints(
    gateway: ServerProcess, case: str, headers: dict[str, str], message: str
) -> None:
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="liftoff"'
    error = response.json()["error"]
    assert error["message"].startswith(message)
    assert error["type"] == "authentication_error"
    assert KEY not in response.text and OTHER_KEY not in response.text
    assert "sk-liftoff" not in response.text


@pytest.mark.parametrize("query", [f"api_key={KEY}", f"key={KEY}", f"x-api-key={KEY}"])
def test_keys_in_the_query_string_are_ignored(gateway: ServerProcess, query: str) -> None:
    response = httpx.post(f"{gateway.url}/v1/chat/completions?{query}", json=CHAT)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path", ["/api/chat", "/api/tags", "/v1/models", "/predict", "/metrics", "/docs",
             "/openapi.json", "/api/pull", "/anything"],
)  # fmt: skip
def test_every_route_but_health_needs_a_key(gateway: ServerProcess, path: str) -> None:
    method = "GET" if path in ("/api/tags", "/v1/models", "/metrics", "/docs", "/openapi.json",
                               "/anything") else "POST"  # fmt: skip
    response = httpx.request(method, gateway.url + path, json={})
    assert response.status_code == 401
    shape = response.json()["error"]
    assert isinstance(shape, dict) if path.startswith("/v1/") else isinstance(shape, str)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/health"])
def test_health_routes_stay_open(gateway: ServerProcess, path: str) -> None:
    assert httpx.get(gateway.url + path).status_code == 200


def test_official_clients_send_their_key(gateway: ServerProcess) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0) as client:
        assert client.models.list().data
    with (
        openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-nope", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.models.list()


def test_keys_never_reach_the_log(gateway: ServerProcess) -> None:
    httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": "Bearer sk-attempt-123"})
    log = gateway.output()
    assert key_id(KEY) in log  # the access log names the key by its id...
    assert KEY not in log and "sk-attempt-123" not in log  # ...never by itself


def test_metrics_can_be_opened_for_scrapers(fake_ollama: FakeOllama) -> None:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake_ollama.url, "LIFTOFF_API_KEYS": KEY,
           "LIFTOFF_METRICS_PUBLIC": "true"}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 200
        assert httpx.get(f"{server.url}/v1/models").status_code == 401


def test_binding_beyond_loopback_without_keys_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIFTOFF_HOST", "0.0.0.0")
    monkeypatch.delenv("LIFTOFF_API_KEYS", raising=False)
    with pytest.raises(ValidationError, match="needs API keys"):
        Settings()
    monkeypatch.setenv("LIFTOFF_AUTH", "off")
    assert Settings().auth_required is False


def test_loopback_without_keys_is_open_but_configured_keys_are_enforced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIFTOFF_HOST", raising=False)
    assert Settings().auth_required is False
    monkeypatch.setenv("LIFTOFF_API_KEYS", "k1")
    assert Settings().auth_required is True


def test_key_comparison_checks_every_key() -> None:
    keys = APIKeys(["alpha", "beta", "gamma"])
    assert keys.identify("gamma") == key_id("gamma")
    assert keys.identify("delta") is None
    assert keys.identify("") is None
    with pytest.raises(ValueError, match="no API keys"):
        APIKeys(["", ""])


# Without keys on loopback: this machine only (the rule every service shares).


@pytest.fixture(scope="module")
def keyless(shared_fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    """Settings say loopback and no keys; uvicorn was told --host 0.0.0.0 all the same."""
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_CORS_ORIGINS": "https://app.example"}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env, host="0.0.0.0") as server:
        yield server


def test_without_keys_other_machines_are_refused(keyless: ServerProcess) -> None:
    outside = httpx.get(f"http://{outward_address()}:{keyless.port}/v1/models")
    assert outside.status_code == 403
    assert "answers only this machine" in outside.json()["error"]["message"]
    assert httpx.get(f"{keyless.url}/v1/models").status_code == 200


@pytest.mark.parametrize("path", ["/v1/models", "/api/tags", "/healthz"])
def test_without_keys_a_foreign_host_name_is_refused(keyless: ServerProcess, path: str) -> None:
    # DNS rebinding: evil.example now resolves to 127.0.0.1, and the browser says so.
    response = httpx.get(f"{keyless.url}{path}", headers={"Host": "evil.example:8000"})
    assert response.status_code == 403
    assert "loopback name" in response.text
    assert httpx.get(f"{keyless.url}{path}", headers={"Host": "localhost"}).status_code == 200


def test_without_keys_pages_elsewhere_are_refused_but_cors_origins_pass(
    keyless: ServerProcess,
) -> None:
    body = {"model": DEFAULT_MODEL, "prompt": "a b", "stream": False}
    foreign = httpx.post(f"{keyless.url}/api/generate", json=body,
                         headers={"Origin": "https://evil.example"})  # fmt: skip
    assert foreign.status_code == 403
    assert foreign.json()["error"].startswith("this service runs without authentication")
    listed = httpx.post(f"{keyless.url}/api/generate", json=body,
                        headers={"Origin": "https://app.example"})  # fmt: skip
    assert listed.status_code == 200
    local = httpx.post(f"{keyless.url}/api/generate", json=body,
                       headers={"Origin": "http://localhost:3000"})  # fmt: skip
    assert local.status_code == 200
