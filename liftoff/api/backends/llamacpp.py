"""The embedded backend: llama.cpp in this process, through the ``xllamacpp`` wheel.

Two engines, routed by model name: the chat model (``LIFTOFF_MODEL``, Gemma 3 270M by
default) generates, and an embedding model (``LIFTOFF_EMBEDDING_MODEL``, all-MiniLM-L6-v2 by
default; ``liftoff.api.backends.llamacpp_embeddings``) embeds. Naming one for the other's
work is a 400 that names the right one.

``xllamacpp.Server`` owns llama.cpp's scheduler (``parallel`` slots, continuous batching).
Its ``handle_*`` calls block, so each generation runs in a worker thread that hands chunks
to the event loop; a truthy return from the chunk callback tells llama.cpp to stop, which
is how a client that went away cancels its generation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from liftoff.api.backends.base import (
    Backend,
    Embeddings,
    Finish,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    TextDelta,
    Usage,
)
from liftoff.api.backends.llamacpp_embeddings import EmbeddingEngine
from liftoff.api.backends.wire import finish_reason, openai_body
from liftoff.api.errors import (
    BackendError,
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
)
from liftoff.api.model_files import modified_at, served_model_id

# Marks the end of a worker thread's chunks on the queue.
_DONE = object()
# Threads blocked in llama.cpp beyond its slots just wait in its queue; this caps them.
_MAX_WORKER_THREADS = 64


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
        chat_template: str = "gemma",
        embedding_gguf: Path | None = None,
        embedding_context_size: int | None = None,
    ) -> None:
        self.gguf = gguf
        self.model_id = served_model_id(gguf)
        self.context_size = context_size
        self._parallel = parallel
        self._threads = threads
        self._chat_template = chat_template
        self._server: Any = None
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
        if self.embedding is not None:
            await self.embedding.start()

    def _load(self) -> Any:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(self.gguf)
        # llama.cpp splits n_ctx evenly across its parallel slots.
        params.n_ctx = self.context_size * self._parallel
        params.n_parallel = self._parallel
        if self._threads:
            params.cpuparams.n_threads = self._threads
            params.cpuparams_batch.n_threads = self._threads
        # Base GGUFs such as the packaged Gemma carry no chat template: name it explicitly.
        params.use_jinja = False
        params.chat_template = self._chat_template
        params.endpoint_metrics = True
        params.verbosity = 0
        try:
            return xllamacpp.Server(params)
        except Exception as exc:  # xllamacpp raises plain exceptions for unloadable models
            raise BackendUnavailable(f"llama.cpp could not load {self.gguf.name}: {exc}") from exc

    async def close(self) -> None:
        self._server = None  # the engine stops when the Server object is released
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
        chat = ModelInfo(
            id=self.model_id,
            size_bytes=self.gguf.stat().st_size,
            family="gguf",
            modified_at=modified_at(self.gguf),
            capabilities=("completion",),
        )
        return [chat] if self.embedding is None else [chat, self.embedding.info()]

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        self._check_chat_model(request.model)
        body = openai_body(request, backend=self.name)
        chat = request.messages is not None
        reason: FinishReason = "stop"
        async for chunk in self._stream(body, chat=chat):
            if "error" in chunk:
                raise _translate_error(chunk["error"], param="messages" if chat else "prompt")
            if chunk.get("choices"):
                choice = chunk["choices"][0]
                text = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                if text:
                    yield TextDelta(text)
                if choice.get("finish_reason"):
                    reason = finish_reason(choice["finish_reason"])
            if "usage" in chunk:
                yield Finish(reason, _usage(chunk))
                return
        raise BackendError("llama.cpp ended the stream without usage")

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

    async def embed(self, model: str, inputs: list[str], *, truncate: bool = False) -> Embeddings:
        engine = self.embedding
        if engine is not None and model == engine.model_id:
            return await engine.embed(inputs, truncate=truncate)
        if model == self.model_id:
            source = engine.model_id if engine else "none is configured (LIFTOFF_EMBEDDING_MODEL)"
            raise InvalidRequest(
                f"{model} generates text; embeddings come from {source}", param="model"
            )
        raise ModelNotFound(model, self._served())

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


def _usage(chunk: dict[str, Any]) -> Usage:
    usage = chunk["usage"]
    timings = chunk.get("timings") or {}
    return Usage(
        prompt_tokens=usage.get("prompt_tokens", 0),
        completion_tokens=usage.get("completion_tokens", 0),
        prompt_duration_ns=_ms_to_ns(timings.get("prompt_ms")),
        generation_duration_ns=_ms_to_ns(timings.get("predicted_ms")),
    )


def _ms_to_ns(ms: float | None) -> int | None:
    return None if ms is None else int(ms * 1_000_000)
