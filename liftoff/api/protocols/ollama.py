"""Ollama-compatible surface: ``/api/chat``, ``/api/generate``, ``/api/tags``, ``/api/embed``,
``/api/version``. Streams are NDJSON whose last line carries ``done`` and the counters.

Only generation, embedding and listing are offered: model management (pull, create, push,
copy, delete) is never reachable through the gateway, whatever backend sits behind it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
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
from liftoff.api.errors import Forbidden, InvalidRequest, ServiceError
from liftoff.api.protocols.errors import OLLAMA_ERRORS, FieldNames
from liftoff.api.protocols.streaming import TEXT_MARK, json_string, json_template, respond
from liftoff.server.errors import plain_error_body
from liftoff.server.openapi import streaming_response

router = APIRouter(prefix="/api", tags=["Ollama-compatible"], responses=OLLAMA_ERRORS)

# The Ollama release whose API this surface follows (docs/api.md); clients gate features on it.
OLLAMA_API_VERSION = "0.12.6"
MANAGEMENT_PATHS = ("pull", "push", "create", "copy", "delete", "blobs/{digest}")

# Sampling options are `options.*` here too; the token limit is `options.num_predict`.
_NAMES = {"options.max_tokens": "options.num_predict"}
FIELDS = FieldNames(_NAMES)
# /api/generate without `raw` sends its prompt as a one-turn chat.
TEMPLATED_PROMPT_FIELDS = FieldNames({**_NAMES, "messages": "prompt"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Options(_Strict):
    """Ollama's documented model options. The sampling ones are honoured on every backend;
    the others tune Ollama's runtime and are accepted so existing clients keep working."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=1)
    num_predict: int | None = Field(default=None, ge=-2, description="-1: no limit")
    stop: list[str] | None = None
    seed: int | None = None
    num_ctx: int | None = Field(default=None, ge=1)
    num_keep: int | None = None
    min_p: float | None = None
    typical_p: float | None = None
    tfs_z: float | None = None
    repeat_last_n: int | None = None
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    mirostat: int | None = None
    mirostat_tau: float | None = None
    mirostat_eta: float | None = None
    penalize_newline: bool | None = None
    numa: bool | None = None
    num_batch: int | None = None
    num_gpu: int | None = None
    main_gpu: int | None = None
    low_vram: bool | None = None
    f16_kv: bool | None = None
    logits_all: bool | None = None
    vocab_only: bool | None = None
    use_mmap: bool | None = None
    use_mlock: bool | None = None
    embedding_only: bool | None = None
    num_thread: int | None = None

    def sampling(self) -> SamplingOptions:
        # num_predict -1 (no limit) and -2 (fill the context) both mean "no explicit cap".
        limit = self.num_predict if self.num_predict is not None and self.num_predict > 0 else None
        if self.num_predict == 0:
            raise InvalidRequest("options.num_predict must not be 0", param="options.num_predict")
        return SamplingOptions(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            max_tokens=limit,
            stop=tuple(self.stop or ()),
            seed=self.seed,
        )


class Message(_Strict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    images: Annotated[list[str], Field(max_length=0)] | None = None
    thinking: str | None = None
    tool_name: str | None = None


class _Request(_Strict):
    model: str = Field(min_length=1)
    stream: bool = True
    options: Options | None = None
    keep_alive: str | int | float | None = None  # the gateway's setting decides
    format: Annotated[str, Field(max_length=0)] | None = None
    think: Literal[False] | None = None

    def sampling(self) -> SamplingOptions:
        return (self.options or Options()).sampling()


class ChatRequest(_Request):
    messages: list[Message] = Field(min_length=1)
    tools: Annotated[list[Any], Field(max_length=0)] | None = None

    def to_generation(self) -> GenerationRequest:
        messages = tuple(ChatMessage(m.role, m.content) for m in self.messages)
        return GenerationRequest(model=self.model, messages=messages, options=self.sampling())


class GenerateRequest(_Request):
    prompt: str = ""
    system: str | None = None
    raw: bool = False
    images: Annotated[list[str], Field(max_length=0)] | None = None
    suffix: Annotated[str, Field(max_length=0)] | None = None
    template: Annotated[str, Field(max_length=0)] | None = None
    context: Annotated[list[int], Field(max_length=0)] | None = None

    def to_generation(self) -> GenerationRequest:
        if self.raw:
            return GenerationRequest(model=self.model, prompt=self.prompt, options=self.sampling())
        # Without raw, Ollama applies the model's chat template: a one-turn chat.
        turns = [ChatMessage("system", self.system)] if self.system else []
        turns.append(ChatMessage("user", self.prompt))
        return GenerationRequest(model=self.model, messages=tuple(turns), options=self.sampling())


class EmbedRequest(_Strict):
    model: str = Field(min_length=1)
    input: str | Annotated[list[str], Field(min_length=1, max_length=2048)]
    truncate: bool = True
    options: Options | None = None
    keep_alive: str | int | float | None = None
    dimensions: int | None = None


@router.post("/chat", response_model=None, responses=streaming_response("application/x-ndjson"))
async def chat(
    body: ChatRequest, generator: GeneratorDep, caller: CallerDep
) -> dict[str, Any] | StreamingResponse:
    """Chat; NDJSON stream unless ``stream`` is false."""
    wire = _ChatWire(body.model, FIELDS)
    return await respond(generator, body.to_generation(), caller, wire, stream=body.stream)


@router.post("/generate", response_model=None, responses=streaming_response("application/x-ndjson"))
async def generate(
    body: GenerateRequest, generator: GeneratorDep, caller: CallerDep
) -> dict[str, Any] | StreamingResponse:
    """Completion of a prompt; NDJSON stream unless ``stream`` is false."""
    wire = _GenerateWire(body.model, FIELDS if body.raw else TEMPLATED_PROMPT_FIELDS)
    if not body.prompt and not body.system:
        # Ollama answers an empty prompt by loading the model; ours is ready when served.
        await generator.check_ready()
        loaded = {**wire.header(), "response": "", "done": True, "done_reason": "load"}
        return _ndjson_once(loaded) if body.stream else loaded
    return await respond(generator, body.to_generation(), caller, wire, stream=body.stream)


@router.get("/tags")
async def tags(generator: GeneratorDep) -> dict[str, Any]:
    """The models requests may name, in Ollama's listing shape."""
    models = []
    for model in await generator.list_models():
        details = {
            "format": "gguf",
            "family": model.family or "",
            "families": [model.family] if model.family else None,
            "parameter_size": "",
            "quantization_level": model.quantization or "",
        }
        models.append(
            {
                "name": model.id,
                "model": model.id,
                "modified_at": model.modified_at or _now(),
                "size": model.size_bytes or 0,
                "digest": model.digest or "",
                "details": details,
            }
        )
    return {"models": models}


@router.post("/embed")
async def embed(body: EmbedRequest, generator: GeneratorDep, caller: CallerDep) -> dict[str, Any]:
    """One embedding per input."""
    if body.dimensions is not None:
        raise InvalidRequest("dimensions is not supported by this model", param="dimensions")
    started = time.perf_counter_ns()
    inputs = [body.input] if isinstance(body.input, str) else body.input
    result = await generator.embed(body.model, inputs, caller)
    return {
        "model": body.model,
        "embeddings": result.vectors,
        "total_duration": time.perf_counter_ns() - started,
        "load_duration": 0,
        "prompt_eval_count": result.prompt_tokens,
    }


@router.get("/version")
async def version() -> dict[str, str]:
    """The Ollama API version this surface is compatible with."""
    return {"version": OLLAMA_API_VERSION}


class _ManagementClosed(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "model management (pull, create, push, copy, delete) is not available through "
            "the gateway; run `liftoff pull MODEL` on the host instead"
        )


async def _model_management_is_closed() -> None:
    raise _ManagementClosed()


for _path in MANAGEMENT_PATHS:
    router.add_api_route(
        f"/{_path}",
        _model_management_is_closed,
        methods=["GET", "POST", "PUT", "DELETE", "HEAD"],
        include_in_schema=False,
    )


def _ndjson_once(payload: dict[str, Any]) -> StreamingResponse:
    async def body() -> Any:
        yield _line(payload)

    return StreamingResponse(body(), media_type="application/x-ndjson")


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode() + b"\n"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Wire:
    media_type = "application/x-ndjson"
    headers = None

    def __init__(self, model: str, fields: FieldNames) -> None:
        self.model = model
        self.fields = fields
        self.started_ns = time.perf_counter_ns()
        # Each delta line is the same JSON but for its time and text: encode it once.
        template = {"model": model, "created_at": TEXT_MARK, **self.content(TEXT_MARK)}
        self._head, self._middle, self._tail = json_template(
            _line({**template, "done": False}), marks=2
        )
        self._second = -1  # the whole second _second_prefix encodes
        self._second_prefix = b""

    def header(self) -> dict[str, Any]:
        return {"model": self.model, "created_at": _now()}

    def content(self, text: str) -> dict[str, Any]:
        raise NotImplementedError

    def delta(self, text: str) -> bytes:
        return self._head + self._created_at() + self._middle + json_string(text) + self._tail

    def _created_at(self) -> bytes:
        """Now as a JSON string in RFC 3339 with microseconds, UTC (``_now()``'s instant);
        the date and time to the second are formatted once a second, not once a token."""
        second, micros = divmod(time.time_ns() // 1000, 1_000_000)
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second, self._second_prefix = second, f'"{moment}.'.encode()
        return self._second_prefix + b'%06dZ"' % micros

    def final(self, reason: str, usage: Usage, text: str = "") -> dict[str, Any]:
        return {
            **self.header(),
            **self.content(text),
            "done": True,
            "done_reason": reason,
            "total_duration": time.perf_counter_ns() - self.started_ns,
            "load_duration": 0,
            "prompt_eval_count": usage.prompt_tokens,
            "prompt_eval_duration": usage.prompt_duration_ns or 0,
            "eval_count": usage.completion_tokens,
            "eval_duration": usage.generation_duration_ns or 0,
        }

    def finish(self, finish: Finish) -> bytes:
        return _line(self.final(finish.reason, finish.usage))

    def whole(self, completion: Completion) -> dict[str, Any]:
        return self.final(completion.reason, completion.usage, completion.text)

    def error(self, error: ServiceError) -> bytes:
        return _line(plain_error_body(error))

    def end(self) -> bytes:
        return b""


class _ChatWire(_Wire):
    def content(self, text: str) -> dict[str, Any]:
        return {"message": {"role": "assistant", "content": text}}


class _GenerateWire(_Wire):
    def content(self, text: str) -> dict[str, Any]:
        return {"response": text}
