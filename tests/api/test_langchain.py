"""LangChain's ChatOpenAI and ChatOllama, unchanged, against the gateway."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from tests.servers import ServerProcess


@pytest.fixture(autouse=True)
def _collect_langchain_connections() -> Iterator[None]:
    """LangChain's chat models keep HTTP connections open and offer no close()."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_chat_openai_invokes_and_streams(gateway: ServerProcess, model_id: str) -> None:
    llm = ChatOpenAI(
        base_url=f"{gateway.url}/v1",
        api_key="unused",  # type: ignore[arg-type]
        model=model_id,
        max_completion_tokens=8,
        temperature=0,
        max_retries=0,
    )
    answer = llm.invoke("Say something about mountains.")
    assert isinstance(answer.content, str) and answer.content
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["output_tokens"] == 8
    pieces = [chunk.content for chunk in llm.stream("Say something about mountains.")]
    assert "".join(str(p) for p in pieces) == answer.content


def test_chat_ollama_invokes_and_streams(gateway: ServerProcess, model_id: str) -> None:
    llm = ChatOllama(base_url=gateway.url, model=model_id, num_predict=8, temperature=0)
    answer = llm.invoke("Say something about rivers.")
    assert isinstance(answer.content, str) and answer.content
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["output_tokens"] == 8
    pieces = [chunk.content for chunk in llm.stream("Say something about rivers.")]
    assert "".join(str(p) for p in pieces) == answer.content
