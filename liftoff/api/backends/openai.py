"""The ``openai`` backend: any OpenAI-compatible server through the official SDK.

vLLM, TGI, llama.cpp's server, LiteLLM and Gemini's OpenAI endpoint all speak this
protocol. Generation always streams upstream (with ``include_usage``) so the gateway sees
tokens as soon as the server produces them and can cancel by closing the stream.

llama.cpp's server (it lists its models as ``owned_by: "llamacpp"``) is met as the embedded
engine is: it also takes llama.cpp's own sampling fields (``typical_p``, ``repeat_penalty``,
``repeat_last_n``), the gateway applies stop strings and a smaller context window itself,
and chats are arranged so its template drops no text (``liftoff.api.backends.chunks``
says why). Any other server gets OpenAI's fields and its own stop handling.

Embeddings come from ``embedding_model`` (``LIFTOFF_EMBEDDING_MODEL``, an id the same server
serves, as LiteLLM or a multi-model vLLM do), or from the chat model when none is named. The
server must embed each input alone: llama.cpp's server batches the inputs of a request across
its slots, and with several slots a causal model's vectors then depend on their neighbours
(docs/embeddings.md says what to set). This API has no truncation: an input beyond the
window is the server's 400, naming ``input``, also when Ollama's ``truncate`` asked for one.

Generations are the hot path, and go over aiohttp (its HTTP parser is C): the SDK's own
HTTP stack (httpx2, httpcore, h11, all Python) cost about 70 µs of CPU per forwarded token
at 64 streams of 32 tokens, more than the rest of the gateway together
(``benchmarks/profile_gateway.py``). The SDK keeps the rest (models, embeddings).
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal

import aiohttp
import openai
from openai import AsyncOpenAI

from liftoff.api.backends.base import (
    Backend,
    Embeddings,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
)
from liftoff.api.backends.chunks import ChunkReader
from liftoff.api.backends.wire import (
    LLAMACPP_NAMES,
    OPENAI_NAMES,
    openai_body,
    template_ready,
)
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
from liftoff.api.tools import constrained


class OpenAIBackend(Backend):
    """Forwards to an OpenAI-compatible server.

    >>> backend = OpenAIBackend("http://127.0.0.1:8080/v1", model="qwen2.5", api_key=None)
    >>> await collect(backend.generate(GenerationRequest(model="qwen2.5", prompt="Hello")))
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None,
        embedding_model: str = "",
        connect_timeout: float = 5.0,
        timeout: float = 300.0,
        tool_calls: Literal["native", "constrained"] = "native",
    ) -> None:
        self.model_id = model
        self._constrained_tools = tool_calls == "constrained"
        self.embedding_model = embedding_model
        self._client = AsyncOpenAI(
            base_url=base_url,
            # Servers without authentication still need a non-empty key for the SDK.
            api_key=api_key or "unused",
            timeout=openai.Timeout(timeout, connect=connect_timeout),
            max_retries=0,  # the gateway reports failures; clients decide on retries
        )
        self._llamacpp: bool | None = None  # whether the server is llama.cpp's; None: not known
        self._base_url = str(self._client.base_url).rstrip("/")
        self._stream_headers = {
            "Authorization": f"Bearer {api_key or 'unused'}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        # As the SDK's: ``timeout`` bounds each wait for bytes, not the whole answer.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None  # made in the server's loop
        # HTTP(S)_PROXY and NO_PROXY, as the SDK's client honours them, read once: aiohttp's
        # trust_env reads them and ~/.netrc in a thread on every request.
        self._proxy = _env_proxy(self._base_url)

    async def close(self) -> None:
        await self._client.close()
        if self._session is not None:
            await self._session.close()

    async def check_ready(self) -> None:
        served = await self._served_models()
        for model in self._served():
            if served and model not in served:
                raise BackendUnavailable(
                    f"the server does not serve {model!r}; it serves {', '.join(served)}"
                )

    async def list_models(self) -> list[ModelInfo]:
        if not self.embedding_model:
            return [ModelInfo(id=self.model_id)]  # it may embed too: the server knows
        return [
            ModelInfo(id=self.model_id, capabilities=("completion",)),
            ModelInfo(id=self.embedding_model, capabilities=("embedding",)),
        ]

    def _served(self) -> list[str]:
        return [model for model in (self.model_id, self.embedding_model) if model]

    async def _served_models(self) -> list[str]:
        try:
            page = await self._client.models.list()
        except openai.APIError as exc:
            raise _translate(exc, self.model_id) from exc
        self._llamacpp = any(getattr(m, "owned_by", None) == "llamacpp" for m in page.data)
        return [model.id for model in page.data]

    async def _is_llamacpp(self) -> bool:
        """Whether the server is llama.cpp's, as its model listing says (asked once). A
        server that cannot list its models is taken for another; the generation request
        itself reports a server that is down."""
        if self._llamacpp is None:
            try:
                await self._served_models()
            except ServiceError:
                return False
        return bool(self._llamacpp)

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Tools are forwarded as they are, unless ``tool_calls="constrained"``: then the
        gateway makes the calls through structured output (``liftoff.api.tools``)."""
        self._check_model(request.model, embedding=False)
        if not self._constrained_tools:
            return self._generate(request)
        request, reader = constrained(request)
        events = self._generate(request)
        return events if reader is None else reader(events)

    async def _generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        llamacpp = await self._is_llamacpp()
        window = self._check_runtime(request, llamacpp=llamacpp)
        chat = request.messages is not None
        stops = request.options.stop if llamacpp else ()
        body = openai_body(
            request,
            backend=self.name,
            names=LLAMACPP_NAMES if llamacpp else OPENAI_NAMES,
            messages=template_ready(request.messages) if llamacpp and request.messages else None,
            upstream_stops=not llamacpp,
        )
        if stops or window:
            body["timings_per_token"] = True  # llama.cpp's counts, which the reader needs
        reader = ChunkReader(
            chat=chat,
            stops=stops,
            window=window,
            top_logprobs=request.options.logprobs,
            param="messages" if chat else "prompt",
        )
        try:
            async with (
                self._open_stream(request, body) as response,
                contextlib.aclosing(_lines(response)) as lines,
            ):
                async for group in lines:
                    for line in group:
                        chunk = _sse_data(line)
                        if chunk is None or chunk is _DONE:
                            continue  # read on to the end of the body, even past [DONE]
                        if "error" in chunk:
                            raise _stream_error(chunk["error"])
                        for event in reader.read(chunk):
                            yield event
                        if reader.finished:
                            return  # closing the response stops the server's generation
                # The body was read to its end: the connection goes back to the pool
                # instead of being closed, and the next request skips a TCP handshake.
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise BackendTimeout("the OpenAI-compatible server stopped sending tokens") from exc
        except aiohttp.ClientError as exc:
            raise BackendUnavailable(
                f"the connection to the OpenAI-compatible server broke: {type(exc).__name__}"
            ) from exc
        for event in reader.end():
            yield event

    def _check_runtime(self, request: GenerationRequest, *, llamacpp: bool) -> int | None:
        """The context window to keep the request in (llama.cpp's server only), or None."""
        self.refuse_unload(request.keep_alive)
        if request.num_ctx is None:
            return None
        if not llamacpp:
            raise FieldError("num_ctx", "is not supported by the openai backend")
        return request.num_ctx

    @contextlib.asynccontextmanager
    async def _open_stream(
        self, request: GenerationRequest, body: dict[str, Any]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The streamed HTTP response of a chat or completion request, not yet read.

        Sent to the SDK's base URL with its key and timeouts, as the JSON the server
        receives; a non-2xx answer raises the error the SDK's would map to. A response left
        before its end (the answer is complete, or the client went away) closes its
        connection, which is what tells the server to stop generating.
        """
        body = {"model": self.model_id, **body}
        path = "/chat/completions" if request.messages is not None else "/completions"
        url, data = self._base_url + path, json.dumps(body).encode()
        session = self._session
        if session is None or session.closed:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1000),
                timeout=self._stream_timeout,
            )
        try:
            try:
                response = await session.post(
                    url, data=data, headers=self._stream_headers, proxy=self._proxy
                )
            except _STALE_CONNECTION as exc:
                if isinstance(exc, aiohttp.ClientConnectorError):
                    raise  # no connection was made: a second try would fail the same way
                # Most often a pooled keep-alive connection the server closed as we reused
                # it (llama.cpp's server closes them after a few requests): it may fail as
                # the request is written (reset, closing transport) or as the answer is
                # awaited (disconnected). Nothing was answered, so one more try, on a fresh
                # connection, is safe.
                response = await session.post(
                    url, data=data, headers=self._stream_headers, proxy=self._proxy
                )
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise BackendTimeout("the OpenAI-compatible server did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise BackendUnavailable(
                f"cannot reach the OpenAI-compatible server: {type(exc).__name__}"
            ) from exc
        try:
            if response.status >= 400:
                text = (await response.read()).decode("utf-8", "replace")
                raise _status_error(
                    response.status, _response_message(response.status, text), request.model
                )
            yield response
        finally:
            if response.content.is_eof():
                response.release()  # back to the pool
            else:
                response.close()  # mid-answer: closing the connection stops the generation

    async def embed(
        self,
        model: str,
        inputs: list[str],
        *,
        truncate: bool = False,
        keep_alive: str | float | None = None,
    ) -> Embeddings:
        self.refuse_unload(keep_alive)
        self._check_model(model, embedding=True)
        try:
            result = await self._client.embeddings.create(
                model=model, input=inputs, encoding_format="float"
            )
        except openai.APIError as exc:
            error = _translate(exc, model, param="input")
            if truncate and isinstance(error, ContextLengthExceeded):
                # OpenAI's embeddings API cannot ask a server to truncate: say so.
                error.message += "; the openai backend cannot truncate inputs"
            raise error from exc
        rows = sorted(result.data, key=lambda row: row.index)
        return Embeddings([list(row.embedding) for row in rows], result.usage.prompt_tokens)

    def _check_model(self, model: str, *, embedding: bool) -> None:
        if model not in self._served():
            raise ModelNotFound(model, self._served())
        if not self.embedding_model:
            return  # one model does both, as far as the gateway knows
        if embedding and model != self.embedding_model:
            raise InvalidRequest(
                f"{model} generates text; embeddings come from {self.embedding_model}",
                param="model",
            )
        if not embedding and model != self.model_id:
            raise InvalidRequest(
                f"{model} is an embedding model; generations come from {self.model_id}",
                param="model",
            )


_DONE: dict[str, Any] = {}

# How a pooled connection the server has closed fails a request sent on it.
_STALE_CONNECTION = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``, unless
    ``NO_PROXY`` covers its host), or None."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


async def _lines(response: aiohttp.ClientResponse) -> AsyncGenerator[list[bytes]]:
    """The body's lines as bytes, those that arrived together in one list (the last line
    even without its newline)."""
    rest = b""
    async for data in response.content.iter_any():
        *lines, rest = (rest + data).split(b"\n")
        yield lines
    if rest:
        yield [rest]


def _sse_data(line: bytes) -> dict[str, Any] | None:
    """The JSON of a ``data:`` line; ``_DONE`` for ``[DONE]``; None for anything else."""
    if not line.startswith(b"data:"):
        return None  # blank separators, comments, event names
    data = line[5:].strip()
    if data == b"[DONE]":
        return _DONE
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise BackendError("the OpenAI-compatible server sent an unreadable event") from exc
    return chunk if isinstance(chunk, dict) else None


def _stream_error(error: Any) -> ServiceError:
    message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
    return BackendError(f"the OpenAI-compatible server failed mid-stream: {message}")


# llama.cpp's server refuses an embedding input longer than its physical batch with a 500.
_TOO_LARGE = "is too large to process"


def _translate(exc: openai.APIError, model: str, *, param: str | None = None) -> ServiceError:
    """Map the SDK's errors onto the gateway's tree; the one place this happens."""
    if isinstance(exc, openai.APITimeoutError):
        return BackendTimeout("the OpenAI-compatible server did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return BackendUnavailable(f"cannot reach the OpenAI-compatible server: {exc.message}")
    if isinstance(exc, openai.NotFoundError):
        return ModelNotFound(model, [])
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc.status_code, _upstream_message(exc), model, param=param)
    return BackendError(f"the OpenAI-compatible server failed: {exc.message}")


def _status_error(
    status: int, message: str, model: str, *, param: str | None = None
) -> ServiceError:
    """The gateway's error for a non-2xx answer of the server, as the SDK's client or the
    streamed generation met it."""
    if status == 404:
        return ModelNotFound(model, [])
    if "context" in message.lower() and status == 400:
        return ContextLengthExceeded(message, param=param)
    if _TOO_LARGE in message:
        # Retrying cannot help: the input is longer than the server takes at once.
        return ContextLengthExceeded(
            f"the input is longer than the OpenAI-compatible server takes ({message}); "
            "shorten it, or start llama.cpp's server with --ubatch-size as large as its "
            "context",
            param=param,
        )
    if status in (400, 422):
        return InvalidRequest(message)
    if status in (502, 503):
        return BackendUnavailable(f"the OpenAI-compatible server is unavailable: {message}")
    return BackendError(f"the OpenAI-compatible server answered {status}: {message}")


def _response_message(status: int, text: str) -> str:
    """An error answer's message as the SDK reads it: its JSON's ``error.message``, else
    ``Error code: <status> - <body>``."""
    text = text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return f"Error code: {status}" + (f" - {text[:500]}" if text else "")


def _upstream_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
    return exc.message
