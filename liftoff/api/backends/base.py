"""The one small interface every backend implements, and the values that cross it.

A backend turns a ``GenerationRequest`` into a stream of ``TextDelta`` events closed by
exactly one ``Finish``. Non-streaming responses are the same stream, collected
(``collect``). That keeps each backend to one generation method, and every protocol surface
to one code path::

    async for event in backend.generate(request):
        if isinstance(event, TextDelta):
            print(event.text, end="")
        else:
            print(f"\\n[{event.reason}, {event.usage.completion_tokens} tokens]")

Backends raise only ``liftoff.api.errors`` exceptions; closing the iterator early (a client that
went away) must stop the upstream generation. What backends share on the wire (sampling
options under each backend's names, finish reasons) is in ``liftoff.api.backends.wire``.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from liftoff.api.errors import BackendError

Role = Literal["system", "user", "assistant", "tool"]
# "content_filter": the backend's safety filter ended the answer or blocked the prompt
# (OpenAI's value for the same thing).
FinishReason = Literal["stop", "length", "content_filter"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class SamplingOptions:
    """Sampling settings with one meaning on every surface; ``None`` means backend default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """A chat (``messages``) or raw completion (``prompt``) request; exactly one is set."""

    model: str
    messages: tuple[ChatMessage, ...] | None = None
    prompt: str | None = None
    options: SamplingOptions = field(default_factory=SamplingOptions)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a GenerationRequest has either messages or a prompt")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Nanoseconds spent on the prompt and on generating, when the backend reports them.
    prompt_duration_ns: int | None = None
    generation_duration_ns: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finish:
    reason: FinishReason
    usage: Usage


GenerationEvent = TextDelta | Finish


@dataclass(frozen=True)
class Completion:
    """A whole generation: what non-streaming responses are built from."""

    text: str
    reason: FinishReason
    usage: Usage


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    prompt_tokens: int


# What a served model is for, in Ollama's words (``/api/show``'s ``capabilities``).
Capability = Literal["completion", "embedding"]


@dataclass(frozen=True)
class ModelInfo:
    id: str
    size_bytes: int | None = None
    family: str | None = None
    quantization: str | None = None
    modified_at: str | None = None
    digest: str | None = None
    # Empty when the backend does not know (an Ollama model the gateway was not told about).
    capabilities: tuple[Capability, ...] = ()


class Backend(abc.ABC):
    """A source of generations: the embedded engine, Ollama, or an OpenAI-compatible server."""

    name: str

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Prepare the model (load, pull, warm up). Must not fail when the backend is down."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release engines and connections."""

    @abc.abstractmethod
    async def check_ready(self) -> None:
        """Return when the backend answers and the model is loaded; raise BackendUnavailable."""

    async def check_model_present(self) -> None:
        """Return when the backend answers and has the model, without loading or pulling it."""
        await self.check_ready()

    @abc.abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """The models requests may name."""

    @abc.abstractmethod
    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Stream a generation: ``TextDelta`` events, then one ``Finish``."""

    @abc.abstractmethod
    async def embed(self, model: str, inputs: list[str], *, truncate: bool = False) -> Embeddings:
        """One vector per input, in order. An input beyond the model's window is a
        ``ContextLengthExceeded`` naming ``input.N``, unless ``truncate`` asks for its first
        tokens to be embedded instead (where the backend can; else it raises)."""


async def collect(events: AsyncIterator[GenerationEvent]) -> Completion:
    """A whole generation from its events: the texts joined, and the ``Finish``'s reason and
    usage. Reads the stream to its end, so the backend finishes its clean-up; raises
    ``BackendError`` if the stream ends without a ``Finish``."""
    parts: list[str] = []
    finish: Finish | None = None
    async for event in events:
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            finish = event
    if finish is None:
        raise BackendError("the backend ended its stream without finishing")
    return Completion("".join(parts), finish.reason, finish.usage)
