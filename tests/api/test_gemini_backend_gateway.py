"""The whole gateway with ``LIFTOFF_BACKEND=gemini``, in front of the fake Gemini API and
Vertex AI: official clients in, google-genai out, configured only by environment variables
as a deployment would be (Vertex AI through the metadata server's credentials)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import openai
import pydantic
import pytest

from liftoff.api.config import Settings
from tests.fakes.gemini_server import (
    API_KEY,
    CHAT_MODEL,
    EMBEDDING_MODEL,
    UNSAFE_MARKER,
    FakeGemini,
    GoogleError,
    retry_info,
)
from tests.fakes.metadata_server import FakeMetadata
from tests.servers import ServerProcess, serve_in_thread


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    """One fake for the module's gateway; tests that change its behaviour restore it."""
    fake = FakeGemini()
    with serve_in_thread(fake.app(), ready_path="/") as url:
        fake.url = url
        fake.oauth.token_uri = f"{url}/token"
        yield fake


def gemini_env(fake: FakeGemini, **extra: str) -> dict[str, str]:
    return {
        "LIFTOFF_BACKEND": "gemini",
        "LIFTOFF_MODEL": CHAT_MODEL,
        "LIFTOFF_EMBEDDING_MODEL": EMBEDDING_MODEL,
        "GEMINI_API_KEY": API_KEY,
        "GOOGLE_GEMINI_BASE_URL": fake.url,
        **extra,
    }


@pytest.fixture(scope="module")
def gateway(fake: FakeGemini) -> Iterator[ServerProcess]:
    with ServerProcess("liftoff.api.main:app", gemini_env(fake)) as server:
        yield server


@pytest.fixture
def client(gateway: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def test_openai_sdk_streams_a_gemini_chat(client: openai.OpenAI, fake: FakeGemini) -> None:
    stream = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        temperature=0, max_tokens=5, stream=True, stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    body = fake.bodies("streamGenerateContent")[-1]
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]


def test_models_and_embeddings(client: openai.OpenAI) -> None:
    assert {model.id for model in client.models.list()} == {CHAT_MODEL, EMBEDDING_MODEL}
    result = client.embeddings.create(model=EMBEDDING_MODEL, input=["one", "two", "one"])
    vectors = [row.embedding for row in result.data]
    assert len(vectors) == 3 and vectors[0] == vectors[2] != vectors[1]


def test_safety_stop_is_content_filter_on_every_surface(
    client: openai.OpenAI, gateway: ServerProcess
) -> None:
    question = f"tell me {UNSAFE_MARKER}"
    answer = client.chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": question}]
    )
    assert answer.choices[0].finish_reason == "content_filter"
    with ollama.Client(host=gateway.url) as local:
        assert local.generate(model=CHAT_MODEL, prompt=question).done_reason == "content_filter"
    prediction = httpx.post(
        f"{gateway.url}/predict", json={"instances": [{"prompt": question}]}, timeout=30
    ).json()["predictions"][0]
    assert prediction["finish_reason"] == "content_filter"


def test_gemini_quota_is_a_429_with_retry_after(client: openai.OpenAI, fake: FakeGemini) -> None:
    fake.fail_next(GoogleError(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", retry_info(21)))
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": "Hi"}]
        )
    assert limited.value.response.headers["retry-after"] == "21"


def test_a_field_gemini_cannot_take_is_a_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": "Hi"}],
            stop=["a", "b", "c", "d", "e", "f"],
        )  # fmt: skip
    assert refused.value.body["param"] == "stop"  # type: ignore[index]
    assert "at most 5 stop sequences" in refused.value.message


def test_a_wrong_api_key_is_named_never_shown(fake: FakeGemini) -> None:
    secret = "AIzaSy-this-key-was-revoked-SECRET"
    env = gemini_env(fake, GEMINI_API_KEY=secret)
    with ServerProcess("liftoff.api.main:app", env, health="/healthz") as server:
        ready = httpx.get(f"{server.url}/readyz")
        chat = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Hi"}]},
        )
        log = server.output()

    assert ready.status_code == 503 and chat.status_code == 503
    assert "GEMINI_API_KEY" in chat.json()["error"]["message"]
    assert "API_KEY_INVALID" in chat.json()["error"]["message"]
    for seen in (ready.text, chat.text, log):
        assert secret not in seen


def test_vertex_ai_with_the_metadata_servers_credentials(fake: FakeGemini, tmp_path: Path) -> None:
    """On Cloud Run or GKE: no key file, the project and an access token from the metadata
    server (google-auth finds it through GCE_METADATA_IP / GCE_METADATA_HOST)."""
    metadata = FakeMetadata(access_tokens=fake.access_tokens, project_id="metadata-project")
    fake.projects.add("metadata-project")
    with serve_in_thread(metadata.app(), ready_path="/") as metadata_url:
        host = metadata_url.removeprefix("http://")
        env = {
            "LIFTOFF_BACKEND": "gemini", "LIFTOFF_MODEL": CHAT_MODEL,
            "GOOGLE_GENAI_USE_VERTEXAI": "true", "GOOGLE_CLOUD_LOCATION": "us-central1",
            "GOOGLE_VERTEX_BASE_URL": fake.url,
            "GCE_METADATA_HOST": host, "GCE_METADATA_IP": host,
            "CLOUDSDK_CONFIG": str(tmp_path),  # no gcloud credentials to find first
        }  # fmt: skip
        with ServerProcess("liftoff.api.main:app", env) as server:
            answer = httpx.post(
                f"{server.url}/v1/completions",
                json={"model": CHAT_MODEL, "prompt": "Hello", "max_tokens": 3},
                timeout=30,
            )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["finish_reason"] == "length"
    called = [r for r in fake.requests if r.path.endswith(":streamGenerateContent")][-1]
    assert "/projects/metadata-project/locations/us-central1/" in called.path
    assert called.headers["authorization"].removeprefix("Bearer ") in metadata.access_tokens


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"GEMINI_API_KEY": "k"}, "LIFTOFF_MODEL"),
        ({"LIFTOFF_MODEL": CHAT_MODEL}, "GEMINI_API_KEY"),
    ],
)
def test_settings_say_what_the_gemini_backend_is_missing(
    env: dict[str, str], complaint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"LIFTOFF_BACKEND": "gemini", **env}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(pydantic.ValidationError, match=complaint):
        Settings()


def test_vertex_mode_needs_no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"LIFTOFF_BACKEND": "gemini", "LIFTOFF_MODEL": CHAT_MODEL,
                        "GOOGLE_GENAI_USE_VERTEXAI": "true"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.gemini_vertexai and settings.gemini_api_key is None
    assert settings.google_cloud_location == "global"
