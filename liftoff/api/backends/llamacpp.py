"""The embedded backend: llama.cpp in this process, through the ``xllamacpp`` wheel.

Two engines, routed by model name: the chat model (``LIFTOFF_MODEL``, Gemma 3 270M by
default) generates, and an embedding model (``LIFTOFF_EMBEDDING_MODEL``, all-MiniLM-L6-v2 by
default; ``liftoff.api.backends.llamacpp_embeddings``) embeds. Naming one for the other's
work is a 400 that names the right one.

``xllamacpp.Server`` owns llama.cpp's scheduler (``parallel`` slots, continuous batching).
Its ``handle_*`` calls block, so each generation runs in a worker thread that hands chunks
to the event loop; a truthy return from the chunk callback tells llama.cpp to stop, which
is how a client that went away cancels its generation.

What the gateway does itself rather than leave to llama.cpp (``liftoff.api.backends.chunks``
says why): stop strings, and a context window smaller than the engine's (``num_ctx``).
Chats are arranged so that the chat template drops no text (``wire.template_ready``).
The engine's own HTTP server (``Server.listening_address``, loopback) answers what the
in-process calls do not: tokenization, and the model's facts for ``/api/show``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from liftoff.api.backends.base import (
    Backend,
    Embeddings,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
)
from liftoff.api.backends.chunks import ChunkReader
from liftoff.api.backends.grammar import check_schema, engine_schema
from liftoff.api.backends.llamacpp_embeddings import EmbeddingEngine
from liftoff.api.backends.templates import ChatTemplate
from liftoff.api.backends.wire import (
    LLAMACPP_NAMES,
    openai_body,
    template_ready,
)
from liftoff.api.errors import (
    BackendError,
    BackendUnavailable,
    ContextLengthExceeded,
    FieldError,
    InvalidRequest,
    ModelNotFound,
)
from liftoff.api.model_files import modified_at, served_model_id
from liftoff.api.tools import constrained

log = logging.getLogger(__name__)

# Marks the end of a worker thread's chunks on the queue.
_DONE = object()
# Threads blocked in llama.cpp beyond its slots just wait in its queue; this caps them.
_MAX_WORKER_THREADS = 64
# llama.cpp's refusal of an embedding input longer than its physical batch.
# Ollama's quantization names for llama.cpp's file types ("Q4_K - Medium" -> "Q4_K_M").
_SIZE_SUFFIXES = {" - Small": "_S", " - Medium": "_M", " - Large": "_L"}


class LlamaCppBackend(Backend):
    """Generates with a GGUF model loaded in-process.

    >>> backend = LlamaCppBackend(Path("gemma-3-270m-q4_k_m.gguf"), context_size=2048,
    ...                           embedding_gguf=Path("all-minilm-l6-v2.gguf"))
    >>> await backend.start()          # loads both models (about 2 s)
    >>> await collect(backend.generate(GenerationRequest(model=backend.model_id, prompt="Hi")))
    >>> await backend.embed("all-minilm-l6-v2", ["a text to embed"])
    """

    name = "llamacpp"

    def __init__(
        self,
        gguf: Path,
        *,
        context_size: int = 2048,
        parallel: int = 2,
        threads: int | None = None,
        chat_template: ChatTemplate | None = None,
        mmproj: Path | None = None,
        embedding_gguf: Path | None = None,
        embedding_context_size: int | None = None,
    ) -> None:
        self.gguf = gguf
        self.model_id = served_model_id(gguf)
        self.context_size = context_size
        self._parallel = parallel
        self._threads = threads
        self.chat_template = chat_template or ChatTemplate(False, "gemma", "explicit")
        self._mmproj = mmproj
        self._server: Any = None
        # Blocking, used from the worker threads: the backend serves any event loop.
        self._http: httpx.Client | None = None
        self._meta: dict[str, Any] = {}
        self._loaded_at = datetime.now(UTC)
        self._executor = ThreadPoolExecutor(
            max_workers=_MAX_WORKER_THREADS, thread_name_prefix="llamacpp"
        )
        self.embedding: EmbeddingEngine | None = None
        if embedding_gguf is not None:
            self.embedding = EmbeddingEngine(
                embedding_gguf,
                executor=self._executor,
                threads=threads,
                context_size=embedding_context_size,
            )

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.to_thread(self._load)
            self._loaded_at = datetime.now(UTC)
            self._http = httpx.Client(base_url=self._server.listening_address, timeout=30)
            self._meta = await self._in_thread(self._engine_meta)
            log.info("%s: chat template from %s", self.model_id, self.chat_template.source)
        if self.embedding is not None:
            await self.embedding.start()

    def _load(self) -> Any:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(self.gguf)
        # llama.cpp splits n_ctx evenly across its parallel slots.
        params.n_ctx = self.context_size * self._parallel
        params.n_parallel = self._parallel
        # An embedding input must fit one physical batch (llama.cpp refuses a longer one:
        # "increase the physical batch size"), so the batches are as large as a slot's
        # window: any input the window holds can be embedded. Sized per engine.
        params.n_batch = params.n_ubatch = self.context_size
        if self._threads:
            params.cpuparams.n_threads = self._threads
            params.cpuparams_batch.n_threads = self._threads
        # The GGUF's own Jinja template, an override, or for base GGUFs such as the packaged
        # Gemma (no template) a built-in one, named explicitly (see backends.templates).
        params.use_jinja = self.chat_template.jinja
        params.chat_template = self.chat_template.template
        if self._mmproj is not None:
            params.mmproj.path = str(self._mmproj)
        params.endpoint_metrics = True
        params.verbosity = 0
        try:
            return xllamacpp.Server(params)
        except Exception as exc:  # xllamacpp raises plain exceptions for unloadable models
            raise BackendUnavailable(f"llama.cpp could not load {self.gguf.name}: {exc}") from exc

    def _engine_meta(self) -> dict[str, Any]:
        """The loaded model's facts as llama.cpp's server lists them (``/v1/models``
        ``meta``: n_params, n_ctx_train, n_embd, n_vocab, ftype...); empty if it cannot say."""
        try:
            listed = self._client().get("/v1/models").json()
            meta = listed["data"][0].get("meta") or {}
        except (httpx.HTTPError, ValueError, KeyError, IndexError):
            log.warning("llama.cpp did not list the model's facts; /api/show will omit them")
            return {}
        return dict(meta)

    async def close(self) -> None:
        self._server = None  # the engine stops when the Server object is released
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.embedding is not None:
            await self.embedding.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def check_ready(self) -> None:
        if self._server is None:
            raise BackendUnavailable(f"the model {self.model_id} is not loaded yet")
        if self.embedding is not None and not self.embedding.loaded:
            raise BackendUnavailable(
                f"the embedding model {self.embedding.model_id} is not loaded yet"
            )

    async def list_models(self) -> list[ModelInfo]:
        chat = self._info()
        return [chat] if self.embedding is None else [chat, self.embedding.info()]

    async def running(self) -> list[ModelInfo]:
        if self._server is None:
            return []
        # Loaded for the gateway's whole life: Ollama shows such a model (keep_alive -1)
        # with an expiry far in the future.
        expires = (self._loaded_at + timedelta(days=365 * 100)).isoformat()
        return [replace(info, expires_at=expires, size_vram=0) for info in await self.list_models()]

    def _info(self) -> ModelInfo:
        meta = self._meta
        ftype = str(meta.get("ftype") or "")
        for long, short in _SIZE_SUFFIXES.items():
            ftype = ftype.replace(long, short)
        facts: dict[str, Any] = {}
        if "n_params" in meta:
            facts["general.parameter_count"] = meta["n_params"]
        if "n_ctx_train" in meta:
            facts["general.context_length"] = meta["n_ctx_train"]
        if "n_embd" in meta:
            facts["general.embedding_length"] = meta["n_embd"]
        if "n_vocab" in meta:
            facts["tokenizer.ggml.vocab_size"] = meta["n_vocab"]
        return ModelInfo(
            id=self.model_id,
            size_bytes=self.gguf.stat().st_size,
            family="gguf",
            quantization=ftype or None,
            modified_at=modified_at(self.gguf),
            parameter_size=_human_count(meta["n_params"]) if "n_params" in meta else None,
            context_length=self.context_size,
            capabilities=("completion",),
            template=self.chat_template.template,
            parameters=f"num_ctx {self.context_size}",
            facts=facts,
        )

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """The generation; tools go through the gateway's constrained tool calls
        (``liftoff.api.tools``): llama.cpp enforces a JSON schema, not a ``tool_choice``."""
        self._check_chat_model(request.model)
        self._check_fields(request)
        self._check_runtime(request)
        request, reader = constrained(request)
        events = self._generate(request)
        return events if reader is None else reader(events)

    def _check_fields(self, request: GenerationRequest) -> None:
        """Refuse, naming the field, what this engine would otherwise ignore or drop."""
        for i, message in enumerate(request.messages or ()):
            if message.images and self._mmproj is None:
                raise FieldError(
                    f"messages.{i}.images",
                    "cannot be read: the embedded model has no multimodal projector "
                    "(LIFTOFF_MMPROJ)",
                )
        for i, tool in enumerate(request.tools):
            check_schema(engine_schema(tool.parameters), f"tools.{i}.function.parameters")
        response_format = request.response_format
        if response_format is not None:
            check_schema(engine_schema(response_format.schema), "response_format")

    async def _generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        chat = request.messages is not None
        window = (
            request.num_ctx if request.num_ctx and request.num_ctx < self.context_size else None
        )
        stops = request.options.stop
        body = self._body(request)
        if request.response_format is not None:
            schema = engine_schema(request.response_format.schema)
            del body["response_format"]
            if chat:
                body["response_format"] = {"type": "json_schema", "json_schema": {"schema": schema}}
            else:  # llama.cpp's completions take the schema as `json_schema`
                body["json_schema"] = schema
        if stops or window:
            body["timings_per_token"] = True  # the counts the reader needs to end early
        reader = ChunkReader(
            chat=chat,
            stops=stops,
            window=window,
            top_logprobs=request.options.logprobs,
            param="messages" if chat else "prompt",
        )
        async for chunk in self._stream(body, chat=chat):
            if "error" in chunk:
                raise _translate_error(chunk["error"], param="messages" if chat else "prompt")
            for event in reader.read(chunk):
                yield event
            if reader.finished:
                return  # leaving the stream stops the engine at its next token
            if chunk.get("usage"):
                break
        for event in reader.end():
            yield event

    def _check_runtime(self, request: GenerationRequest) -> None:
        if request.num_ctx is not None and request.num_ctx > self.context_size:
            raise FieldError(
                "num_ctx",
                f"is {request.num_ctx}, above the embedded engine's context window of "
                f"{self.context_size} tokens (LIFTOFF_CONTEXT_SIZE)",
            )
        self.refuse_unload(request.keep_alive)

    async def render_prompt(self, request: GenerationRequest) -> str:
        """The prompt llama.cpp makes of the chat ``request`` with its chat template (its
        server's ``/apply-template``): exactly what the model is given to continue."""
        server = self._require_server()
        request, _ = constrained(request)
        messages = self._body(request)["messages"]
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{server.listening_address}/apply-template", json={"messages": messages}
            )
        if response.status_code != 200:
            raise BackendError(f"llama.cpp could not apply its chat template: {response.text}")
        return str(response.json()["prompt"])

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        """The engine's request body: llama.cpp's sampling names, the chat arranged so that
        its template drops no text, the stop strings left to the gateway."""
        return openai_body(
            request,
            backend=self.name,
            names=LLAMACPP_NAMES,
            messages=template_ready(request.messages) if request.messages else None,
            upstream_stops=False,
        )

    async def _stream(self, body: dict[str, Any], *, chat: bool) -> AsyncIterator[dict[str, Any]]:
        server = self._require_server()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return cancelled.is_set()

        handle: Callable[..., Any] = (
            server.handle_chat_completions if chat else server.handle_completions
        )

        def run() -> None:
            try:
                handle(body, on_chunk)
            except Exception as exc:  # handed to the event loop, re-raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        loop.run_in_executor(self._executor, run)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise BackendError(f"llama.cpp failed: {item}") from item
                yield item
        finally:
            # Runs when the consumer stops early too: llama.cpp sees it at its next chunk.
            cancelled.set()

    async def embed(
        self,
        model: str,
        inputs: list[str],
        *,
        truncate: bool = False,
        keep_alive: str | float | None = None,
    ) -> Embeddings:
        self.refuse_unload(keep_alive)
        engine = self.embedding
        if engine is not None and model == engine.model_id:
            return await engine.embed(inputs, truncate=truncate)
        if model == self.model_id:
            source = engine.model_id if engine else "none is configured (LIFTOFF_EMBEDDING_MODEL)"
            raise InvalidRequest(
                f"{model} generates text; embeddings come from {source}", param="model"
            )
        raise ModelNotFound(model, self._served())

    async def _in_thread(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    def engine_metrics(self) -> str:
        """llama.cpp's own Prometheus metrics (requests processing, tokens predicted...)."""
        return str(self._require_server().handle_metrics())

    def _check_chat_model(self, model: str) -> None:
        if model == self.model_id:
            return
        if self.embedding is not None and model == self.embedding.model_id:
            raise InvalidRequest(
                f"{model} is an embedding model; generations come from {self.model_id}",
                param="model",
            )
        raise ModelNotFound(model, self._served())

    def _served(self) -> list[str]:
        return [self.model_id] + ([self.embedding.model_id] if self.embedding else [])

    def _require_server(self) -> Any:
        if self._server is None:
            raise BackendUnavailable(f"the model {self.model_id} is not loaded")
        return self._server

    def _client(self) -> httpx.Client:
        if self._http is None:
            raise BackendUnavailable(f"the model {self.model_id} is not loaded")
        return self._http


def _translate_error(error: dict[str, Any], *, param: str) -> Exception:
    message = str(error.get("message", "llama.cpp error"))
    if error.get("type") == "exceed_context_size_error":
        return ContextLengthExceeded(
            f"the prompt has {error.get('n_prompt_tokens')} tokens but the model's context "
            f"window is {error.get('n_ctx')} tokens; shorten it or raise LIFTOFF_CONTEXT_SIZE",
            param=param,
        )
    if error.get("code") == 400:
        return InvalidRequest(message, param=param)
    return BackendError(f"llama.cpp: {message}")


def _human_count(count: int) -> str:
    """A parameter count as Ollama shows it (``format.HumanNumber``): ``8.0B``, ``268.10M``."""
    if count >= 1e9:
        return f"{count / 1e9:.1f}B"
    if count >= 1e6:
        return f"{count / 1e6:.2f}M"
    return f"{count / 1e3:.0f}K" if count >= 1e3 else str(count)
