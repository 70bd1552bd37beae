"""The ``openai`` backend: any OpenAI-compatible server through the official SDK.

vLLM, TGI, llama.cpp's server, LiteLLM and Gemini's OpenAI endpoint all speak this
protocol. Generation always streams upstream (with ``include_usage``) so the gateway sees
tokens as soon as the server produces them and can cancel by closing the stream.

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
from typing import Any

import aiohttp
import openai
from openai import AsyncOpenAI

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
from liftoff.api.backends.wire import finish_reason, openai_body
from liftoff.api.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    ServiceError,
)


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
        connect_timeout: float = 5.0,
        timeout: float = 300.0,
    ) -> None:
        self.model_id = model
        self._client = AsyncOpenAI(
            base_url=base_url,
            # Servers without authentication still need a non-empty key for the SDK.
            api_key=api_key or "unused",
            timeout=openai.Timeout(timeout, connect=connect_timeout),
            max_retries=0,  # the gateway reports failures; clients decide on retries
        )
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
        if served and self.model_id not in served:
            raise BackendUnavailable(
                f"the server does not serve {self.model_id!r}; it serves {', '.join(served)}"
            )

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=self.model_id)]

    async def _served_models(self) -> list[str]:
        try:
            page = await self._client.models.list()
        except openai.APIError as exc:
            raise _translate(exc, self.model_id) from exc
        return [model.id for model in page.data]

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        self._check_model(request.model)
        chat = request.messages is not None
        reason: FinishReason = "stop"
        usage: Usage | None = None
        try:
            async with (
                self._open_stream(request) as response,
                contextlib.aclosing(_lines(response)) as body,
            ):
                async for lines in body:
                    for line in lines:
                        chunk = _sse_data(line)
                        if chunk is None or chunk is _DONE:
                            continue  # read on to the end of the body, even past [DONE]
                        if "error" in chunk:
                            raise _stream_error(chunk["error"])
                        for choice in chunk.get("choices") or ():
                            text = (
                                (choice.get("delta") or {}).get("content")
                                if chat
                                else choice.get("text")
                            )
                            if text:
                                yield TextDelta(text)
                            if choice.get("finish_reason"):
                                reason = finish_reason(choice["finish_reason"])
                        if chunk.get("usage"):
                            usage = _usage(chunk["usage"])
                # The body was read to its end: the connection goes back to the pool
                # instead of being closed, and the next request skips a TCP handshake.
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise BackendTimeout("the OpenAI-compatible server stopped sending tokens") from exc
        except aiohttp.ClientError as exc:
            raise BackendUnavailable(
                f"the connection to the OpenAI-compatible server broke: {type(exc).__name__}"
            ) from exc
        if usage is None:
            raise BackendError("the OpenAI-compatible server ended its stream without usage")
        yield Finish(reason, usage)

    @contextlib.asynccontextmanager
    async def _open_stream(
        self, request: GenerationRequest
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The streamed HTTP response of a chat or completion request, not yet read.

        Sent to the SDK's base URL with its key and timeouts, as the JSON of OpenAI's
        streaming request; a non-2xx answer raises the error the SDK's would map to. A
        response left before its end (the client went away) closes its connection, which
        is what tells the server to stop generating.
        """
        body = {"model": self.model_id, **openai_body(request, backend=self.name)}
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
            except aiohttp.ServerDisconnectedError:
                # Most often a pooled keep-alive connection the server closed as we reused
                # it (llama.cpp's server closes them after a few requests). Nothing was
                # answered, so one more try, on a fresh connection, is safe.
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

    async def embed(self, model: str, inputs: list[str]) -> Embeddings:
        self._check_model(model)
        try:
            result = await self._client.embeddings.create(
                model=self.model_id, input=inputs, encoding_format="float"
            )
        except openai.APIError as exc:
            raise _translate(exc, model) from exc
        rows = sorted(result.data, key=lambda row: row.index)
        return Embeddings([list(row.embedding) for row in rows], result.usage.prompt_tokens)

    def _check_model(self, model: str) -> None:
        if model != self.model_id:
            raise ModelNotFound(model, [self.model_id])


_DONE: dict[str, Any] = {}


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


def _usage(usage: dict[str, Any]) -> Usage:
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


def _translate(exc: openai.APIError, model: str) -> ServiceError:
    """Map the SDK's errors onto the gateway's tree; the one place this happens."""
    if isinstance(exc, openai.APITimeoutError):
        return BackendTimeout("the OpenAI-compatible server did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return BackendUnavailable(f"cannot reach the OpenAI-compatible server: {exc.message}")
    if isinstance(exc, openai.NotFoundError):
        return ModelNotFound(model, [])
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc.status_code, _upstream_message(exc), model)
    return BackendError(f"the OpenAI-compatible server failed: {exc.message}")


def _status_error(status: int, message: str, model: str) -> ServiceError:
    """The gateway's error for a non-2xx answer of the server."""
    if status == 404:
        return ModelNotFound(model, [])
    if "context" in message.lower() and status == 400:
        return ContextLengthExceeded(message)
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
