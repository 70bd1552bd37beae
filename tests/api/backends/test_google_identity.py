"""The gateway calls a private Ollama on Cloud Run with a self-refreshing identity token."""

from __future__ import annotations

import time

import pytest

from liftoff.api.backends.base import GenerationRequest, SamplingOptions, collect
from liftoff.api.backends.google_identity import GoogleIdentityToken
from liftoff.api.backends.ollama import OllamaBackend
from liftoff.api.errors import BackendUnavailable
from tests.fakes.metadata_server import FakeMetadata
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama


async def test_every_ollama_request_carries_the_identity_token(
    fake_ollama: FakeOllama, fake_metadata: FakeMetadata
) -> None:
    auth = GoogleIdentityToken("https://ollama-abc-uc.a.run.app")
    backend = OllamaBackend(fake_ollama.url, DEFAULT_MODEL, auth=auth)
    try:
        await collect(
            backend.generate(
                GenerationRequest(model=DEFAULT_MODEL, prompt="a b", options=SamplingOptions())
            )
        )
        await backend.list_models()
    finally:
        await backend.close()
    assert len(fake_metadata.issued) == 1  # fetched once, reused
    sent = [r.authorization for r in fake_ollama.requests]
    assert sent and set(sent) == {f"Bearer {fake_metadata.issued[0]}"}


async def test_token_is_refreshed_before_it_expires(fake_metadata: FakeMetadata) -> None:
    now = [1_000.0]
    fake_metadata.lifetime = 3600
    auth = GoogleIdentityToken("https://ollama.example", clock=lambda: now[0])
    first = await auth.token()
    # The fake stamps real time: move our clock to just before the refresh margin of the
    # issued token's expiry, then just past it.
    now[0] = time.time() + 3600 - 301
    assert await auth.token() == first
    now[0] = time.time() + 3600 - 299
    second = await auth.token()
    assert second != first
    assert len(fake_metadata.issued) == 2


async def test_metadata_server_unreachable_is_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    with pytest.raises(BackendUnavailable, match="cannot get an identity token"):
        await GoogleIdentityToken("https://ollama.example").token()
