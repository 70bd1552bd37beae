"""OpenAI-compatible surface: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/models``,
``/v1/embeddings``. Streams are server-sent events ending in ``data: [DONE]``.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from liftoff.api.backends.base import (
    ChatMessage,
    Completion,
    Finish,
    GenerationRequest,
    SamplingOptions,
    Usage,
)
from liftoff.api.deps import CallerDep, GeneratorDep
from liftoff.api.errors import InvalidRequest, ServiceError
from liftoff.api.protocols.errors import OPENAI_ERRORS, FieldNames
from liftoff.api.protocols.streaming import TEXT_MARK, json_string, json_template, respond
from liftoff.server.errors import openai_error_body
from liftoff.server.openapi import streaming_response

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], responses=OPENAI_ERRORS)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

# The request's sampling options are top-level fields here.
FIELDS = FieldNames({"options": ""})
# A chat request's limit is max_completion_tokens when the client sent it.
COMPLETION_TOKENS_FIELDS = FieldNames(
    {"options": "", "options.max_tokens": "max_completion_tokens"}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart]
    name: str | None = None

    def to_chat_message(self) -> ChatMessage:
        text = (
            self.content
            if isinstance(self.content, str)
            else "".join(part.text for part in self.content)
        )
        # "developer" is OpenAI's newer name for the system role.
        return ChatMessage("system" if self.role == "developer" else self.role, text)


class StreamOptions(_Strict):
    include_usage: bool = False


class _Sampling(_Strict):
    model: str = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=1, description="extension, as in vLLM")
    max_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = Field(default=None)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1, description="only one choice is generated")
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Accepted for compatibility with clients that always send them; they change nothing.
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None

    def sampling(self, max_tokens: int | None) -> SamplingOptions:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return SamplingOptions(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            max_tokens=max_tokens,
            stop=tuple(stop),
            seed=self.seed,
        )

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class ChatCompletionRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    parallel_tool_calls: bool | None = None

    def to_generation(self) -> GenerationRequest:
        return GenerationRequest(
            model=self.model,
            messages=tuple(message.to_chat_message() for message in self.messages),
            options=self.sampling(self.max_completion_tokens or self.max_tokens),
        )


class CompletionRequest(_Sampling):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)]

    def to_generation(self) -> GenerationRequest:
        prompt = self.prompt if isinstance(self.prompt, str) else self.prompt[0]
        return GenerationRequest(
            model=self.model, prompt=prompt, options=self.sampling(self.max_tokens)
        )


class EmbeddingRequest(_Strict):
    model: str = Field(min_length=1)
    input: str | Annotated[list[str], Field(min_length=1, max_length=2048)]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


@router.post(
    "/chat/completions", response_model=None, responses=streaming_response("text/event-stream")
)
async def chat_completions(
    body: ChatCompletionRequest, generator: GeneratorDep, caller: CallerDep
) -> dict[str, Any] | StreamingResponse:
    """Chat completion, streamed as server-sent events when ``stream`` is true."""
    fields = COMPLETION_TOKENS_FIELDS if body.max_completion_tokens else FIELDS
    wire = _ChatWire(body.model, include_usage=body.include_usage, fields=fields)
    return await respond(generator, body.to_generation(), caller, wire, stream=body.stream)


@router.post("/completions", response_model=None, responses=streaming_response("text/event-stream"))
async def completions(
    body: CompletionRequest, generator: GeneratorDep, caller: CallerDep
) -> dict[str, Any] | StreamingResponse:
    """Raw text completion, streamed as server-sent events when ``stream`` is true."""
    wire = _CompletionWire(body.model, include_usage=body.include_usage, fields=FIELDS)
    return await respond(generator, body.to_generation(), caller, wire, stream=body.stream)


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
    body: EmbeddingRequest, generator: GeneratorDep, caller: CallerDep
) -> dict[str, Any]:
    """One embedding per input, as floats or base64-encoded little-endian float32."""
    if body.dimensions is not None:
        raise InvalidRequest("dimensions is not supported by this model", param="dimensions")
    inputs = [body.input] if isinstance(body.input, str) else body.input
    result = await generator.embed(body.model, inputs, caller)
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

    def _choice(self, content: str, finish_reason: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def delta(self, text: str) -> bytes:
        # Every delta of a stream is the same JSON but for its text: encode that once and
        # splice each text in (the hot path: once per token for every open stream).
        if self._delta_template is None:
            if not self._template_ready():
                return _event(self._chunk([self._choice(text, None)]))
            self._delta_template = json_template(
                _event(self._chunk([self._choice(TEXT_MARK, None)]))
            )
        head, tail = self._delta_template
        return head + json_string(text) + tail

    def _template_ready(self) -> bool:
        return True

    def finish(self, finish: Finish) -> bytes:
        events = _event(self._chunk([self._choice("", finish.reason)]))
        if self.include_usage:
            events += _event({**self._chunk([]), "usage": _usage(finish.usage)})
        return events

    def error(self, error: ServiceError) -> bytes:
        return _event(openai_error_body(error))

    def end(self) -> bytes:
        return b"data: [DONE]\n\n"


class _ChatWire(_Wire):
    object_name = "chat.completion"
    chunk_object_name = "chat.completion.chunk"
    id_prefix = "chatcmpl"

    def __init__(self, model: str, *, include_usage: bool, fields: FieldNames) -> None:
        super().__init__(model, include_usage=include_usage, fields=fields)
        self._sent_role = False

    def _template_ready(self) -> bool:
        return self._sent_role  # the first delta also carries the role

    def _choice(self, content: str, finish_reason: str | None) -> dict[str, Any]:
        delta: dict[str, Any] = {"content": content} if content else {}
        if not self._sent_role:
            delta["role"] = "assistant"
            self._sent_role = True
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    def whole(self, completion: Completion) -> dict[str, Any]:
        message = {"role": "assistant", "content": completion.text}
        choice = {"index": 0, "message": message, "logprobs": None}
        return {
            "id": self.id,
            "object": self.object_name,
            "created": self.created,
            "model": self.model,
            "choices": [{**choice, "finish_reason": completion.reason}],
            "usage": _usage(completion.usage),
        }


class _CompletionWire(_Wire):
    object_name = "text_completion"
    chunk_object_name = "text_completion"
    id_prefix = "cmpl"

    def _choice(self, content: str, finish_reason: str | None) -> dict[str, Any]:
        return {"index": 0, "text": content, "logprobs": None, "finish_reason": finish_reason}

    def whole(self, completion: Completion) -> dict[str, Any]:
        choice = self._choice(completion.text, completion.reason)
        return {
            "id": self.id,
            "object": self.object_name,
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": _usage(completion.usage),
        }
