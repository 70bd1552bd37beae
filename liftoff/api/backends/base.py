"""The one small interface every backend implements, and the values that cross it.

A backend turns a ``GenerationRequest`` into a stream of ``TextDelta`` (and, when the model
calls tools, ``ToolCall``) events closed by exactly one ``Finish``. Non-streaming responses
are the same stream, collected (``collect``). That keeps each backend to one generation
method, and every protocol surface to one code path::

    async for event in backend.generate(request):
        if isinstance(event, TextDelta):
            print(event.text, end="")
        else:
            print(f"\\n[{event.reason}, {event.usage.completion_tokens} tokens]")

Backends raise only ``liftoff.api.errors`` exceptions; closing the iterator early (a client that
went away) must stop the upstream generation. What backends share on the wire (sampling
options under each backend's names, finish reasons, stop strings, messages as templates
need them) is in ``liftoff.api.backends.wire``.
"""

from __future__ import annotations

import abc
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from liftoff.api.errors import BackendError, FieldError, ModelNotFound

Role = Literal["system", "user", "assistant", "tool"]
# "content_filter": the backend's safety filter ended the answer or blocked the prompt
# (OpenAI's value for the same thing); "tool_calls": the answer is calls of the request's tools.
FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


@dataclass(frozen=True)
class Image:
    """An image in a user message: base64 data (``media_type`` when known), or a URL that
    the backend fetches itself (only OpenAI-compatible servers do)."""

    data: str | None = None  # base64, without a data: URL's prefix
    media_type: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """A call of one of the request's tools: in an answer (an event of the stream), or in an
    earlier assistant turn. ``arguments`` is the JSON text of an object."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str
    images: tuple[Image, ...] = ()
    # An assistant turn that called tools; a tool turn answers one call (its id and name).
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Tool:
    """A function the model may call; ``parameters`` is a JSON schema of its arguments."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    strict: bool | None = None  # OpenAI's exact-schema flag, forwarded where servers take it


# "auto": the model decides; "none": no calls; "required": at least one call; a tool's name:
# exactly that tool.
ToolChoice = Literal["auto", "none", "required"] | str


@dataclass(frozen=True)
class ResponseFormat:
    """Structured output: any JSON object (``json_object``) or JSON matching ``schema``."""

    type: Literal["json_object", "json_schema"]
    schema: Mapping[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(frozen=True)
class SamplingOptions:
    """Sampling settings with one meaning on every surface; ``None`` means backend default.

    The meanings are llama.cpp's and Ollama's, which OpenAI's share where both have the
    field: ``min_p`` keeps the tokens whose probability is at least that share of the
    likeliest one's; ``typical_p`` is locally typical sampling; ``repeat_penalty`` scales
    down the logits of tokens among the last ``repeat_last_n`` (``-1``: the whole context);
    ``frequency_penalty`` and ``presence_penalty`` subtract from a seen token's logit in
    proportion to its count, and once (OpenAI's definition); ``logit_bias`` adds a bias
    (-100..100) to token ids' logits; ``logprobs`` asks for the log probability of each
    output token with that many alternatives (``0``: the chosen token's alone).
    """

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    typical_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None
    logit_bias: tuple[tuple[int, float], ...] = ()
    logprobs: int | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """A chat (``messages``) or raw completion (``prompt``) request; exactly one is set.

    ``choices`` is how many answers to generate (OpenAI's ``n``: the core runs that many
    generations, so a backend always sees 1). ``num_ctx`` is the context window, in tokens,
    the request runs with (Ollama's ``options.num_ctx``); ``keep_alive`` how long the model
    stays loaded afterwards (Ollama's: a duration such as ``"5m"``, seconds, a negative
    value for ever, ``0`` to unload at once). ``tool_choice`` None means ``auto`` when there
    are tools; ``parallel_tool_calls`` None means the backend's default (OpenAI's: allowed).
    """

    model: str
    messages: tuple[ChatMessage, ...] | None = None
    prompt: str | None = None
    options: SamplingOptions = field(default_factory=SamplingOptions)
    choices: int = 1
    num_ctx: int | None = None
    keep_alive: str | float | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None

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
class TokenLogprob:
    """One output token's log probability (natural log), with the likeliest alternatives at
    its position when they were asked for (``top``, likeliest first)."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class TextDelta:
    """Text of answer ``choice``; with the log probabilities of its tokens when asked for."""

    text: str
    choice: int = 0
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class Finish:
    """The end of a generation. With several choices, ``reasons`` holds each one's reason
    in choice order (``reason`` is the first's)."""

    reason: FinishReason
    usage: Usage
    reasons: tuple[FinishReason, ...] = ()


GenerationEvent = TextDelta | ToolCall | Finish


@dataclass(frozen=True)
class Choice:
    text: str
    reason: FinishReason
    logprobs: tuple[TokenLogprob, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Completion:
    """A whole generation: what non-streaming responses are built from. ``text``, ``reason``
    and ``logprobs`` are the first choice's; ``choices`` lists every choice when there are
    several."""

    text: str
    reason: FinishReason
    usage: Usage
    logprobs: tuple[TokenLogprob, ...] = ()
    choices: tuple[Choice, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()  # the first choice's (tools allow one choice)

    @property
    def every_choice(self) -> tuple[Choice, ...]:
        return self.choices or (Choice(self.text, self.reason, self.logprobs, self.tool_calls),)


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    prompt_tokens: int


# What a served model is for, in Ollama's words (``/api/show``'s ``capabilities``):
# "completion", "embedding", and what Ollama reports besides ("tools", "vision"...).
Capability = str


@dataclass(frozen=True)
class ModelInfo:
    """What the gateway can say about a served model (``/v1/models``, Ollama's ``/api/tags``,
    ``/api/show`` and ``/api/ps``); ``None`` where the backend does not say."""

    id: str
    size_bytes: int | None = None
    family: str | None = None
    quantization: str | None = None
    modified_at: str | None = None
    digest: str | None = None
    parameter_size: str | None = None
    context_length: int | None = None  # the window requests run with, in tokens
    # Empty when the backend does not know (an Ollama model the gateway was not told about).
    capabilities: tuple[Capability, ...] = ()
    template: str | None = None
    parameters: str | None = None  # Ollama's Modelfile parameters, one per line
    facts: Mapping[str, Any] = field(default_factory=dict)  # Ollama's model_info
    # Only for loaded models (``Backend.running``):
    expires_at: str | None = None
    size_vram: int | None = None


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

    async def show(self, model: str) -> ModelInfo:
        """Everything known about ``model``; raises ``ModelNotFound`` if it is not served."""
        for info in await self.list_models():
            if info.id == model:
                return info
        raise ModelNotFound(model, [info.id for info in await self.list_models()])

    async def running(self) -> list[ModelInfo]:
        """The models loaded now, with when they will be unloaded (``expires_at``)."""
        return []

    async def load(self, model: str, keep_alive: str | float | None) -> Literal["load", "unload"]:
        """Load ``model``, or with ``keep_alive`` 0 unload it (Ollama's generate with an
        empty prompt). Backends that keep their model loaded while the gateway runs only
        check that it serves, and refuse 0."""
        await self.show(model)
        self.refuse_unload(keep_alive)
        await self.check_ready()
        return "load"

    @abc.abstractmethod
    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Stream a generation: ``TextDelta`` and ``ToolCall`` events, then one ``Finish``."""

    @abc.abstractmethod
    async def embed(
        self,
        model: str,
        inputs: list[str],
        *,
        truncate: bool = False,
        keep_alive: str | float | None = None,
    ) -> Embeddings:
        """One vector per input, in order. An input longer than the model's window is cut
        to fit when ``truncate`` is true (Ollama's ``truncate``), else refused with
        ``ContextLengthExceeded`` naming ``input.<index>``. ``keep_alive`` as for
        generations (``GenerationRequest.keep_alive``)."""

    def refuse_unload(self, keep_alive: str | float | None) -> None:
        """For backends that keep their model loaded while the gateway runs: any
        ``keep_alive`` is met except 0 (unload at once), which is refused naming it."""
        if keep_alive is not None and keep_alive_seconds(keep_alive) == 0:
            raise FieldError(
                "keep_alive",
                f"0 would unload the model; the {self.name} backend keeps it loaded while "
                "the gateway runs",
            )


async def collect(events: AsyncIterator[GenerationEvent]) -> Completion:
    """A whole generation from its events: each choice's text and log probabilities joined,
    the tool calls, and the ``Finish``'s reasons and usage. Reads the stream to its end, so
    the backend finishes its clean-up; raises ``BackendError`` if the stream ends without a
    ``Finish``."""
    texts: dict[int, list[str]] = {0: []}
    logprobs: dict[int, list[TokenLogprob]] = {0: []}
    calls: list[ToolCall] = []
    finish: Finish | None = None
    async for event in events:
        if isinstance(event, TextDelta):
            texts.setdefault(event.choice, []).append(event.text)
            if event.logprobs:
                logprobs.setdefault(event.choice, []).extend(event.logprobs)
        elif isinstance(event, ToolCall):
            calls.append(event)
        else:
            finish = event
    if finish is None:
        raise BackendError("the backend ended its stream without finishing")
    reasons = finish.reasons or (finish.reason,)
    choices = tuple(
        Choice("".join(texts.get(i, ())), reason, tuple(logprobs.get(i, ())))
        for i, reason in enumerate(reasons)
    )
    first = choices[0]
    return Completion(
        first.text,
        first.reason,
        finish.usage,
        first.logprobs,
        choices if len(choices) > 1 else (),
        tuple(calls),
    )


# Go's time.ParseDuration units, which Ollama's keep_alive strings use ("5m", "1h30m", "-1s").
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
# What keep_alive_seconds reads, as the OpenAPI documents state it (ASCII, no spaces: a
# subset of what it takes): a Go duration, or a number of seconds in a string.
KEEP_ALIVE_PATTERN = (
    r"^[-+]?(((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+|(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)$"
)


def keep_alive_seconds(value: str | float) -> float:
    """Ollama's ``keep_alive`` in seconds: a number of seconds, or a Go duration string
    (``"5m"``, ``"1h30m"``; a bare number in a string counts seconds, as Ollama reads it).
    Negative means for ever, 0 unload at once. Raises ``ValueError`` for anything else."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    matches = list(_DURATION.finditer(body))
    if not matches or "".join(m.group(0) for m in matches) != body:
        raise ValueError(f"{value!r} is not a duration such as '5m', '1h30m' or 300")
    return sign * sum(float(m.group(1)) * _DURATION_UNITS[m.group(2)] for m in matches)
