"""The ``openai`` backend: any OpenAI-compatible server through the official SDK.

vLLM, TGI, llama.cpp's server, LiteLLM and Gemini's OpenAI endpoint all speak this
protocol. Generation always streams upstream (with ``include_usage``) so the gateway sees
tokens as soon as the server produces them and can cancel by closing the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
from openai import AsyncOpenAI

from api.backends.base import (
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
from api.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
)


class OpenAIBackend(Backend):
    """Forwards to an OpenAI-compatible server.

    >>> backend = OpenAIBackend("http://127.0.0.1:8080/v1", model="qwen2.5", api_key=None)
    >>> await backend.complete(GenerationRequest(model="qwen2.5", prompt="Hello"))
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

    async def close(self) -> None:
        await self._client.close()

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
        reason: FinishReason = "stop"
        try:
            stream = await self._create_stream(request)
            async with stream:
                async for chunk in stream:
                    if chunk.choices:
                        choice = chunk.choices[0]
                        text = _choice_text(choice)
                        if text:
                            yield TextDelta(text)
                        if choice.finish_reason:
                            reason = "length" if choice.finish_reason == "length" else "stop"
                    if chunk.usage is not None:
                        yield Finish(reason, _usage(chunk.usage))
                        return
        except openai.APIError as exc:
            raise _translate(exc, request.model) from exc
        raise BackendError("the OpenAI-compatible server ended its stream without usage")

    async def _create_stream(self, request: GenerationRequest) -> Any:
        options = request.options
        sampling = {
            "model": self.model_id,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": _given(options.temperature),
            "top_p": _given(options.top_p),
            "max_tokens": _given(options.max_tokens),
            "seed": _given(options.seed),
            "stop": list(options.stop) if options.stop else openai.omit,
            # top_k is not in OpenAI's schema; vLLM, llama.cpp and TGI accept it.
            "extra_body": {"top_k": options.top_k} if options.top_k is not None else None,
        }
        if request.messages is not None:
            messages: list[Any] = [{"role": m.role, "content": m.content} for m in request.messages]
            return await self._client.chat.completions.create(messages=messages, **sampling)
        return await self._client.completions.create(prompt=request.prompt or "", **sampling)

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


def _given(value: Any) -> Any:
    """The SDK sends None as null; leaving a parameter out needs ``omit``."""
    return openai.omit if value is None else value


def _choice_text(choice: Any) -> str | None:
    delta = getattr(choice, "delta", None)
    if delta is not None:
        return delta.content  # type: ignore[no-any-return]
    return getattr(choice, "text", None)


def _usage(usage: Any) -> Usage:
    return Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)


def _translate(exc: openai.APIError, model: str) -> GatewayError:
    """Map the SDK's errors onto the gateway's tree; the one place this happens."""
    if isinstance(exc, openai.APITimeoutError):
        return BackendTimeout("the OpenAI-compatible server did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return BackendUnavailable(f"cannot reach the OpenAI-compatible server: {exc.message}")
    if isinstance(exc, openai.NotFoundError):
        return ModelNotFound(model, [])
    if isinstance(exc, openai.APIStatusError):
        message = _upstream_message(exc)
        if "context" in message.lower() and exc.status_code == 400:
            return ContextLengthExceeded(message)
        if exc.status_code in (400, 422):
            return InvalidRequest(message)
        if exc.status_code in (502, 503):
            return BackendUnavailable(f"the OpenAI-compatible server is unavailable: {message}")
        return BackendError(f"the OpenAI-compatible server answered {exc.status_code}: {message}")
    return BackendError(f"the OpenAI-compatible server failed: {exc.message}")


def _upstream_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
    return exc.message
