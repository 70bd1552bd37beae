"""The run target keeps the citations an answer carries: against the real retrieval service
(``rag:`` models, over the real gateway and Gemma), compared with what the openai SDK shows;
and a plain model's answers carry none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from liftoff.evaluation.runs.dataset import Example, Message
from liftoff.evaluation.runs.model import GenerationParams
from liftoff.evaluation.runs.target import Target
from tests.retrieval.conftest import GATEWAY_KEY, rag_env, store_env
from tests.servers import ServerProcess

pytestmark = pytest.mark.model

DOCS = {
    "bees.md": b"# Bees\n\nHoneybee workers collect nectar and make honey in the hive.",
    "lighthouse.txt": b"The Fresnel lens, introduced in 1822, made lighthouse beams visible "
    b"more than thirty kilometres away.",
}
QUESTION = "Honeybee workers make honey"
PARAMS = GenerationParams(max_tokens=4, temperature=0, seed=0)


@pytest.fixture(scope="module")
def gateway(gguf_path: Path) -> Iterator[ServerProcess]:
    env = {"LIFTOFF_MODEL": str(gguf_path), "LIFTOFF_API_KEYS": GATEWAY_KEY}
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


@pytest.fixture(scope="module")
def rag(gateway: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The retrieval service's OpenAI-compatible base URL, with two collections of ``DOCS``."""
    store = store_env("sqlite", tmp_path_factory.mktemp("rag"), None)
    with ServerProcess("liftoff.retrieval.main:app", rag_env(gateway, store)) as server:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            # "strict" counts no chunk as relevant: every answer is "I don't know."
            for name, min_score in (("docs", 0.5), ("strict", 0.99)):
                client.post("/v1/collections", json={"name": name, "min_score": min_score})
                for source, data in DOCS.items():
                    put = client.put(f"/v1/collections/{name}/documents/{source}", content=data)
                    assert put.status_code == 201, put.text
        yield f"{server.url}/v1"


async def test_a_rag_answers_citations_are_kept_as_the_sdk_sees_them(rag: str) -> None:
    question = Example(id="q", messages=(Message(role="user", content=QUESTION),),
                       references=("Honey.",))  # fmt: skip
    async with Target(rag, api_key=None, retries=0, timeout=300) as target:
        generation = await target.generate(question, "rag:docs", "auto", PARAMS)
    with openai.OpenAI(base_url=rag, api_key="unused", max_retries=0) as client:
        answer = client.chat.completions.create(
            model="rag:docs", messages=[{"role": "user", "content": QUESTION}],
            max_tokens=4, temperature=0, seed=0,
        )  # fmt: skip
    seen = (answer.model_extra or {})["citations"]
    assert seen and seen[0]["source"] == "bees.md"
    assert generation.citations is not None
    assert [c.model_dump(mode="json") for c in generation.citations] == seen
    assert generation.prediction == answer.choices[0].message.content


async def test_a_question_nothing_answers_keeps_an_empty_list(rag: str) -> None:
    unrelated = Example(id="u", prompt="Who won the football world cup in 1998?",
                        references=("I don't know.",))  # fmt: skip
    async with Target(rag, api_key=None, retries=0, timeout=300) as target:
        # A prompt row to a chat-only model: endpoint "chat" sends it as one user message.
        generation = await target.generate(unrelated, "rag:strict", "chat", PARAMS)
    assert generation.prediction.startswith("I don't know.")
    assert generation.citations == ()


async def test_a_plain_models_answers_carry_no_citations(gateway: ServerProcess) -> None:
    prompt = Example(id="p", prompt="Bees make", references=("honey",))
    async with Target(f"{gateway.url}/v1", api_key=GATEWAY_KEY, retries=0, timeout=300) as target:
        model = await target.probe(None)
        generation = await target.generate(prompt, model, "auto", PARAMS)
    assert generation.prediction and generation.citations is None
