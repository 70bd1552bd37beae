"""The embedded engine's chat template (``liftoff.api.backends.templates``): a GGUF's own
template from its metadata, an override, or a built-in for a GGUF without one; and the
prompt llama.cpp makes with it, which is what the model sees."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import gguf
import pytest

from liftoff.api.backends.base import (
    ChatMessage,
    Finish,
    GenerationRequest,
    SamplingOptions,
    TextDelta,
    Tool,
)
from liftoff.api.backends.llamacpp import LlamaCppBackend
from liftoff.api.backends.templates import (
    CHAT_TEMPLATE_KEY,
    choose_template,
    read_string_metadata,
)

# A template unlike Gemma's (Zephyr's turn markers), to see which one the engine applies.
ZEPHYR = (
    "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CHAT = (ChatMessage("system", "Be brief."), ChatMessage("user", "Hi there"))


@pytest.fixture(scope="module")
def templated_gguf(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged Gemma GGUF with a chat template in its metadata, written with the
    ``gguf`` library's own ``gguf-new-metadata``."""
    target = tmp_path_factory.mktemp("gguf") / "gemma-with-template.gguf"
    subprocess.run(
        [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", str(gguf_path), str(target),
         "--chat-template", ZEPHYR, "--force"],
        check=True, capture_output=True,
    )  # fmt: skip
    return target


async def _backend(gguf_file: Path, override: str = "") -> AsyncIterator[LlamaCppBackend]:
    backend = LlamaCppBackend(
        gguf_file, context_size=512, parallel=1, chat_template=choose_template(gguf_file, override)
    )
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


def _chat(backend: LlamaCppBackend, *messages: ChatMessage) -> GenerationRequest:
    return GenerationRequest(model=backend.model_id, messages=messages or CHAT)


def test_the_header_reader_agrees_with_the_gguf_library(templated_gguf: Path) -> None:
    reader = gguf.GGUFReader(templated_gguf)
    expected = {key: str(reader.get_field(key).contents())  # type: ignore[union-attr]
                for key in (CHAT_TEMPLATE_KEY, "general.architecture")}  # fmt: skip
    assert read_string_metadata(templated_gguf, set(expected)) == expected


def test_a_gguf_with_a_template_uses_it_and_one_without_gets_its_familys(
    templated_gguf: Path, gguf_path: Path
) -> None:
    own = choose_template(templated_gguf, "")
    assert own.jinja and own.is_models_own
    packaged = choose_template(gguf_path, "")
    assert (packaged.jinja, packaged.template) == (False, "gemma")


def test_the_override_may_be_a_builtin_name_jinja_or_a_file(
    templated_gguf: Path, tmp_path: Path
) -> None:
    assert choose_template(templated_gguf, "chatml").template == "chatml"
    assert not choose_template(templated_gguf, "chatml").jinja
    assert choose_template(templated_gguf, ZEPHYR).template == ZEPHYR
    file = tmp_path / "t.jinja"
    file.write_text(ZEPHYR)
    assert choose_template(templated_gguf, str(file)).template == ZEPHYR


async def test_the_engine_prompts_with_the_ggufs_own_template(templated_gguf: Path) -> None:
    async for backend in _backend(templated_gguf):
        prompt = await backend.render_prompt(_chat(backend))
        assert prompt == ("<|system|>\nBe brief.</s>\n<|user|>\nHi there</s>\n<|assistant|>\n")
        # And generates from exactly that prompt: the chat's answer and prompt size are
        # those of a raw completion of the rendered text.
        options = SamplingOptions(temperature=0, max_tokens=8)
        chat = await _answer(backend, replace(_chat(backend), options=options))
        raw = GenerationRequest(model=backend.model_id, prompt=prompt, options=options)
        assert chat == await _answer(backend, raw)


async def _answer(backend: LlamaCppBackend, request: GenerationRequest) -> tuple[str, int]:
    text, prompt_tokens = "", 0
    async for event in backend.generate(request):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finish):
            prompt_tokens = event.usage.prompt_tokens
    return text, prompt_tokens


async def test_the_override_wins_over_the_ggufs_template(templated_gguf: Path) -> None:
    async for backend in _backend(templated_gguf, "gemma"):
        prompt = await backend.render_prompt(_chat(backend))
        assert (
            prompt
            == "<start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n<start_of_turn>model\n"
        )


async def test_the_packaged_base_model_keeps_gemmas_turns(gguf_path: Path) -> None:
    async for backend in _backend(gguf_path):
        prompt = await backend.render_prompt(_chat(backend, ChatMessage("user", "Hi there")))
        assert prompt == "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"


async def test_tools_reach_the_model_through_any_template(templated_gguf: Path) -> None:
    tool = Tool("get_time", "The time", {"type": "object", "properties": {}})
    async for backend in _backend(templated_gguf):
        request = GenerationRequest(
            model=backend.model_id, messages=(ChatMessage("user", "Time?"),), tools=(tool,)
        )
        prompt = await backend.render_prompt(request)
        assert prompt.startswith("<|system|>\nYou can call these tools")
        assert '{"name": "get_time", "description": "The time"' in prompt
