"""OpenAI-compatible surface: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/models``,
``/v1/embeddings``. Streams are server-sent events ending in ``data: [DONE]``.

What each request field does is in ``liftoff.api.protocols.parameters`` (``OPENAI_CHAT``,
``OPENAI_COMPLETIONS``, ``OPENAI_EMBEDDINGS``); the models below declare the fields honoured
or accepted at their neutral values, with the ranges of OpenAI's API reference.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from liftoff.api.backends.base import (
    ChatMessage,
    Choice,
    Completion,
    Finish,
    GenerationRequest,
    SamplingOptions,
    TextDelta,
    TokenLogprob,
    ToolCall,
    Usage,
)
from liftoff.api.deps import CallerDep, GeneratorDep
from liftoff.api.errors import FieldError, InvalidRequest, ServiceError
from liftoff.api.protocols.bounds import (
    MAX_CONTENT_PARTS,
    MAX_EMBEDDING_INPUTS,
    MAX_MESSAGES,
    Metadata,
    ModelName,
    Seed,
    StopList,
    StopString,
)
from liftoff.api.protocols.errors import OPENAI_ERRORS, FieldNames
from liftoff.api.protocols.parameters import (
    OPENAI_CHAT,
    OPENAI_COMPLETIONS,
    OPENAI_EMBEDDINGS,
    Nested,
    Policed,
    Policy,
)
from liftoff.api.protocols.streaming import TEXT_MARK, json_string, json_template, respond
from liftoff.api.protocols.tool_fields import (
    MAX_IMAGES,
    MAX_TOOL_CALLS,
    ImagePart,
    OpenAIResponseFormat,
    OpenAIToolCall,
    OpenAIToolChoice,
    Tools,
    check_tool_choice,
    openai_response_format,
    openai_tool_choice,
    to_tools,
    with_tool_names,
)
from liftoff.server.disconnect import unless_disconnected
from liftoff.server.errors import openai_error_body
from liftoff.server.openapi import streaming_response

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], responses=OPENAI_ERRORS)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

# The request's sampling options are top-level fields here; its choices are `n`.
# A message's images are its image_url content parts.
FIELDS = FieldNames({"options": "", "choices": "n"}, images="content")
# A chat request's limit is max_completion_tokens when the client sent it.
COMPLETION_TOKENS_FIELDS = FieldNames(
    {"options": "", "choices": "n", "options.max_tokens": "max_completion_tokens"},
    images="content",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: Literal["text"]
    text: str


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    # None (or left out) only on an assistant turn that called tools.
    content: str | Annotated[list[ContentPart], Field(max_length=MAX_CONTENT_PARTS)] | None = None
    name: str | None = None
    tool_calls: Annotated[list[OpenAIToolCall], Field(max_length=MAX_TOOL_CALLS)] | None = None
    tool_call_id: str | None = Field(default=None, max_length=256)

    def to_chat_message(self, index: int) -> ChatMessage:
        where = f"messages.{index}"
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise InvalidRequest(f"{where}.content is required", param=f"{where}.content")
        if self.tool_calls and self.role != "assistant":
            raise InvalidRequest(
                f"{where}.tool_calls: only assistant messages call tools",
                param=f"{where}.tool_calls",
            )
        if self.role == "tool" and not self.tool_call_id:
            raise InvalidRequest(
                f"{where}.tool_call_id: a tool message answers a call; name its id",
                param=f"{where}.tool_call_id",
            )
        parts = self.content if isinstance(self.content, list) else []
        images = tuple(part.image_url.to_image() for part in parts if isinstance(part, ImagePart))
        if images and self.role != "user":
            raise InvalidRequest(
                f"{where}.content: only user messages carry images", param=f"{where}.content"
            )
        if len(images) > MAX_IMAGES:
            raise InvalidRequest(
                f"{where}.content: at most {MAX_IMAGES} images per message",
                param=f"{where}.content",
            )
        text = (
            self.content
            if isinstance(self.content, str)
            else "".join(part.text for part in parts if isinstance(part, TextPart))
        )
        # "developer" is OpenAI's newer name for the system role.
        return ChatMessage(
            "system" if self.role == "developer" else self.role,
            text,
            images=images,
            tool_calls=tuple(call.to_call() for call in self.tool_calls or ()),
            tool_call_id=self.tool_call_id if self.role == "tool" else None,
        )


def to_chat_messages(messages: list[Message]) -> tuple[ChatMessage, ...]:
    return with_tool_names(tuple(m.to_chat_message(i) for i, m in enumerate(messages)))


class StreamOptions(Nested):
    __rules__ = (OPENAI_CHAT, "stream_options.")  # the same on /v1/completions

    include_usage: bool = False
    include_obfuscation: bool | None = None


TOKEN_ID_PATTERN = r"^\d{1,9}$"
TokenId = Annotated[str, StringConstraints(pattern=TOKEN_ID_PATTERN)]
Bias = Annotated[float, Field(ge=-100, le=100)]


class _Sampling(Policed):
    __policy__: ClassVar[Policy]

    model: ModelName
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0, description="extension, as in vLLM")
    min_p: float | None = Field(default=None, ge=0, le=1, description="extension")
    typical_p: float | None = Field(default=None, ge=0, description="extension")
    repeat_penalty: float | None = Field(default=None, gt=0, description="extension")
    repeat_last_n: int | None = Field(default=None, ge=-1, description="extension")
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    # The key pattern is stated for the document too (pydantic keeps it out of the schema).
    logit_bias: dict[TokenId, Bias] | None = Field(
        default=None,
        max_length=1024,
        json_schema_extra={"propertyNames": {"pattern": TOKEN_ID_PATTERN}},
    )
    max_tokens: int | None = Field(default=None, ge=1)
    stop: StopString | StopList | None = None
    seed: Seed | None = None
    n: int = Field(default=1, ge=1, le=128)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)

    def sampling(self, max_tokens: int | None, logprobs: int | None) -> SamplingOptions:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return SamplingOptions(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            typical_p=self.typical_p,
            max_tokens=max_tokens,
            stop=tuple(stop),
            seed=self.seed,
            # 0 is no penalty on every backend: the same as leaving it to the backend.
            frequency_penalty=self.frequency_penalty or None,
            presence_penalty=self.presence_penalty or None,
            repeat_penalty=self.repeat_penalty,
            repeat_last_n=self.repeat_last_n,
            logit_bias=tuple((int(token), bias) for token, bias in (self.logit_bias or {}).items()),
            logprobs=logprobs,
        )

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class ChatCompletionRequest(_Sampling):
    __policy__ = OPENAI_CHAT

    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    metadata: Metadata | None = None
    store: bool | None = None
    safety_identifier: str | None = Field(default=None, max_length=128)
    prompt_cache_key: str | None = Field(default=None, max_length=256)
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast"] | None = None
    modalities: list[Literal["text", "audio"]] | None = Field(default=None, max_length=2)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = (
        None
    )
    verbosity: Literal["low", "medium", "high"] | None = None
    tools: Tools | None = None
    tool_choice: OpenAIToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: OpenAIResponseFormat | None = None

    def to_generation(self) -> GenerationRequest:
        if self.top_logprobs is not None and not self.logprobs:
            raise FieldError("top_logprobs", "needs logprobs: true")
        logprobs = (self.top_logprobs or 0) if self.logprobs else None
        tools = to_tools(self.tools)
        tool_choice = openai_tool_choice(self.tool_choice)
        check_tool_choice(tool_choice, tools)
        if tools and (self.n or 1) > 1:
            # The answers are merged as text (liftoff.api.choices); calls would be lost.
            raise FieldError("n", "must be 1 when tools are sent")
        return GenerationRequest(
            model=self.model,
            messages=to_chat_messages(self.messages),
            options=self.sampling(self.max_completion_tokens or self.max_tokens, logprobs),
            choices=self.n,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=self.parallel_tool_calls,
            response_format=openai_response_format(self.response_format),
        )


class CompletionRequest(_Sampling):
    __policy__ = OPENAI_COMPLETIONS

    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)]
    logprobs: int | None = Field(default=None, ge=0, le=5)
    best_of: int | None = Field(default=None, ge=1, le=20)
    echo: bool | None = None

    def to_generation(self) -> GenerationRequest:
        prompt = self.prompt if isinstance(self.prompt, str) else self.prompt[0]
        return GenerationRequest(
            model=self.model,
            prompt=prompt,
            options=self.sampling(self.max_tokens, self.logprobs),
            choices=self.n,
        )


class EmbeddingRequest(Policed):
    __policy__ = OPENAI_EMBEDDINGS

    model: ModelName
    input: str | Annotated[list[str], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = Field(default=None, max_length=256)


@router.post(
    "/chat/completions", response_model=None, responses=streaming_response("text/event-stream")
)
async def chat_completions(
    body: ChatCompletionRequest, generator: GeneratorDep, caller: CallerDep, http: Request
) -> dict[str, Any] | StreamingResponse:
    """Chat completion, streamed as server-sent events when ``stream`` is true."""
    fields = COMPLETION_TOKENS_FIELDS if body.max_completion_tokens else FIELDS
    wire = _ChatWire(body.model, include_usage=body.include_usage, fields=fields)
    return await respond(
        generator, body.to_generation(), caller, wire, stream=body.stream, connection=http
    )


@router.post("/completions", response_model=None, responses=streaming_response("text/event-stream"))
async def completions(
    body: CompletionRequest, generator: GeneratorDep, caller: CallerDep, http: Request
) -> dict[str, Any] | StreamingResponse:
    """Raw text completion, streamed as server-sent events when ``stream`` is true."""
    wire = _CompletionWire(body.model, include_usage=body.include_usage, fields=FIELDS)
    return await respond(
        generator, body.to_generation(), caller, wire, stream=body.stream, connection=http
    )


@router.get("/models")
async def list_models(generator: GeneratorDep) -> dict[str, Any]:
    """The models requests may name. Each says what it is for where the gateway knows
    (``capabilities``: ``completion`` for chat and completions, ``embedding`` for
    ``/v1/embeddings``; Ollama's words), so clients can find the embedding model."""
    data = []
    for model in await generator.list_models():
        entry = {"id": model.id, "object": "model", "created": 0, "owned_by": "liftoff"}
        if model.capabilities:
            entry["capabilities"] = list(model.capabilities)
        data.append(entry)
    return {"object": "list", "data": data}


@router.post("/embeddings")
async def embeddings(
    body: EmbeddingRequest, generator: GeneratorDep, caller: CallerDep, http: Request
) -> dict[str, Any]:
    """One embedding per input, as floats or base64-encoded little-endian float32; stops
    when the client leaves."""
    inputs = [body.input] if isinstance(body.input, str) else body.input
    try:
        result = await unless_disconnected(http, generator.embed(body.model, inputs, caller))
    except ServiceError as exc:
        if isinstance(body.input, str):
            FieldNames({"input.0": "input"}).rename(exc)  # the request sent one string
        raise
    encode = _base64_floats if body.encoding_format == "base64" else list
    data = [
        {"object": "embedding", "index": i, "embedding": encode(vector)}
        for i, vector in enumerate(result.vectors)
    ]
    usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
    return {"object": "list", "data": data, "model": body.model, "usage": usage}


def _base64_floats(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _tool_call(call: ToolCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": call.arguments}
    return {"id": call.id, "type": "function", "function": function}


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class _Wire:
    """Shared parts of the chat and completion wire formats."""

    media_type = "text/event-stream"
    headers = SSE_HEADERS
    object_name: str
    chunk_object_name: str
    id_prefix: str

    def __init__(self, model: str, *, include_usage: bool, fields: FieldNames) -> None:
        self.model = model
        self.include_usage = include_usage
        self.fields = fields
        self.id = f"{self.id_prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self._delta_template: list[bytes] | None = None

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": self.chunk_object_name,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def _choice(
        self,
        content: str,
        finish_reason: str | None,
        *,
        index: int = 0,
        logprobs: tuple[TokenLogprob, ...] = (),
    ) -> dict[str, Any]:
        raise NotImplementedError

    def delta(self, event: TextDelta) -> bytes:
        # Every plain delta of a stream is the same JSON but for its text: encode that once
        # and splice each text in (the hot path: once per token for every open stream).
        if event.choice or event.logprobs:
            choice = self._choice(event.text, None, index=event.choice, logprobs=event.logprobs)
            return _event(self._chunk([choice]))
        if self._delta_template is None:
            if not self._template_ready():
                return _event(self._chunk([self._choice(event.text, None)]))
            self._delta_template = json_template(
                _event(self._chunk([self._choice(TEXT_MARK, None)]))
            )
        head, tail = self._delta_template
        return head + json_string(event.text) + tail

    def _template_ready(self) -> bool:
        return True

    def tool_call(self, call: ToolCall) -> bytes:
        raise ServiceError("a completion cannot call tools")

    def finish(self, finish: Finish) -> bytes:
        reasons = finish.reasons or (finish.reason,)
        # One chunk per answer, as OpenAI streams them.
        events = b"".join(
            _event(self._chunk([self._choice("", reason, index=i)]))
            for i, reason in enumerate(reasons)
        )
        if self.include_usage:
            events += _event({**self._chunk([]), "usage": _usage(finish.usage)})
        return events

    def error(self, error: ServiceError) -> bytes:
        return _event(openai_error_body(error))

    def end(self) -> bytes:
        return b"data: [DONE]\n\n"

    def whole(self, completion: Completion) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": self.object_name,
            "created": self.created,
            "model": self.model,
            "choices": [
                self._whole_choice(choice, index)
                for index, choice in enumerate(completion.every_choice)
            ],
            "usage": _usage(completion.usage),
        }

    def _whole_choice(self, choice: Choice, index: int) -> dict[str, Any]:
        raise NotImplementedError


class _ChatWire(_Wire):
    object_name = "chat.completion"
    chunk_object_name = "chat.completion.chunk"
    id_prefix = "chatcmpl"

    def __init__(self, model: str, *, include_usage: bool, fields: FieldNames) -> None:
        super().__init__(model, include_usage=include_usage, fields=fields)
        self._sent_role: set[int] = set()
        self._calls = 0

    def _template_ready(self) -> bool:
        return 0 in self._sent_role  # the first delta also carries the role

    def _choice(
        self,
        content: str,
        finish_reason: str | None,
        *,
        index: int = 0,
        logprobs: tuple[TokenLogprob, ...] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        delta: dict[str, Any] = {"content": content} if content else {}
        delta.update(fields)
        if index not in self._sent_role:
            delta["role"] = "assistant"
            self._sent_role.add(index)
        return {
            "index": index,
            "delta": delta,
            "logprobs": {"content": _chat_logprobs(logprobs)} if logprobs else None,
            "finish_reason": finish_reason,
        }

    def tool_call(self, call: ToolCall) -> bytes:
        # As OpenAI streams a call: its id, type and name first, then its arguments.
        index = self._calls
        self._calls += 1
        head = {"index": index, "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": ""}}  # fmt: skip
        arguments = {"index": index, "function": {"arguments": call.arguments}}
        return _event(self._chunk([self._choice("", None, tool_calls=[head])])) + _event(
            self._chunk([self._choice("", None, tool_calls=[arguments])])
        )

    def _whole_choice(self, choice: Choice, index: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": choice.text}
        if choice.tool_calls:
            message["content"] = choice.text or None
            message["tool_calls"] = [_tool_call(call) for call in choice.tool_calls]
        return {
            "index": index,
            "message": message,
            "logprobs": {"content": _chat_logprobs(choice.logprobs)} if choice.logprobs else None,
            "finish_reason": choice.reason,
        }


class _CompletionWire(_Wire):
    object_name = "text_completion"
    chunk_object_name = "text_completion"
    id_prefix = "cmpl"

    def __init__(self, model: str, *, include_usage: bool, fields: FieldNames) -> None:
        super().__init__(model, include_usage=include_usage, fields=fields)
        self._offsets: dict[int, int] = {}  # each choice's tokens so far, for text_offset

    def _choice(
        self,
        content: str,
        finish_reason: str | None,
        *,
        index: int = 0,
        logprobs: tuple[TokenLogprob, ...] = (),
    ) -> dict[str, Any]:
        legacy = None
        if logprobs:
            start = self._offsets.get(index, 0)
            self._offsets[index] = start + sum(len(entry.token) for entry in logprobs)
            legacy = _legacy_logprobs(logprobs, start)
        return {"index": index, "text": content, "logprobs": legacy, "finish_reason": finish_reason}

    def _whole_choice(self, choice: Choice, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "text": choice.text,
            "logprobs": _legacy_logprobs(choice.logprobs, 0) if choice.logprobs else None,
            "finish_reason": choice.reason,
        }


def _chat_logprobs(logprobs: tuple[TokenLogprob, ...]) -> list[dict[str, Any]]:
    """Chat completions' ``logprobs.content``: each token, its log probability, its bytes
    and its ``top_logprobs``."""
    return [
        {
            "token": entry.token,
            "logprob": entry.logprob,
            "bytes": list(_bytes(entry)),
            "top_logprobs": [
                {"token": alt.token, "logprob": alt.logprob, "bytes": list(_bytes(alt))}
                for alt in entry.top
            ],
        }
        for entry in logprobs
    ]


def _legacy_logprobs(logprobs: tuple[TokenLogprob, ...], start: int) -> dict[str, Any]:
    """Completions' ``logprobs``: ``tokens``, ``token_logprobs``, ``top_logprobs`` (one
    ``{token: logprob}`` per position) and ``text_offset`` (where each token starts in the
    choice's text)."""
    offsets: list[int] = []
    for entry in logprobs:
        offsets.append(start)
        start += len(entry.token)
    return {
        "tokens": [entry.token for entry in logprobs],
        "token_logprobs": [entry.logprob for entry in logprobs],
        "top_logprobs": [{alt.token: alt.logprob for alt in entry.top} for entry in logprobs],
        "text_offset": offsets,
    }


def _bytes(entry: TokenLogprob) -> tuple[int, ...]:
    return entry.bytes if entry.bytes is not None else tuple(entry.token.encode())
