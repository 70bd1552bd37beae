"""The Ollama backend: an Ollama server, reached with the official ``ollama`` client.

Preparation runs in the background. ``start()`` launches a task that waits for Ollama,
pulls the model if it is missing (logging progress), and loads it with an empty-prompt
generate, so the first user request is not a cold start. While Ollama is down the task
retries with capped backoff and ``check_ready()`` says what is missing; the gateway
stays up and turns ready on its own.

Generations always stream upstream (``/api/chat`` for messages, ``/api/generate`` with
``raw`` for prompts). Closing the iterator closes the HTTP response, and Ollama stops
generating when its client goes away.

Context-window overflow. By default Ollama drops the start of an over-long prompt (or
the oldest chat messages) without a word: HTTP 200, and only a ``prompt_eval_count``
smaller than what was sent. Two defences, strongest first:

1. Every chat/generate request carries ``"truncate": false`` and ``"shift": false``. Ollama
   0.12.6 and later then refuse an over-long prompt with HTTP 400 ("the input length
   exceeds the context length") before generating, and stop with ``done_reason:
   "length"`` instead of sliding the window when the answer fills the context. Older
   servers ignore unknown fields, so sending them costs nothing there.
2. For those older servers, which truncate the prompt to exactly ``num_ctx`` tokens: a
   final chunk whose ``prompt_eval_count`` reaches the context window means the prompt
   did not fit. The window is the configured ``num_ctx``, else what ``/api/ps`` reports
   for the loaded model, else the Modelfile's ``num_ctx`` parameter from ``/api/show``.
   This is only known at the end of the stream, so the error follows the streamed text.

Both become ``ContextLengthExceeded``. ``/api/embed`` takes ``truncate`` officially: the
request's choice goes through (Ollama's own default is to truncate), and a refusal
becomes ``ContextLengthExceeded`` too.

A request's ``num_ctx`` and ``keep_alive`` go to Ollama as they are (the gateway's settings
are the defaults); so do its log-probability fields, which Ollama returns per chunk.

An embedding model (``embedding_model``, e.g. ``all-minilm``) is pulled with the chat model
when missing; the gateway is ready once both are there. Requests may still name any model
Ollama has, for generation and embeddings alike, as Ollama allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import replace
from typing import Any, Literal, cast

import httpx
import pydantic
from ollama import AsyncClient, ListResponse, ProgressResponse, ResponseError

from liftoff.api.backends.base import (
    Backend,
    Capability,
    ChatMessage,
    Embeddings,
    Finish,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    TextDelta,
    TokenLogprob,
    ToolCall,
    Usage,
)
from liftoff.api.backends.wire import OLLAMA_NAMES, finish_reason, openai_tool, sampling_fields
from liftoff.api.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    FieldError,
    InvalidRequest,
    ModelNotFound,
    ServiceError,
)
from liftoff.api.tools import constrained, new_call_id

log = logging.getLogger(__name__)

# What the ollama client lets escape: HTTP/stream errors as ResponseError, the rest raw.
_UPSTREAM_ERRORS = (
    ResponseError,
    httpx.HTTPError,
    ConnectionError,
    json.JSONDecodeError,
    pydantic.ValidationError,
)
# Ollama's wordings for "prompt longer than the context" across its runners.
_CONTEXT_ERROR_MARKERS = (
    "exceeds the context length",
    "longer than the context length",
    "exceeds the available context",
)
_PROGRESS_STEP_PERCENT = 5


class OllamaBackend(Backend):
    """Generates with a model served by Ollama.

    >>> backend = OllamaBackend("http://127.0.0.1:11434", "llama3.1:8b", num_ctx=8192)
    >>> await backend.start()          # returns at once; pull and load run in the background
    >>> await backend.check_ready()    # BackendUnavailable until the model is loaded
    >>> await collect(backend.generate(GenerationRequest(model="llama3.1:8b", prompt="Hello")))
    """

    name = "ollama"

    def __init__(
        self,
        host: str,
        model: str,
        *,
        keep_alive: str | float | None = "5m",
        pull_if_missing: bool = True,
        num_ctx: int | None = None,
        connect_timeout: float = 5.0,
        timeout: float = 300.0,
        retry_initial_seconds: float = 1.0,
        retry_max_seconds: float = 30.0,
        auth: httpx.Auth | None = None,
        tool_calls: Literal["native", "constrained"] = "native",
        embedding_model: str = "",
    ) -> None:
        self.host = host
        self.model = model
        self._constrained_tools = tool_calls == "constrained"
        self.embedding_model = embedding_model
        self._keep_alive = keep_alive
        self._pull_if_missing = pull_if_missing
        self._num_ctx = num_ctx
        # Readiness probes and model listing must answer fast even when Ollama hangs.
        self._probe_timeout = connect_timeout
        self._retry_initial = retry_initial_seconds
        self._retry_max = retry_max_seconds
        # `timeout` bounds each wait for bytes (first token, next token, pull progress),
        # not the whole generation: a long answer that keeps streaming is never cut.
        self._client = AsyncClient(
            host=host, timeout=httpx.Timeout(timeout, connect=connect_timeout), auth=auth
        )
        self._prepare_task: asyncio.Task[None] | None = None
        self._prepared = False
        self._closed = False
        self._status = "preparation has not started"
        self._model_names: list[str] = []  # from the last /api/tags, for ModelNotFound
        self._context_window = num_ctx

    async def start(self) -> None:
        if self._prepare_task is None and not self._closed:
            self._prepare_task = asyncio.create_task(self._prepare_until_done())

    async def close(self) -> None:
        self._closed = True
        task, self._prepare_task = self._prepare_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        await self._client.close()  # type: ignore[no-untyped-call]  # unannotated upstream

    async def check_ready(self) -> None:
        try:
            await self.check_model_present()
        except BackendUnavailable as exc:
            self._restart_preparation()
            raise BackendUnavailable(f"{exc.message}: {self._status}") from exc
        if not self._prepared:
            raise BackendUnavailable(f"model {self.model} is not loaded yet: {self._status}")

    async def check_model_present(self) -> None:
        listing = await self._list()
        for model in self._configured():
            if not any(_same_model(m.model, model) for m in listing.models):
                raise BackendUnavailable(f"model {model} is not in Ollama yet")

    async def list_models(self) -> list[ModelInfo]:
        listing = await self._list()
        return [_model_info(m, self._capabilities(m.model)) for m in listing.models if m.model]

    def _configured(self) -> list[str]:
        return [model for model in (self.model, self.embedding_model) if model]

    def _capabilities(self, model: str | None) -> tuple[Capability, ...]:
        if _same_model(model, self.model):
            return ("completion",)
        if self.embedding_model and _same_model(model, self.embedding_model):
            return ("embedding",)
        return ()

    async def show(self, model: str) -> ModelInfo:
        with self._translated(model):
            shown = await self._client._request(dict, "POST", "/api/show", json={"model": model})
        listed = {m.id: m for m in await self.list_models()}
        base = listed.get(model) or listed.get(_with_tag(model)) or ModelInfo(id=model)
        details = shown.get("details") or {}
        return replace(
            base,
            family=details.get("family") or base.family,
            quantization=details.get("quantization_level") or base.quantization,
            parameter_size=details.get("parameter_size") or None,
            modified_at=shown.get("modified_at") or base.modified_at,
            context_length=_num_ctx_parameter(shown.get("parameters")),
            capabilities=tuple(shown.get("capabilities") or ()),
            template=shown.get("template"),
            parameters=shown.get("parameters"),
            facts=dict(shown.get("model_info") or {}),
        )

    async def load(self, model: str, keep_alive: str | float | None) -> Literal["load", "unload"]:
        # docs/api.md "Load a model" / "Unload a model": a generate with no prompt.
        body: dict[str, Any] = {"model": model, "stream": False}
        keep_alive = keep_alive if keep_alive is not None else self._keep_alive
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        if _same_model(model, self.model) and (options := self._load_options()):
            body["options"] = options
        with self._translated(model):
            answer = await self._client._request(dict, "POST", "/api/generate", json=body)
        return "unload" if answer.get("done_reason") == "unload" else "load"

    async def running(self) -> list[ModelInfo]:
        with self._translated(None):
            listing = await self._client._request(dict, "GET", "/api/ps")
        running = []
        for model in listing.get("models") or ():
            details = model.get("details") or {}
            running.append(
                ModelInfo(
                    id=model.get("model") or model.get("name") or "",
                    size_bytes=model.get("size"),
                    family=details.get("family"),
                    quantization=details.get("quantization_level"),
                    digest=model.get("digest"),
                    parameter_size=details.get("parameter_size") or None,
                    context_length=model.get("context_length"),
                    expires_at=model.get("expires_at"),
                    size_vram=model.get("size_vram"),
                )
            )
        return running

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Tools are forwarded for Ollama to call (``tool_choice`` auto), unless
        ``tool_calls="constrained"``, or the request forces a call or forbids parallel ones,
        which Ollama cannot: then the gateway makes the call through ``format``
        (``liftoff.api.tools``)."""
        native = request.tool_choice in (None, "auto") and request.parallel_tool_calls is not False
        if not request.tools or (native and not self._constrained_tools):
            return self._generate(request)
        request, reader = constrained(request)
        events = self._generate(request)
        return events if reader is None else reader(events)

    async def _generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:

        chat = request.messages is not None
        param = "messages" if chat else "prompt"
        path, body = self._generation_body(request)
        called = False
        with self._translated(request.model, param=param):
            # ollama-python 0.6 has no `truncate`/`shift` arguments on chat()/generate()
            # (the server grew them in 0.12.6), so the body documented in docs/api.md is
            # built here and sent through the client's own request path, keeping its
            # NDJSON parsing and its ResponseError for HTTP and in-stream errors.
            chunks = cast(
                AsyncGenerator[dict[str, Any], None],
                await self._client._request(dict, "POST", path, json=body, stream=True),
            )
            top = request.options.logprobs
            try:
                async for chunk in chunks:
                    message = chunk.get("message") or {}
                    text = message.get("content") if chat else chunk.get("response")
                    logprobs = _logprobs(chunk.get("logprobs"), top) if top is not None else ()
                    if text or logprobs:
                        yield TextDelta(text or "", 0, logprobs)
                    if message.get("tool_calls"):
                        for call in _tool_calls(message["tool_calls"]):
                            called = True
                            yield call
                    if chunk.get("done"):
                        self._check_not_truncated(request, chunk, param)
                        reason = finish_reason(chunk.get("done_reason"))
                        # Ollama ends an answer that called tools with "stop".
                        yield Finish("tool_calls" if called and reason == "stop" else reason,
                                     _usage(chunk))  # fmt: skip
                        return
            finally:
                # Closes the HTTP response: Ollama sees its client leave and stops generating.
                await chunks.aclose()
        raise BackendError("Ollama ended the stream without a final chunk")

    async def embed(
        self,
        model: str,
        inputs: list[str],
        *,
        truncate: bool = False,
        keep_alive: str | float | None = None,
    ) -> Embeddings:
        with self._translated(model, param="input"):
            response = await self._client.embed(
                model=model,
                input=inputs,
                truncate=truncate,
                options=self._load_options() if _same_model(model, self.model) else None,
                keep_alive=keep_alive if keep_alive is not None else self._keep_alive,
            )
        return Embeddings(
            vectors=[[float(x) for x in vector] for vector in response.embeddings],
            prompt_tokens=response.prompt_eval_count or 0,
        )

    # Preparation --------------------------------------------------------------------

    async def _prepare_until_done(self) -> None:
        delay = self._retry_initial
        last_problem = ""
        while True:
            try:
                await self._prepare()
                return
            except ServiceError as exc:
                # Ollama still booting is routine (Compose starts both together), a failed
                # pull is not; either way a problem is logged once, not at every retry.
                level = logging.WARNING if isinstance(exc, BackendUnavailable) else logging.ERROR
                if exc.message == last_problem:
                    level = logging.DEBUG
                log.log(level, "Ollama model %s is not ready: %s", self.model, exc.message)
                self._status = last_problem = exc.message
            except Exception:  # a bug must not leave the gateway unready forever in silence
                log.exception("unexpected error preparing Ollama model %s", self.model)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_max)

    async def _prepare(self) -> None:
        listing = await self._list()
        for model in self._configured():
            if any(_same_model(m.model, model) for m in listing.models):
                continue
            if not self._pull_if_missing:
                raise BackendError(
                    f"model {model} is not in Ollama and pulling is off "
                    f"(LIFTOFF_OLLAMA_PULL=false); run `ollama pull {model}`"
                )
            await self._pull(model)
        self._status = f"loading {self.model} into memory"
        log.info("loading Ollama model %s", self.model)
        with self._translated(self.model):
            # An empty prompt only loads the model (docs/api.md, "Load a model"). The same
            # num_ctx as real requests, or Ollama reloads the model for the first of them.
            await self._client.generate(
                model=self.model,
                prompt="",
                keep_alive=self._keep_alive,
                options=self._load_options(),
            )
        self._context_window = self._num_ctx or await self._discover_context_window()
        self._prepared = True
        self._status = "ready"
        log.info(
            "Ollama model %s is loaded; context window %s tokens",
            self.model,
            self._context_window or "unknown",
        )

    async def _pull(self, model: str) -> None:
        log.info("model %s is not in Ollama; pulling it", model)
        progress = _PullProgress(model)
        last_status = None
        with self._translated(None):
            try:
                async for update in await self._client.pull(model, stream=True):
                    last_status = update.status
                    if line := progress.line(update):
                        self._status = line
                        log.info("%s", line)
            except ResponseError as exc:
                raise BackendError(f"pulling model {model} failed: {exc.error}") from exc
        if last_status != "success":
            raise BackendError(
                f"pulling model {model} ended without success (last status: {last_status})"
            )

    async def _discover_context_window(self) -> int | None:
        with self._translated(self.model):
            running = await self._client.ps()
            for loaded in running.models:
                if _same_model(loaded.model, self.model) and loaded.context_length:
                    return loaded.context_length
            shown = await self._client.show(self.model)
        return _num_ctx_parameter(shown.parameters)

    def _restart_preparation(self) -> None:
        # The model vanished after preparation (deleted, or a fresh Ollama volume): redo it.
        if self._prepare_task is not None and self._prepare_task.done() and not self._closed:
            self._prepared = False
            self._prepare_task = asyncio.create_task(self._prepare_until_done())

    # Requests -------------------------------------------------------------------------

    async def _list(self) -> ListResponse:
        try:
            async with asyncio.timeout(self._probe_timeout):
                with self._translated(None):
                    listing = await self._client.list()
        except TimeoutError as exc:
            raise BackendUnavailable(
                f"Ollama at {self.host} did not list its models within {self._probe_timeout}s"
            ) from exc
        self._model_names = [m.model for m in listing.models if m.model]
        return listing

    def _generation_body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": request.model,
            "stream": True,
            # An error instead of silent truncation; see the module docstring.
            "truncate": False,
            "shift": False,
        }
        if request.messages is not None:
            path = "/api/chat"
            body["messages"] = [_message(m, i) for i, m in enumerate(request.messages)]
            if request.tools and request.tool_choice != "none":
                body["tools"] = [openai_tool(tool) for tool in request.tools]
        else:
            # The gateway sends prompts verbatim: no Modelfile template around them.
            path = "/api/generate"
            body["prompt"] = request.prompt
            body["raw"] = True
        if request.response_format is not None:
            schema = request.response_format.schema
            body["format"] = "json" if schema is None else dict(schema)
        options = sampling_fields(request.options, OLLAMA_NAMES, backend=self.name)
        logprobs = options.pop("logprobs", None)
        if logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = logprobs
        options.update(self._load_options() or {})
        if request.num_ctx is not None:
            options["num_ctx"] = request.num_ctx
        if options:
            body["options"] = options
        keep_alive = request.keep_alive if request.keep_alive is not None else self._keep_alive
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        return path, body

    def _load_options(self) -> dict[str, Any] | None:
        return {"num_ctx": self._num_ctx} if self._num_ctx else None

    def _check_not_truncated(
        self, request: GenerationRequest, final: dict[str, Any], param: str
    ) -> None:
        window = request.num_ctx
        if window is None and _same_model(request.model, self.model):
            window = self._context_window
        evaluated = final.get("prompt_eval_count") or 0
        if window and evaluated >= window:
            raise ContextLengthExceeded(
                f"the prompt was longer than the model's context window of {window} tokens; "
                f"Ollama silently kept only {evaluated} tokens of it. Shorten the prompt or "
                "raise num_ctx (LIFTOFF_OLLAMA_NUM_CTX)",
                param=param,
            )

    @contextlib.contextmanager
    def _translated(self, model: str | None, *, param: str | None = None) -> Iterator[None]:
        try:
            yield
        except _UPSTREAM_ERRORS as exc:
            raise _translate(
                exc, host=self.host, model=model, available=self._model_names, param=param
            ) from exc


def _translate(
    exc: Exception, *, host: str, model: str | None, available: list[str], param: str | None
) -> ServiceError:
    """The one place where Ollama and transport failures become gateway errors."""
    if isinstance(exc, ResponseError):
        message = str(exc.error)
        lowered = message.lower()
        if any(marker in lowered for marker in _CONTEXT_ERROR_MARKERS):
            return ContextLengthExceeded(
                f"the prompt was longer than the model's context window (Ollama: {message}); "
                "shorten it or raise LIFTOFF_OLLAMA_NUM_CTX",
                param=param,
            )
        if model is not None and (
            exc.status_code == 404 or ("model" in lowered and "not found" in lowered)
        ):
            return ModelNotFound(model, available)
        if exc.status_code == -1:  # an {"error": ...} line after the stream began
            return BackendError(f"Ollama failed mid-stream: {message}")
        if exc.status_code == 400:
            return InvalidRequest(f"Ollama rejected the request: {message}", param=param)
        if exc.status_code in (429, 503):  # queue full (OLLAMA_MAX_QUEUE) or shutting down
            return BackendUnavailable(f"Ollama is busy: {message}")
        return BackendError(f"Ollama answered HTTP {exc.status_code}: {message}")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | ConnectionError):
        return BackendUnavailable(f"cannot reach Ollama at {host}")
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeout(f"Ollama at {host} stopped sending data ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):  # connection dropped: Ollama crashed or restarted
        return BackendUnavailable(f"the connection to Ollama at {host} broke: {exc!r}")
    return BackendError(f"Ollama sent a response the gateway cannot read: {exc}")


class _PullProgress:
    """Turns Ollama's pull stream into log lines: one per status, then one per 5% of a layer."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._status: str | None = None
        self._bucket = -1

    def line(self, update: ProgressResponse) -> str | None:
        status = update.status or ""
        bucket = -1
        detail = ""
        if update.total:
            # Until a layer's first bytes arrive Ollama leaves `completed` out.
            completed = update.completed or 0
            percent = completed * 100 // update.total
            bucket = percent // _PROGRESS_STEP_PERCENT
            detail = f" {percent}% ({_gib(completed)} of {_gib(update.total)})"
        if status == self._status and bucket == self._bucket:
            return None
        self._status, self._bucket = status, bucket
        return f"pulling {self._model}: {status}{detail}"


def _gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB"


def _same_model(a: str | None, b: str) -> bool:
    # Ollama names default to the "latest" tag: "llama3" and "llama3:latest" are one model.
    return a is not None and _with_tag(a) == _with_tag(b)


def _with_tag(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _num_ctx_parameter(parameters: str | None) -> int | None:
    # /api/show lists Modelfile parameters one per line: "num_ctx    4096".
    for line in (parameters or "").splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "num_ctx" and value.strip().isdigit():
            return int(value.strip())
    return None


def _message(message: ChatMessage, index: int) -> dict[str, Any]:
    """A turn in Ollama's shape (docs/api.md, "Chat request"): images as base64, calls with
    their arguments as objects, a tool result with the tool's name."""
    turn: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        if any(image.data is None for image in message.images):
            raise FieldError(
                f"messages.{index}.images",
                "must be image data for Ollama (base64 or a data: URL), not a web URL",
            )
        turn["images"] = [image.data for image in message.images]
    if message.tool_calls:
        turn["tool_calls"] = [
            {"function": {"name": call.name, "arguments": _arguments(call)}}
            for call in message.tool_calls
        ]
    if message.role == "tool" and message.name:
        turn["tool_name"] = message.name
    return turn


def _arguments(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments)
    except ValueError:
        return call.arguments


def _tool_calls(calls: Any) -> list[ToolCall]:
    """Ollama's ``message.tool_calls`` (arguments as objects) as the gateway's calls."""
    result = []
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise BackendError("Ollama sent a tool call without a function name")
        arguments = function.get("arguments") or {}
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        result.append(ToolCall(str(call.get("id") or new_call_id()), function["name"], text))
    return result


def _model_info(model: ListResponse.Model, capabilities: tuple[Capability, ...]) -> ModelInfo:
    details = model.details
    return ModelInfo(
        id=model.model or "",
        size_bytes=int(model.size) if model.size is not None else None,
        family=details.family if details else None,
        quantization=details.quantization_level if details else None,
        modified_at=model.modified_at.isoformat() if model.modified_at else None,
        digest=model.digest,
        capabilities=capabilities,
    )


def _logprobs(raw: Any, top: int) -> tuple[TokenLogprob, ...]:
    """Ollama's ``logprobs`` (``[{"token", "logprob", "bytes", "top_logprobs"}]``)."""
    if not isinstance(raw, list):
        return ()
    return tuple(
        TokenLogprob(
            str(entry.get("token", "")),
            float(entry.get("logprob", 0.0)),
            tuple(entry["bytes"]) if isinstance(entry.get("bytes"), list) else None,
            tuple(
                TokenLogprob(str(alt.get("token", "")), float(alt.get("logprob", 0.0)))
                for alt in (entry.get("top_logprobs") or ())[:top]
            ),
        )
        for entry in raw
        if isinstance(entry, dict)
    )


def _usage(final: dict[str, Any]) -> Usage:
    return Usage(
        prompt_tokens=final.get("prompt_eval_count") or 0,
        completion_tokens=final.get("eval_count") or 0,
        prompt_duration_ns=final.get("prompt_eval_duration"),
        generation_duration_ns=final.get("eval_duration"),
    )
