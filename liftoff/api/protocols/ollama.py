"""Ollama-compatible surface: ``/api/chat``, ``/api/generate``, ``/api/embed``,
``/api/version`` (the model listings, ``/api/tags``, ``/api/show`` and ``/api/ps``, are in
``ollama_models``). Streams are NDJSON whose last line carries ``done`` and the counters.

What each request field does is in ``liftoff.api.protocols.parameters`` (``OLLAMA_CHAT``,
``OLLAMA_GENERATE``, ``OLLAMA_EMBED``). Only generation, embedding and listing are offered:
model management (pull, create, push, copy, delete) is never reachable through the gateway,
whatever backend sits behind it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from liftoff.api.backends.base import (
    KEEP_ALIVE_PATTERN,
    ChatMessage,
    Completion,
    Finish,
    GenerationRequest,
    SamplingOptions,
    TextDelta,
    TokenLogprob,
    ToolCall,
    Usage,
    keep_alive_seconds,
)
from liftoff.api.deps import CallerDep, GeneratorDep
from liftoff.api.errors import FieldError, Forbidden, InvalidRequest, ServiceError
from liftoff.api.protocols.bounds import (
    MAX_EMBEDDING_INPUTS,
    MAX_MESSAGES,
    ModelName,
    Seed,
    StopList,
)
from liftoff.api.protocols.errors import OLLAMA_ERRORS, FieldNames
from liftoff.api.protocols.parameters import (
    OLLAMA_CHAT,
    OLLAMA_EMBED,
    OLLAMA_GENERATE,
    Nested,
    Policed,
    Policy,
)
from liftoff.api.protocols.streaming import TEXT_MARK, json_string, json_template, respond
from liftoff.api.protocols.tool_fields import (
    MAX_TOOL_CALLS,
    OllamaFormat,
    OllamaImages,
    OllamaToolCall,
    Tools,
    check_ollama_images,
    ollama_format,
    ollama_images,
    to_tools,
    with_tool_names,
)
from liftoff.server.disconnect import unless_disconnected
from liftoff.server.errors import plain_error_body
from liftoff.server.openapi import streaming_response

router = APIRouter(prefix="/api", tags=["Ollama-compatible"], responses=OLLAMA_ERRORS)

# The Ollama release whose API this surface follows (docs/api.md); clients gate features on it.
OLLAMA_API_VERSION = "0.12.6"
MANAGEMENT_PATHS = ("pull", "push", "create", "copy", "delete", "blobs/{digest}")

# Sampling options are `options.*` here too; the token limit is `options.num_predict`, and
# log probabilities are top-level fields.
_NAMES = {
    "options.max_tokens": "options.num_predict",
    "options.logprobs": "logprobs",
    "num_ctx": "options.num_ctx",
    "response_format": "format",
}
FIELDS = FieldNames(_NAMES)
# /api/generate without `raw` sends its prompt as a one-turn chat (a system turn first when
# `system` is set); its images are the user turn's.
TEMPLATED_PROMPT_FIELDS = FieldNames(
    {**_NAMES, "messages": "prompt", "messages.0.images": "images", "messages.1.images": "images"}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Options(Nested):
    """Ollama's model options (api/types.go ``Options``): the sampling ones are honoured on
    every backend that can; the rest are neutral-only or refused (``OLLAMA_OPTIONS``)."""

    __rules__ = (OLLAMA_GENERATE, "options.")  # the same options on /api/chat

    num_ctx: int | None = Field(default=None, ge=1)
    num_predict: int | None = Field(
        default=None,
        ge=-2,
        description="-1: no limit; not 0",
        json_schema_extra={"not": {"const": 0}},
    )
    temperature: float | None = Field(default=None, ge=0)
    top_k: int | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    min_p: float | None = Field(default=None, ge=0, le=1)
    typical_p: float | None = Field(default=None, ge=0)
    repeat_penalty: float | None = Field(default=None, gt=0)
    repeat_last_n: int | None = Field(default=None, ge=-1)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: Seed | None = None
    stop: str | StopList | None = None
    num_keep: int | None = None
    tfs_z: float | None = None
    mirostat: int | None = None
    mirostat_tau: float | None = None
    mirostat_eta: float | None = None
    penalize_newline: bool | None = None

    def sampling(self, logprobs: int | None) -> SamplingOptions:
        # num_predict -1 (no limit) and -2 (fill the context) both mean "no explicit cap".
        limit = self.num_predict if self.num_predict is not None and self.num_predict > 0 else None
        if self.num_predict == 0:
            raise InvalidRequest("options.num_predict must not be 0", param="options.num_predict")
        stop = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return SamplingOptions(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            typical_p=self.typical_p,
            max_tokens=limit,
            stop=tuple(stop),
            seed=self.seed,
            # 0 is no penalty on every backend: the same as leaving it to the backend.
            frequency_penalty=self.frequency_penalty or None,
            presence_penalty=self.presence_penalty or None,
            repeat_penalty=self.repeat_penalty,
            repeat_last_n=self.repeat_last_n,
            logprobs=logprobs,
        )


class Message(_Strict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: OllamaImages | None = None
    thinking: str | None = None
    tool_calls: Annotated[list[OllamaToolCall], Field(max_length=MAX_TOOL_CALLS)] | None = None
    tool_name: str | None = Field(default=None, max_length=64)
    # Sent by clients that keep OpenAI-style ids (LangChain's ChatOllama).
    tool_call_id: str | None = Field(default=None, max_length=256)

    _images = field_validator("images")(check_ollama_images)

    def to_chat_message(self, index: int) -> ChatMessage:
        where = f"messages.{index}"
        if self.images and self.role != "user":
            raise InvalidRequest(
                f"{where}.images: only user messages carry images", param=f"{where}.images"
            )
        if self.tool_calls and self.role != "assistant":
            raise InvalidRequest(
                f"{where}.tool_calls: only assistant messages call tools",
                param=f"{where}.tool_calls",
            )
        tool = self.role == "tool"
        return ChatMessage(
            self.role,
            self.content,
            images=ollama_images(self.images),
            tool_calls=tuple(call.to_call() for call in self.tool_calls or ()),
            tool_call_id=self.tool_call_id if tool else None,
            name=self.tool_name if tool else None,
        )


KeepAlive = Annotated[str, Field(json_schema_extra={"pattern": KEEP_ALIVE_PATTERN})] | float


class _Request(Policed):
    __policy__: ClassVar[Policy]

    model: ModelName
    stream: bool = True
    options: Options | None = None
    keep_alive: KeepAlive | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    think: bool | Literal["high", "medium", "low"] | None = None
    truncate: bool | None = None
    shift: bool | None = None
    format: OllamaFormat | None = None

    @field_validator("keep_alive")
    @classmethod
    def _valid_keep_alive(cls, value: KeepAlive | None) -> KeepAlive | None:
        return _keep_alive(value)

    def generation(self, **turns: Any) -> GenerationRequest:
        if self.top_logprobs is not None and not self.logprobs:
            raise FieldError("top_logprobs", "needs logprobs: true")
        options = self.options or Options()
        return GenerationRequest(
            model=self.model,
            options=options.sampling((self.top_logprobs or 0) if self.logprobs else None),
            num_ctx=options.num_ctx,
            keep_alive=self.keep_alive,
            **turns,
        )


class ChatRequest(_Request):
    __policy__ = OLLAMA_CHAT

    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    tools: Tools | None = None

    def to_generation(self) -> GenerationRequest:
        messages = tuple(m.to_chat_message(i) for i, m in enumerate(self.messages))
        return self.generation(
            messages=with_tool_names(messages),
            tools=to_tools(self.tools),
            response_format=ollama_format(self.format),
        )


class GenerateRequest(_Request):
    __policy__ = OLLAMA_GENERATE

    prompt: str = ""
    system: str | None = None
    raw: bool = False
    images: OllamaImages | None = None
    suffix: str | None = None  # neutral-only: none
    template: str | None = None  # neutral-only: none
    context: list[int] | None = None  # neutral-only: none

    _images = field_validator("images")(check_ollama_images)

    def to_generation(self) -> GenerationRequest:
        response_format = ollama_format(self.format)
        if self.raw:
            if self.images:
                raise InvalidRequest(
                    "images: a raw prompt has no turn to carry them; send them without raw",
                    param="images",
                )
            return self.generation(prompt=self.prompt, response_format=response_format)
        # Without raw, Ollama applies the model's chat template: a one-turn chat.
        turns = [ChatMessage("system", self.system)] if self.system else []
        turns.append(ChatMessage("user", self.prompt, images=ollama_images(self.images)))
        return self.generation(messages=tuple(turns), response_format=response_format)


class EmbedRequest(Policed):
    __policy__ = OLLAMA_EMBED

    model: ModelName
    input: str | Annotated[list[str], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    truncate: bool = True
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive | None = None

    @field_validator("keep_alive")
    @classmethod
    def _valid_keep_alive(cls, value: KeepAlive | None) -> KeepAlive | None:
        return _keep_alive(value)


def _keep_alive(value: KeepAlive | None) -> KeepAlive | None:
    if value is not None:
        keep_alive_seconds(value)  # raises ValueError naming the format
    return value


@router.post("/chat", response_model=None, responses=streaming_response("application/x-ndjson"))
async def chat(
    body: ChatRequest, generator: GeneratorDep, caller: CallerDep, http: Request
) -> dict[str, Any] | StreamingResponse:
    """Chat; NDJSON stream unless ``stream`` is false."""
    wire = _ChatWire(body.model, FIELDS)
    return await respond(
        generator, body.to_generation(), caller, wire, stream=body.stream, connection=http
    )


@router.post("/generate", response_model=None, responses=streaming_response("application/x-ndjson"))
async def generate(
    body: GenerateRequest, generator: GeneratorDep, caller: CallerDep, http: Request
) -> dict[str, Any] | StreamingResponse:
    """Completion of a prompt; NDJSON stream unless ``stream`` is false."""
    wire = _GenerateWire(body.model, FIELDS if body.raw else TEMPLATED_PROMPT_FIELDS)
    if not body.prompt and not body.system:
        # docs/api.md "Load a model" / "Unload a model" (keep_alive 0).
        reason = await generator.load(body.model, body.keep_alive)
        loaded = {**wire.header(), "response": "", "done": True, "done_reason": reason}
        return _ndjson_once(loaded) if body.stream else loaded
    return await respond(
        generator, body.to_generation(), caller, wire, stream=body.stream, connection=http
    )


@router.post("/embed")
async def embed(
    body: EmbedRequest, generator: GeneratorDep, caller: CallerDep, http: Request
) -> dict[str, Any]:
    """One embedding per input; inputs longer than the model's window are cut to fit unless
    ``truncate`` is false (then a 400 names the input), as Ollama does. Stops when the
    client leaves."""
    started = time.perf_counter_ns()
    inputs = [body.input] if isinstance(body.input, str) else body.input
    embedding = generator.embed(
        body.model, inputs, caller, truncate=body.truncate, keep_alive=body.keep_alive
    )
    result = await unless_disconnected(http, embedding)
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


def _logprobs(logprobs: tuple[TokenLogprob, ...]) -> list[dict[str, Any]]:
    """Ollama's ``logprobs``: each token with its log probability, bytes and alternatives."""
    return [
        {
            "token": entry.token,
            "logprob": entry.logprob,
            "bytes": list(entry.bytes or entry.token.encode()),
            "top_logprobs": [
                {"token": alt.token, "logprob": alt.logprob,
                 "bytes": list(alt.bytes or alt.token.encode())}
                for alt in entry.top
            ],
        }
        for entry in logprobs
    ]  # fmt: skip


def _ndjson_once(payload: dict[str, Any]) -> StreamingResponse:
    async def body() -> Any:
        yield _line(payload)

    return StreamingResponse(body(), media_type="application/x-ndjson")


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode() + b"\n"


def _tool_call(index: int, call: ToolCall) -> dict[str, Any]:
    function = {"index": index, "name": call.name, "arguments": json.loads(call.arguments)}
    return {"id": call.id, "function": function}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Wire:
    media_type = "application/x-ndjson"
    headers = None

    def __init__(self, model: str, fields: FieldNames) -> None:
        self.model = model
        self.fields = fields
        self.started_ns = time.perf_counter_ns()
        self._calls = 0
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

    def delta(self, event: TextDelta) -> bytes:
        if event.logprobs:
            line = {**self.header(), **self.content(event.text), "done": False}
            return _line({**line, "logprobs": _logprobs(event.logprobs)})
        text = event.text
        return self._head + self._created_at() + self._middle + json_string(text) + self._tail

    def _created_at(self) -> bytes:
        """Now as a JSON string in RFC 3339 with microseconds, UTC (``_now()``'s instant);
        the date and time to the second are formatted once a second, not once a token."""
        second, micros = divmod(time.time_ns() // 1000, 1_000_000)
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second, self._second_prefix = second, f'"{moment}.'.encode()
        return self._second_prefix + b'%06dZ"' % micros

    def final(
        self, reason: str, usage: Usage, text: str = "", calls: tuple[ToolCall, ...] = ()
    ) -> dict[str, Any]:
        content = self.content(text)
        if calls:
            content["message"]["tool_calls"] = [_tool_call(i, c) for i, c in enumerate(calls)]
        return {
            **self.header(),
            **content,
            "done": True,
            # Ollama ends an answer that called tools with "stop" too.
            "done_reason": "stop" if reason == "tool_calls" else reason,
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
        whole = self.final(
            completion.reason, completion.usage, completion.text, completion.tool_calls
        )
        if completion.logprobs:
            whole["logprobs"] = _logprobs(completion.logprobs)
        return whole

    def tool_call(self, call: ToolCall) -> bytes:
        # Ollama streams each call whole, in a chunk of its own.
        content = self.content("")
        content["message"]["tool_calls"] = [_tool_call(self._calls, call)]
        self._calls += 1
        return _line({**self.header(), **content, "done": False})

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
