"""The conversation against real gateways: what is sent, what streams back, and the sentence
a person reads for each way a server can fail (down, refusing the key, refusing the request,
breaking off mid-answer)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from liftoff.ui.config import Settings
from liftoff.ui.conversation import (
    Choice,
    Cited,
    Conversation,
    Invalid,
    Token,
    choose,
    initial_model,
    stream_answer,
)
from liftoff.ui.errors import Failed, Refused, Unreachable, UpstreamError
from liftoff.ui.sources import Listing, Source, Sources
from tests.fakes.ollama_server import FakeOllama
from tests.servers import ServerProcess, free_port

KEY = "sk-ui-conversation-test"
LLAMA = "llama3.1:8b"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def keyed_gateway(shared_fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    """A gateway on the fake Ollama that wants an API key."""
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_API_KEYS": KEY, "LIFTOFF_MAX_TOKENS_LIMIT": "100"}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


def sources_for(gateway: str, **values: object) -> Sources:
    return Sources(settings(gateway_url=gateway + "/v1", **values))


async def collect(source: Source, choice: Choice, question: str) -> tuple[str, list[object]]:
    events = [event async for event in stream_answer(source, choice, [
        {"role": "user", "content": question}])]  # fmt: skip
    text = "".join(e.text for e in events if isinstance(e, Token))
    return text, [e for e in events if isinstance(e, Cited)]


async def test_models_of_both_servers_are_listed_the_gateways_first(
    keyed_gateway: ServerProcess, ollama_gateway: ServerProcess
) -> None:
    sources = sources_for(keyed_gateway.url, gateway_api_key=SecretStr(KEY),
                          retrieval_url=ollama_gateway.url + "/v1")  # fmt: skip
    listing = await sources.list_models()
    assert listing.names == [LLAMA] and not listing.problems
    # Both list llama3.1:8b: the gateway serves it.
    assert listing.models[LLAMA] is sources.gateway
    await sources.aclose()


@pytest.mark.model
async def test_the_gateways_embedding_model_is_not_offered_for_chat(
    gemma_gateway: ServerProcess,
) -> None:
    sources = sources_for(gemma_gateway.url)
    listing = await sources.list_models()
    # The gateway lists all-minilm-l6-v2 too, as an embedding model; it cannot chat.
    assert listing.names == ["gemma-3-270m-q4_k_m"] and not listing.problems
    await sources.aclose()


async def test_the_answer_streams_token_by_token_with_the_chosen_settings(
    keyed_gateway: ServerProcess, shared_fake_ollama: FakeOllama
) -> None:
    sources = sources_for(keyed_gateway.url, gateway_api_key=SecretStr(KEY))
    choice = Choice(model=LLAMA, temperature=0.3, max_tokens=5)
    events = [e async for e in stream_answer(sources.gateway, choice, [
        {"role": "user", "content": "a b c d e f g"}])]  # fmt: skip
    assert [e.text for e in events if isinstance(e, Token)] == ["g", " f", " e", " d", " c"]
    sent = shared_fake_ollama.bodies("/api/chat")[-1]
    assert sent["options"]["temperature"] == 0.3 and sent["options"]["num_predict"] == 5
    await sources.aclose()


async def test_a_gateway_that_is_not_running_is_named_with_the_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    sources = sources_for(url)
    listing = await sources.list_models()
    assert listing.names == []
    [problem] = listing.problems
    assert isinstance(problem, Unreachable)
    assert problem.message == (
        f"Cannot reach the gateway at {url}/v1: is it running? (`make run` starts the local stack.)"
    )
    await sources.aclose()


async def test_a_refused_key_says_which_setting_to_fix_and_never_shows_the_key(
    keyed_gateway: ServerProcess,
) -> None:
    sources = sources_for(keyed_gateway.url, gateway_api_key=SecretStr("sk-wrong-key-123"))
    [problem] = (await sources.list_models()).problems
    assert isinstance(problem, Refused)
    assert "refused the UI's API key (401)" in problem.message
    assert "LIFTOFF_UI_GATEWAY_API_KEY" in problem.message
    assert "sk-wrong-key-123" not in problem.message
    with pytest.raises(Refused, match=r"\(401\)"):
        await collect(sources.gateway, Choice(model=LLAMA, temperature=0, max_tokens=5), "hi")
    await sources.aclose()


async def test_a_request_the_gateway_refuses_shows_its_reason(
    keyed_gateway: ServerProcess,
) -> None:
    sources = sources_for(keyed_gateway.url, gateway_api_key=SecretStr(KEY))
    choice = Choice(model=LLAMA, temperature=0, max_tokens=1000)  # the gateway allows 100
    with pytest.raises(Refused) as refused:
        await collect(sources.gateway, choice, "hi")
    assert refused.value.message.startswith("The gateway refused the request (400): ")
    assert "max_tokens" in refused.value.message
    await sources.aclose()


async def test_an_answer_that_breaks_off_midway_says_so(
    keyed_gateway: ServerProcess, shared_fake_ollama: FakeOllama
) -> None:
    sources = sources_for(keyed_gateway.url, gateway_api_key=SecretStr(KEY))
    shared_fake_ollama.fail_after_tokens = 2
    try:
        got: list[str] = []
        with pytest.raises(UpstreamError) as broke:
            async for event in stream_answer(
                sources.gateway,
                Choice(model=LLAMA, temperature=0, max_tokens=10),
                [{"role": "user", "content": "a b c d e"}],
            ):
                assert isinstance(event, Token)
                got.append(event.text)
    finally:
        shared_fake_ollama.fail_after_tokens = None
    assert got == ["e", " d"]  # what arrived before the break
    assert isinstance(broke.value, Failed)
    assert broke.value.message.startswith("The answer broke off: ")
    await sources.aclose()


async def test_the_real_model_answers_through_the_gateway(gemma_gateway: ServerProcess) -> None:
    sources = sources_for(gemma_gateway.url)
    listing = await sources.list_models()
    model = initial_model(listing, settings())
    assert model == "gemma-3-270m-q4_k_m"
    text, cited = await collect(
        sources.gateway, Choice(model=model, temperature=0, max_tokens=8), "Once upon a time"
    )
    assert text.strip() and cited == []  # the gateway carries no citations
    await sources.aclose()


# The settings panel's values come from the browser: each is checked.

LISTING = Listing(models=dict.fromkeys(["gemma-3-270m-q4_k_m", LLAMA]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"model": "gpt-9", "temperature": 0.7, "max_tokens": 10},
         "Model 'gpt-9' is not served here (listed: gemma-3-270m-q4_k_m, llama3.1:8b)."),
        ({"model": LLAMA, "temperature": 7, "max_tokens": 10}, "Setting 'temperature':"),
        ({"model": LLAMA, "temperature": 0.7, "max_tokens": 0}, "Setting 'max_tokens':"),
        ({"model": LLAMA, "temperature": 0.7, "max_tokens": 5000},
         "Setting 'max_tokens': at most 4096."),
        ({"model": LLAMA, "temperature": 0.7, "max_tokens": 10, "top_p": 1},
         "Setting 'top_p': Extra inputs are not permitted."),
        ({"temperature": 0.7, "max_tokens": 10}, "Setting 'model': Field required."),
    ],
)  # fmt: skip
def test_settings_from_the_browser_are_refused_naming_the_field(
    raw: dict[str, object], message: str
) -> None:
    with pytest.raises(Invalid) as refused:
        choose(raw, LISTING, settings())
    assert refused.value.message.startswith(message)


def test_valid_settings_are_taken_as_given() -> None:
    raw = {"model": LLAMA, "temperature": 1.5, "max_tokens": 4096.0}  # a slider sends floats
    assert choose(raw, LISTING, settings()) == Choice(model=LLAMA, temperature=1.5, max_tokens=4096)


def test_the_default_model_is_the_configured_one_when_listed() -> None:
    assert initial_model(LISTING, settings(default_model=LLAMA)) == LLAMA
    assert initial_model(LISTING, settings(default_model="gone")) == "gemma-3-270m-q4_k_m"
    assert initial_model(Listing(), settings()) is None


# History: what goes out with each question.


def test_history_goes_out_with_each_question_latest_last() -> None:
    conversation = Conversation(settings())
    conversation.record("q1", "a1")
    conversation.record("q2", "a2")
    assert conversation.messages_for("q3") == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "q3"},
    ]


def test_history_is_bounded_by_messages_and_characters_in_whole_turns() -> None:
    conversation = Conversation(settings(max_history_messages=4, max_history_chars=25))
    for n in range(10):
        conversation.record(f"question {n}", f"answer {n}")
    assert len(conversation.turns) == 8  # kept: twice the messages sent
    sent = conversation.messages_for("now")
    # 25 characters hold the last answer (8) and question (10), not the answer before.
    assert sent == [
        {"role": "user", "content": "question 9"},
        {"role": "assistant", "content": "answer 9"},
        {"role": "user", "content": "now"},
    ]
    assert Conversation(settings(max_history_messages=0)).messages_for("x") == [
        {"role": "user", "content": "x"}
    ]


@pytest.mark.parametrize(("question", "message"), [
    ("", "The message is empty."),
    ("   \n", "The message is empty."),
    ("x" * 101, "The message has 101 characters; the limit is 100."),
])  # fmt: skip
def test_empty_and_oversized_messages_are_refused(question: str, message: str) -> None:
    with pytest.raises(Invalid, match=message.replace(".", r"\.")):
        Conversation(settings(max_message_chars=100)).messages_for(question)
