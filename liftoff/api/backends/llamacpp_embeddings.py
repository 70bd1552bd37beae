"""The embedded backend's embedding engine: a second llama.cpp (``xllamacpp``) server, beside
the chat model's, that loads an embedding model (by default all-MiniLM-L6-v2).

How it is configured, and why:

- **Sized for the model's whole window.** An encoder such as BERT attends over its whole
  input at once, so llama.cpp must take each input in one micro-batch: with fewer
  ``n_ubatch`` tokens than the input it fails ("input is too large to process", HTTP 500).
  ``n_ctx``, ``n_batch`` and ``n_ubatch`` are all the window (the GGUF's
  ``<arch>.context_length``: 256 for all-MiniLM-L6-v2, at most ``LIFTOFF_EMBEDDING_CONTEXT_SIZE``),
  so every input up to the window fits.
- **One input per forward pass** (``n_parallel = 1``), so an input's vector never depends on
  what else is in the request. With several slots llama.cpp puts several inputs in one
  micro-batch, and the vectors move: by up to 1.4e-4 per component for all-MiniLM-L6-v2 at
  8 slots (kernels chosen by batch size), and by up to 0.15 for a decoder such as Gemma 3
  270M at 2 slots (llama.cpp's per-slot KV caches; ``kv_unified`` narrows it to 0.016). One
  slot is bit-for-bit the same vector alone or in any batch, and costs little: a chunk of a
  document is already a few hundred tokens per pass.
- **Pooling** is the GGUF's (``<arch>.pooling_type``), mean when it has none; vectors are
  L2-normalised (llama.cpp's default for ``/v1/embeddings``), as sentence-transformers'.

Inputs longer than the window are never cut silently. llama.cpp refuses them; the engine then
counts each input's tokens with the engine's own tokenizer (llama.cpp's ``/tokenize`` on the
engine's loopback port, behind a key only this process knows) and either raises
``ContextLengthExceeded`` naming ``input.N``, or, where the caller asked for truncation
(Ollama's ``truncate``), embeds the first tokens of each long input, its special tokens kept,
as sentence-transformers truncates.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import httpx

from liftoff.api.backends.base import Embeddings, ModelInfo
from liftoff.api.errors import (
    BackendError,
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
)
from liftoff.api.gguf_metadata import read_metadata
from liftoff.api.model_files import modified_at, served_model_id

# The most tokens an embedding input may have when neither the model nor the settings say
# less: llama.cpp's compute buffers grow with the square of a micro-batch for encoders.
MAX_WINDOW = 8192
_TOO_LONG_MESSAGES = ("too large to process", "larger than the max context size")


class EmbeddingEngine:
    """An embedding model loaded in-process, one input per forward pass.

    >>> engine = EmbeddingEngine(Path("all-minilm-l6-v2.gguf"), executor=pool)
    >>> await engine.start()            # about 1 s for all-MiniLM-L6-v2
    >>> (await engine.embed(["a text"], truncate=False)).vectors[0][:3]
    """

    def __init__(
        self,
        gguf: Path,
        *,
        executor: Executor,
        threads: int | None = None,
        context_size: int | None = None,
    ) -> None:
        self.gguf = gguf
        self.model_id = served_model_id(gguf)
        self._executor = executor
        self._threads = threads
        self._context_size = context_size
        self._key = secrets.token_urlsafe(24)  # for the engine's own HTTP port
        self._server: Any = None
        self.window = 0  # tokens, known once loaded

    @property
    def loaded(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> str:
        """The engine's llama.cpp HTTP server: loopback, and only for this process's key."""
        return str(self._require_server().listening_address)

    async def start(self) -> None:
        if self._server is None:
            self._server, self.window = await asyncio.to_thread(self._load)

    def _load(self) -> tuple[Any, int]:
        import xllamacpp

        try:
            window, pooling = window_and_pooling(self.gguf, self._context_size)
            params = embedding_params(self.gguf, window, pooling, threads=self._threads)
            params.api_keys = [self._key]
            return xllamacpp.Server(params), window
        except Exception as exc:  # xllamacpp and gguf raise plain exceptions for bad files
            raise BackendUnavailable(
                f"llama.cpp could not load the embedding model {self.gguf.name}: {exc}"
            ) from exc

    async def close(self) -> None:
        self._server = None  # the engine stops when the Server object is released

    def info(self) -> ModelInfo:
        return ModelInfo(
            id=self.model_id,
            size_bytes=self.gguf.stat().st_size,
            family="gguf",
            modified_at=modified_at(self.gguf),
            capabilities=("embedding",),
        )

    async def embed(self, inputs: list[str], *, truncate: bool) -> Embeddings:
        """One L2-normalised vector per input, in order. Raises ``ContextLengthExceeded``
        (``input.N``) for an input beyond the window unless ``truncate``, ``InvalidRequest``
        for an input llama.cpp refuses otherwise, ``BackendError`` for engine failures."""
        result = await self._embed(list(inputs))
        if "error" in result and _too_long(result["error"]):
            result = await self._embed(await self._within_window(inputs, truncate=truncate))
        if "error" in result:
            error = result["error"]
            message = str(error.get("message", "llama.cpp error"))
            if error.get("code") == 400:
                raise InvalidRequest(f"llama.cpp refused the input: {message}", param="input")
            raise BackendError(f"llama.cpp: {message}")
        rows = sorted(result["data"], key=lambda row: row["index"])
        return Embeddings(
            vectors=[row["embedding"] for row in rows],
            prompt_tokens=result.get("usage", {}).get("prompt_tokens", 0),
        )

    async def _embed(self, prompts: list[str | list[int]]) -> dict[str, Any]:
        server = self._require_server()
        result: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(
            self._executor, server.handle_embeddings, {"input": prompts}
        )
        return result

    async def _within_window(self, inputs: list[str], *, truncate: bool) -> list[str | list[int]]:
        """``inputs`` with each one beyond the window cut to it (as token ids), when
        ``truncate``; else ``ContextLengthExceeded`` naming the first one beyond it."""
        async with httpx.AsyncClient(
            base_url=self.address, headers={"Authorization": f"Bearer {self._key}"}, timeout=30
        ) as http:
            tokenized = [await _tokenize(http, text, special=True) for text in inputs]
            longer = [i for i, tokens in enumerate(tokenized) if len(tokens) > self.window]
            if not longer:
                raise BackendError("llama.cpp refused an input that fits the model's window")
            if not truncate:
                first = longer[0]
                raise ContextLengthExceeded(
                    f"an input of {len(tokenized[first])} tokens is longer than the "
                    f"{self.window}-token window of {self.model_id}; shorten it (the gateway "
                    "never truncates unless the request asks for it)",
                    param=f"input.{first}",
                )
            prompts: list[str | list[int]] = list(inputs)
            for i in longer:
                content = await _tokenize(http, inputs[i], special=False)
                prompts[i] = self._truncated(tokenized[i], content)
        return prompts

    def _truncated(self, tokens: list[int], content: list[int]) -> list[int]:
        """The first of ``content``'s tokens that fit the window, between the special tokens
        ``tokens`` has around them (for BERT: ``[CLS] ... [SEP]``), as sentence-transformers
        truncates."""
        extra = len(tokens) - len(content)
        start = next((i for i in range(extra + 1) if tokens[i : i + len(content)] == content), None)
        if start is None:  # the specials are not around the text: keep the first tokens
            return tokens[: self.window]
        head, tail = tokens[:start], tokens[start + len(content) :]
        return head + content[: self.window - extra] + tail

    def _require_server(self) -> Any:
        if self._server is None:
            raise BackendUnavailable(f"the embedding model {self.model_id} is not loaded")
        return self._server


def embedding_params(gguf: Path, window: int, pooling: Any, *, threads: int | None) -> Any:
    """The ``CommonParams`` of an embedding engine (see the module docstring); the
    benchmark's direct engine uses the same."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.n_parallel = 1
    params.n_ctx = window
    params.n_batch = window
    params.n_ubatch = window
    params.embedding = True
    params.pooling_type = pooling
    if threads:
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
    params.verbosity = 0
    return params


def window_and_pooling(gguf: Path, context_size: int | None) -> tuple[int, Any]:
    """The tokens an input may have (the model's trained window, at most ``context_size``
    and ``MAX_WINDOW``) and the pooling to ask llama.cpp for, from the GGUF's metadata."""
    import xllamacpp

    metadata = read_metadata(gguf)
    arch = metadata.get("general.architecture")
    trained = metadata.get(f"{arch}.context_length")
    window = min(trained if isinstance(trained, int) else MAX_WINDOW, MAX_WINDOW)
    if context_size:
        window = min(window, context_size)
    pooling = xllamacpp.llama_pooling_type
    # The model's own pooling when it names one; mean (sentence-transformers' default) else.
    if f"{arch}.pooling_type" in metadata:
        return window, pooling.LLAMA_POOLING_TYPE_UNSPECIFIED
    return window, pooling.LLAMA_POOLING_TYPE_MEAN


async def _tokenize(http: httpx.AsyncClient, text: str, *, special: bool) -> list[int]:
    """``text``'s tokens from the engine's own tokenizer (llama.cpp's ``POST /tokenize``)."""
    try:
        response = await http.post("/tokenize", json={"content": text, "add_special": special})
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise BackendError(f"llama.cpp could not count an input's tokens: {exc!r}") from exc
    tokens: list[int] = response.json()["tokens"]
    return tokens


def _too_long(error: dict[str, Any]) -> bool:
    message = str(error.get("message", ""))
    return error.get("type") == "exceed_context_size_error" or any(
        marker in message for marker in _TOO_LONG_MESSAGES
    )
