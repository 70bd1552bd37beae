"""The gateway as this service sees it: embeddings and chat over HTTP, through the official
``openai`` SDK, with this service's own key. Nothing else is ever sent that key: the URL
comes from the settings, never from a request.

Every failure of the gateway becomes one of this service's errors here, and only here:

    connection refused, DNS          GatewayUnavailable 503 (Retry-After)
    timeout                          GatewayTimeout 504
    400 naming ``input[.N]``         InputTooLong (embeddings: beyond the model's window)
    400 naming a sampling field      InvalidRequest 400, same field (the caller's value)
    401/403/404                      GatewayError 502 (this service's key or model is wrong)
    429, 503                         GatewayUnavailable 503 with the gateway's Retry-After
    other 5xx                        GatewayError 502
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, cast

import httpx2
import numpy as np
import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam

from liftoff.retrieval.errors import (
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    InvalidRequest,
)
from liftoff.retrieval.store.base import Vectors

ChunkStream = openai.AsyncStream[ChatCompletionChunk]
# What a model is for, in the words of the gateway's /v1/models (Ollama's).
Capability = Literal["completion", "embedding"]
_NO_KEY = "no-key"  # the SDK insists on a key; a gateway without auth ignores it
_INPUT_PARAM = re.compile(r"input(?:[.\[](\d+)\]?)?$")


class InputTooLong(Exception):
    """The embedding model refused an input as longer than its window; ``index`` is its
    position in the batch when the gateway said which."""

    def __init__(self, message: str, index: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.index = index


class Gateway:
    """Embeddings and chat completions from an OpenAI-compatible gateway.

    >>> gateway = Gateway("http://127.0.0.1:8000/v1", api_key=None)
    >>> vectors = await gateway.embed("all-minilm-l6-v2", ["a chunk", "another"])
    >>> vectors.shape                      # (2, 384), float32, each row of length 1
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        connect_timeout: float = 5.0,
        request_timeout: float = 300.0,
        embed_batch: int = 32,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.embed_batch = embed_batch
        self.client = AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or _NO_KEY,
            timeout=openai.Timeout(request_timeout, connect=connect_timeout),
            max_retries=1,
        )

    async def close(self) -> None:
        await self.client.close()

    async def models(self) -> list[str]:
        """The ids the gateway serves."""
        with self._translated("GET /models"):
            page = await self.client.models.list()
        return [model.id for model in page.data]

    async def resolve(self, configured: str, *, capability: Capability) -> str:
        """``configured`` when set; else the first model the gateway lists as able to
        ``capability`` (``embedding`` or ``completion``, from the ``capabilities`` a Liftoff
        gateway's ``/v1/models`` gives each model); else, from a gateway that does not say,
        the first model it lists."""
        if configured:
            return configured
        with self._translated("GET /models"):
            page = await self.client.models.list()
        if not page.data:
            raise GatewayError(f"the gateway at {self.base_url} lists no models")
        for model in page.data:
            capabilities = (model.model_extra or {}).get("capabilities")
            if isinstance(capabilities, list) and capability in capabilities:
                return model.id
        return page.data[0].id

    async def embed(self, model: str, texts: Sequence[str]) -> Vectors:
        """One L2-normalised ``float32`` row per text, in order, shape ``(len(texts), dim)``.

        Raises ``InputTooLong`` (with the index in ``texts``) when the model's window is too
        small for one of them, or this service's errors."""
        rows: list[Vectors] = []
        for first in range(0, len(texts), self.embed_batch):
            batch = list(texts[first : first + self.embed_batch])
            try:
                with self._translated("POST /embeddings", embedding=True):
                    response = await self.client.embeddings.create(model=model, input=batch)
            except InputTooLong as exc:
                index = None if exc.index is None else first + exc.index
                raise InputTooLong(exc.message, index) from exc
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise GatewayError(
                    f"the gateway returned {len(data)} embeddings for {len(batch)} inputs"
                )
            rows.append(np.asarray([item.embedding for item in data], dtype=np.float32))
        vectors = np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        return normalise(vectors)

    async def chat(
        self, model: str, messages: list[dict[str, str]], **params: Any
    ) -> ChatCompletion:
        with self._translated("POST /chat/completions"):
            completion: ChatCompletion = await self.client.chat.completions.create(
                model=model, messages=_wire(messages), stream=False, **params
            )
        return completion

    async def chat_stream(
        self, model: str, messages: list[dict[str, str]], **params: Any
    ) -> AsyncIterator[ChatCompletionChunk]:
        """The gateway's chunks; the request is sent (and refused, if it is) before this
        returns, so errors before the first token keep their status."""
        with self._translated("POST /chat/completions"):
            stream: ChunkStream = await self.client.chat.completions.create(
                model=model,
                messages=_wire(messages),
                stream=True,
                stream_options={"include_usage": True},
                **params,
            )
        return self._relay(stream)

    async def _relay(self, stream: ChunkStream) -> AsyncIterator[ChatCompletionChunk]:
        try:
            with self._translated("the answer stream"):
                async for chunk in stream:
                    yield chunk
        finally:
            # Closing the response tells the gateway to stop generating (client went away).
            await stream.close()

    @contextmanager
    def _translated(self, what: str, *, embedding: bool = False) -> Any:
        try:
            yield
        except openai.APIStatusError as exc:
            raise self._status_error(exc, what, embedding=embedding) from exc
        except openai.APITimeoutError as exc:
            raise GatewayTimeout(f"the gateway did not answer {what} in time") from exc
        except openai.APIConnectionError as exc:
            raise GatewayUnavailable(
                f"cannot reach the gateway at {self.base_url} ({what}): {_cause(exc)}"
            ) from exc
        except openai.APIError as exc:  # an error event inside a stream
            raise GatewayError(f"the gateway failed during {what}: {exc.message}") from exc
        # While a stream is read, the SDK's HTTP library raises its own errors.
        except httpx2.TimeoutException as exc:
            raise GatewayTimeout(f"the gateway stopped sending during {what}") from exc
        except httpx2.TransportError as exc:
            raise GatewayUnavailable(
                f"the connection to the gateway broke during {what}: {type(exc).__name__}"
            ) from exc

    def _status_error(self, exc: openai.APIStatusError, what: str, *, embedding: bool) -> Exception:
        status = exc.status_code
        detail = _detail(exc)
        param = exc.param if isinstance(exc.param, str) else None
        if status == 400 and embedding and param is not None:
            found = _INPUT_PARAM.match(param)
            if found:
                return InputTooLong(detail, int(found.group(1)) if found.group(1) else None)
        if status == 400 and not embedding:
            # The caller's sampling values (max_tokens over the gateway's limit, ...).
            return InvalidRequest(f"the gateway refused the request: {detail}", param=param)
        if status in (401, 403):
            return GatewayError(
                f"the gateway refused this service's key ({status} to {what}): set "
                "LIFTOFF_RAG_GATEWAY_API_KEY to a key the gateway accepts"
            )
        if status == 404:
            return GatewayError(f"the gateway answered 404 to {what}: {detail}")
        if status in (429, 503):
            retry = _retry_after(exc.response)
            return GatewayUnavailable(
                f"the gateway is busy ({status}): {detail}", retry_after=retry
            )
        if status == 504:
            return GatewayTimeout(f"the gateway timed out on {what}: {detail}")
        return GatewayError(f"the gateway answered {status} to {what}: {detail}")


def normalise(vectors: Vectors) -> Vectors:
    """Rows scaled to length 1, so cosine similarity is a dot product; a zero row (which has
    no direction) is a ``GatewayError``."""
    if vectors.size == 0:
        return vectors
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(norms > 0) or not np.all(np.isfinite(vectors)):
        raise GatewayError("the embedding model returned a zero or non-finite vector")
    result: Vectors = (vectors / norms).astype(np.float32)
    return result


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


def _wire(messages: list[dict[str, str]]) -> list[ChatCompletionMessageParam]:
    # Built from validated roles ("system", "user", "assistant") and text.
    return cast("list[ChatCompletionMessageParam]", messages)


def _retry_after(response: httpx2.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("retry-after", "5")))
    except ValueError:
        return 5.0


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return str(cause) if cause is not None and str(cause) else str(exc)
