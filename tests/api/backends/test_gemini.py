"""The Gemini backend, through the real google-genai client, against the fake Gemini API and
Vertex AI (``tests/fakes/gemini_server.py``): what it sends, how it ends, how it fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth.credentials
import pytest

from liftoff.api.backends.base import (
    ChatMessage,
    Finish,
    GenerationEvent,
    GenerationRequest,
    Image,
    SamplingOptions,
    TextDelta,
)
from liftoff.api.backends.gemini import GeminiBackend
from liftoff.api.backends.gemini_request import SAMPLING_FIELDS
from liftoff.api.errors import (
    BackendError,
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    RateLimited,
)
from tests.fakes.gemini_server import (
    API_KEY,
    BLOCKED_MARKER,
    CHAT_MODEL,
    EMBEDDING_MODEL,
    PREDICT_EMBEDDING_MODEL,
    UNSAFE_MARKER,
    FakeGemini,
    GoogleError,
    error_info,
    retry_info,
)
from tests.fakes.google_oauth import ServiceAccount, new_key

MakeBackend = Callable[..., GeminiBackend]


@pytest.fixture
async def make_backend(fake_gemini: FakeGemini) -> AsyncIterator[MakeBackend]:
    made: list[GeminiBackend] = []

    def make(**kwargs: Any) -> GeminiBackend:
        settings: dict[str, Any] = {"embedding_model": EMBEDDING_MODEL, "base_url": fake_gemini.url}
        if not kwargs.get("vertexai"):
            settings["api_key"] = API_KEY
        backend = GeminiBackend(kwargs.pop("model", CHAT_MODEL), **{**settings, **kwargs})
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


@pytest.fixture
def service_account(
    fake_gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ServiceAccount:
    """A service account the fake trusts, as GOOGLE_APPLICATION_CREDENTIALS."""
    account = fake_gemini.oauth.trust(ServiceAccount())
    key_file = account.key_file(tmp_path / "key.json", fake_gemini.oauth.token_uri)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    return account


def prompt(text: str = "1, 2, 3, 4,", **options: Any) -> GenerationRequest:
    return GenerationRequest(CHAT_MODEL, prompt=text, options=SamplingOptions(**options))


async def collect(backend: GeminiBackend, request: GenerationRequest) -> list[GenerationEvent]:
    return [event async for event in backend.generate(request)]


def text_of(events: list[GenerationEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


# What is sent ---------------------------------------------------------------------------


async def test_sampling_options_become_gemini_generation_config(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    options = {"temperature": 0.7, "top_p": 0.9, "top_k": 20, "max_tokens": 30,
               "stop": ("END", "###"), "seed": 42}  # fmt: skip
    await collect(make_backend(), prompt(**options))

    [body] = fake_gemini.bodies("streamGenerateContent")
    assert body["generationConfig"] == {
        "temperature": 0.7, "topP": 0.9, "topK": 20, "maxOutputTokens": 30,
        "stopSequences": ["END", "###"], "seed": 42, "candidateCount": 1,
    }  # fmt: skip
    assert body["contents"] == [{"role": "user", "parts": [{"text": "1, 2, 3, 4,"}]}]
    assert "systemInstruction" not in body


async def test_unset_options_are_left_to_the_model(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    await collect(make_backend(), prompt())
    [body] = fake_gemini.bodies("streamGenerateContent")
    assert body["generationConfig"] == {"candidateCount": 1}


async def test_chat_turns_become_contents_and_system_instruction(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    messages = (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello!"),
        ChatMessage("user", "One question."),
        ChatMessage("user", "And another."),
        ChatMessage("system", "Answer in French."),
    )
    await collect(make_backend(), GenerationRequest(CHAT_MODEL, messages=messages))

    [body] = fake_gemini.bodies("streamGenerateContent")
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief.\n\nAnswer in French."}]
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "One question."}, {"text": "And another."}]},
    ]


async def test_requests_carry_the_api_key_in_a_header_never_the_url(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    await backend.check_ready()
    await collect(backend, prompt())
    for recorded in fake_gemini.requests:
        assert recorded.headers["x-goog-api-key"] == API_KEY
        assert API_KEY not in recorded.path


# What is refused before anything is sent ------------------------------------------------


@dataclass(frozen=True)
class RequestWithLogitBias(GenerationRequest):
    logit_bias: tuple[int, ...] = ()


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        (prompt(stop=tuple("abcdef")), "stop"),
        (GenerationRequest(CHAT_MODEL, prompt="x", options=SamplingOptions(min_p=0.5)), "min_p"),
        (RequestWithLogitBias(CHAT_MODEL, prompt="x", logit_bias=(1,)), "logit_bias"),
        (GenerationRequest(CHAT_MODEL, messages=(ChatMessage("user", "a"),
                                                 ChatMessage("tool", "42"))),
         "messages.1.tool_call_id"),
        (GenerationRequest(CHAT_MODEL, messages=(ChatMessage("user", "a"),),
                           parallel_tool_calls=False), "parallel_tool_calls"),
        (GenerationRequest(CHAT_MODEL, messages=(ChatMessage(
            "user", "a", images=(Image(url="https://example.com/cat.png"),)),)),
         "messages.0.images"),
        (GenerationRequest(CHAT_MODEL, messages=(ChatMessage("system", "only this"),)), "messages"),
        (GenerationRequest(EMBEDDING_MODEL, prompt="x"), "model"),
        (GenerationRequest(CHAT_MODEL, prompt="x", num_ctx=512), "num_ctx"),
        (GenerationRequest(CHAT_MODEL, prompt="x", keep_alive=0), "keep_alive"),
    ],
    ids=["six-stops", "unmapped-option", "unmapped-request-field", "tool-result-of-no-call",
         "one-call-at-a-time", "web-image", "system-only", "embedding-model", "context-window",
         "unload"],
)  # fmt: skip
async def test_what_gemini_cannot_honour_is_refused_naming_the_field(
    fake_gemini: FakeGemini, make_backend: MakeBackend, request_: GenerationRequest, param: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await collect(make_backend(), request_)
    assert refused.value.param == param
    assert fake_gemini.bodies("streamGenerateContent") == []


async def test_neutral_values_of_unmapped_fields_are_accepted(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    request = GenerationRequest(CHAT_MODEL, prompt="x", options=SamplingOptions(min_p=None))
    assert text_of(await collect(make_backend(), request))
    # Gemini's models stay loaded: any keep_alive but 0 (unload) is met.
    request = GenerationRequest(CHAT_MODEL, prompt="x", keep_alive="5m")
    assert text_of(await collect(make_backend(), request))


def test_every_sampling_option_is_mapped_or_has_no_gemini_meaning() -> None:
    """llama.cpp's and Ollama's samplers and OpenAI's logit_bias have no GenerationConfig
    field; log probabilities are not read from Gemini's answers yet. A new option lands
    refused."""
    from dataclasses import fields

    unmapped = {"min_p", "typical_p", "repeat_penalty", "repeat_last_n", "logit_bias", "logprobs"}
    assert {field.name for field in fields(SamplingOptions)} == set(SAMPLING_FIELDS) | unmapped


async def test_unknown_model_is_not_found(make_backend: MakeBackend) -> None:
    with pytest.raises(ModelNotFound, match=f"available: {CHAT_MODEL}, {EMBEDDING_MODEL}"):
        await collect(make_backend(), GenerationRequest("gemini-other", prompt="x"))


# How answers end ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gemini_reason", "reason"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
     ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"),
     ("SPII", "content_filter"), ("BLOCKLIST", "content_filter")],
)  # fmt: skip
async def test_finish_reasons(
    fake_gemini: FakeGemini, make_backend: MakeBackend, gemini_reason: str, reason: str
) -> None:
    fake_gemini.finish_reason = gemini_reason
    events = await collect(make_backend(), prompt(temperature=0))
    assert events[-1] == Finish(reason, events[-1].usage)  # type: ignore[union-attr]


@pytest.mark.parametrize("gemini_reason", ["OTHER", "LANGUAGE", "MALFORMED_FUNCTION_CALL"])
async def test_other_finish_reasons_are_errors_naming_them(
    fake_gemini: FakeGemini, make_backend: MakeBackend, gemini_reason: str
) -> None:
    fake_gemini.finish_reason = gemini_reason
    with pytest.raises(BackendError, match=f"finish reason {gemini_reason}"):
        await collect(make_backend(), prompt())


async def test_safety_stop_keeps_the_text_before_it(make_backend: MakeBackend) -> None:
    events = await collect(make_backend(), prompt(f"tell me {UNSAFE_MARKER}", temperature=0))
    assert len(text_of(events).split()) == 3
    assert isinstance(events[-1], Finish) and events[-1].reason == "content_filter"
    assert events[-1].usage.completion_tokens == 3


async def test_blocked_prompt_is_an_empty_answer_filtered_by_content(
    make_backend: MakeBackend,
) -> None:
    events = await collect(make_backend(), prompt(f"tell me {BLOCKED_MARKER}"))
    assert events == [Finish("content_filter", events[-1].usage)]  # type: ignore[union-attr]
    assert events[0].usage.prompt_tokens == 3  # type: ignore[union-attr]
    assert events[0].usage.completion_tokens == 0  # type: ignore[union-attr]


async def test_closing_the_stream_early_closes_the_upstream_response(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    fake_gemini.natural_length = 400
    fake_gemini.chunk_delay = 0.05  # 200 chunks: ten seconds if nobody hangs up
    stream = make_backend().generate(prompt())
    assert isinstance(await anext(stream), TextDelta)
    await stream.aclose()

    deadline = time.monotonic() + 2
    while fake_gemini.streams_cancelled == 0:
        assert time.monotonic() < deadline, "the upstream stream was left open"
        await asyncio.sleep(0.02)


# How it fails ---------------------------------------------------------------------------


async def test_quota_exhausted_is_429_with_googles_retry_delay(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    quota = GoogleError(
        429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", retry_info(37)
    )
    fake_gemini.fail_next(quota)
    with pytest.raises(RateLimited) as limited:
        await collect(make_backend(), prompt())
    assert limited.value.status_code == 429
    assert limited.value.headers == {"Retry-After": "37"}
    assert "quota" in limited.value.message


async def test_quota_retry_after_header_is_used_without_retry_info(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    fake_gemini.fail_next(GoogleError(429, "RESOURCE_EXHAUSTED", "Quota exceeded.",
                                      headers={"Retry-After": "12"}))  # fmt: skip
    with pytest.raises(RateLimited) as limited:
        await make_backend().embed(EMBEDDING_MODEL, ["hello"])
    assert limited.value.headers == {"Retry-After": "12"}


async def test_a_wrong_api_key_is_503_naming_the_credential_without_echoing_it(
    make_backend: MakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "AIzaSy-not-the-right-key-SECRET"
    backend = make_backend(api_key=secret)
    await backend.start()
    with pytest.raises(BackendUnavailable) as refused:
        await backend.check_ready()
    with pytest.raises(BackendUnavailable):
        await collect(backend, prompt())

    message = refused.value.message
    assert "GEMINI_API_KEY" in message and "API_KEY_INVALID" in message
    assert refused.value.status_code == 503
    assert secret not in message
    assert all(secret not in record.getMessage() for record in caplog.records)


async def test_a_forbidden_project_is_503_with_googles_reason(
    service_account: ServiceAccount, make_backend: MakeBackend
) -> None:
    backend = make_backend(vertexai=True, project="someone-elses-project", location="us-east1")
    with pytest.raises(BackendUnavailable, match="403 PERMISSION_DENIED, IAM_PERMISSION_DENIED"):
        await collect(backend, prompt())


async def test_an_untrusted_service_account_key_is_refused_at_the_token_exchange(
    fake_gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    make_backend: MakeBackend,
) -> None:  # fmt: skip
    stranger = ServiceAccount(private_key=new_key())  # same email, a key Google never issued
    key_file = stranger.key_file(tmp_path / "stolen.json", fake_gemini.oauth.token_uri)
    fake_gemini.oauth.trust(ServiceAccount())
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))

    with pytest.raises(
        BackendUnavailable, match=r"refused when fetching an access token \(invalid_grant\)"
    ):
        await make_backend(vertexai=True).check_ready()


async def test_missing_credentials_file_is_503_and_logged_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_backend: MakeBackend,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    backend = make_backend(vertexai=True)
    caplog.set_level(logging.WARNING, logger="liftoff.api.backends.gemini")

    await backend.start()
    await asyncio.wait_for(backend._start_task, 5)  # type: ignore[arg-type]

    assert "absent.json was not found" in caplog.text
    with pytest.raises(BackendUnavailable, match="Application Default Credentials are not usable"):
        await backend.check_ready()


async def test_vertex_needs_a_project_when_the_credentials_name_none(
    make_backend: MakeBackend,
) -> None:
    def anonymous() -> tuple[google.auth.credentials.Credentials, str | None]:
        return google.auth.credentials.AnonymousCredentials(), None  # type: ignore[no-untyped-call]

    backend = make_backend(vertexai=True, credentials=anonymous)
    with pytest.raises(BackendUnavailable, match="GOOGLE_CLOUD_PROJECT"):
        await backend.check_ready()


async def test_one_access_token_serves_many_requests(
    fake_gemini: FakeGemini, service_account: ServiceAccount, make_backend: MakeBackend
) -> None:
    backend = make_backend(vertexai=True)
    await backend.check_ready()
    for _ in range(3):
        await collect(backend, prompt())
    await backend.embed(EMBEDDING_MODEL, ["a", "b"])
    assert fake_gemini.oauth.grants == 1
    tokens = {r.headers.get("authorization") for r in fake_gemini.requests if "/v1" in r.path}
    assert len(tokens) == 1


async def test_a_configured_model_google_does_not_know_makes_the_backend_unready(
    make_backend: MakeBackend,
) -> None:
    backend = make_backend(model="gemini-retired-model")
    with pytest.raises(BackendUnavailable, match="does not serve gemini-retired-model"):
        await backend.check_ready()


async def test_prompt_over_the_models_input_limit_is_context_length_exceeded(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    fake_gemini.models[CHAT_MODEL].input_token_limit = 5
    with pytest.raises(ContextLengthExceeded, match="input token count"):
        await collect(make_backend(), prompt("one two three four five six"))


async def test_failure_mid_stream_raises_after_the_text_already_sent(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    fake_gemini.fail_stream_after = 1
    received: list[GenerationEvent] = []
    with pytest.raises(BackendUnavailable, match="UNAVAILABLE"):
        async for event in make_backend().generate(prompt()):
            received.append(event)
    assert len(received) == 1 and isinstance(received[0], TextDelta)


async def test_gemini_down_is_unavailable(make_backend: MakeBackend) -> None:
    backend = make_backend(base_url="http://127.0.0.1:9")
    with pytest.raises(BackendUnavailable, match="cannot reach Gemini"):
        await backend.check_ready()


async def test_upstream_server_errors_are_unavailable(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    fake_gemini.fail_next(GoogleError(503, "UNAVAILABLE", "The model is overloaded."))
    with pytest.raises(BackendUnavailable, match="503 UNAVAILABLE"):
        await collect(make_backend(), prompt())
    fake_gemini.fail_next(GoogleError(500, "INTERNAL", "An internal error has occurred."))
    with pytest.raises(BackendUnavailable, match="500 INTERNAL"):
        await collect(make_backend(), prompt())


async def test_api_key_reason_is_read_from_error_info(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    leaked = "Your API key was reported as leaked."
    blocked = GoogleError(403, "PERMISSION_DENIED", leaked, error_info("API_KEY_SERVICE_BLOCKED"))
    fake_gemini.fail_next(blocked)
    with pytest.raises(BackendUnavailable, match="API_KEY_SERVICE_BLOCKED"):
        await collect(make_backend(), prompt())


# Embeddings ------------------------------------------------------------------------------


async def test_embeddings_go_in_batches_of_100_and_keep_their_order(
    fake_gemini: FakeGemini, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    texts = [f"text number {i}" for i in range(250)]
    result = await backend.embed(EMBEDDING_MODEL, texts)

    assert [len(body["requests"]) for body in fake_gemini.bodies("batchEmbedContents")] == [
        100, 100, 50,
    ]  # fmt: skip
    for i in (0, 99, 100, 249):
        [alone] = (await backend.embed(EMBEDDING_MODEL, [texts[i]])).vectors
        assert result.vectors[i] == pytest.approx(alone)


async def test_empty_text_is_refused_naming_its_index(make_backend: MakeBackend) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await make_backend().embed(EMBEDDING_MODEL, ["fine", ""])
    assert refused.value.param == "input.1"


async def test_the_chat_model_does_not_embed(make_backend: MakeBackend) -> None:
    with pytest.raises(InvalidRequest, match=f"embeddings come from {EMBEDDING_MODEL}"):
        await make_backend().embed(CHAT_MODEL, ["x"])
    with pytest.raises(InvalidRequest, match="LIFTOFF_EMBEDDING_MODEL"):
        await make_backend(embedding_model="").embed(CHAT_MODEL, ["x"])


async def test_vertex_text_embedding_models_use_predict_and_count_tokens(
    fake_gemini: FakeGemini, service_account: ServiceAccount, make_backend: MakeBackend
) -> None:
    backend = make_backend(vertexai=True, embedding_model=PREDICT_EMBEDDING_MODEL)
    result = await backend.embed(PREDICT_EMBEDDING_MODEL, ["one two", "three four five"])

    [body] = fake_gemini.bodies("predict")
    assert body["instances"] == [{"content": "one two"}, {"content": "three four five"}]
    assert len(result.vectors) == 2
    assert result.prompt_tokens == 5


async def test_vertex_calls_name_the_project_and_location(
    fake_gemini: FakeGemini, service_account: ServiceAccount, make_backend: MakeBackend
) -> None:
    await collect(make_backend(vertexai=True, location="europe-west4"), prompt())
    [call] = [r for r in fake_gemini.requests if r.path.endswith(":streamGenerateContent")]
    assert call.path == (
        f"/v1beta1/projects/{service_account.project_id}/locations/europe-west4/publishers/"
        f"google/models/{CHAT_MODEL}:streamGenerateContent"
    )
