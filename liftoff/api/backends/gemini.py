"""The ``gemini`` backend: Gemini models through Google's official ``google-genai`` SDK.

Two ways in, one code path:

- the **Gemini API** (``generativelanguage.googleapis.com``) with an API key;
- **Vertex AI** (``aiplatform.googleapis.com``) with Application Default Credentials: a
  service-account key file (``GOOGLE_APPLICATION_CREDENTIALS``), gcloud's user credentials,
  or the metadata server of the Cloud Run service, GKE pod or VM the gateway runs on. They
  are looked up when the backend starts and again while they are missing; google-genai
  refreshes the access token before it expires.

What requests become (Gemini REST reference: ``models.streamGenerateContent``):

- generation always streams upstream (``:streamGenerateContent?alt=sse``); closing the
  iterator closes the HTTP response;
- the request itself (turns, system instruction, sampling, and what is refused) is built in
  ``liftoff.api.backends.gemini_request``, the one place to extend;
- finish: ``STOP`` is ``stop``, ``MAX_TOKENS`` is ``length`` (thinking tokens count against
  it, as Gemini bills them as output), the safety family is ``content_filter`` (as is a prompt
  blocked before any answer); any other reason is an error naming it;
- embeddings come from the separate embedding model (``LIFTOFF_EMBEDDING_MODEL``), in
  batches of 100 inputs (``batchEmbedContents``' limit).

Failures are translated in ``liftoff.api.backends.gemini_errors``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
import httpx2
from google import genai
from google.genai import types
from google.genai.models import AsyncModels

from liftoff.api.backends.base import (
    Backend,
    Embeddings,
    Finish,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    TextDelta,
    ToolCall,
    Usage,
)
from liftoff.api.backends.gemini_errors import GeminiErrors
from liftoff.api.backends.gemini_request import gemini_contents, generation_config
from liftoff.api.errors import (
    BackendError,
    BackendUnavailable,
    InvalidRequest,
    ModelNotFound,
)
from liftoff.api.tools import new_call_id

log = logging.getLogger(__name__)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# batchEmbedContents takes at most 100 requests (Gemini API reference, models.batchEmbedContents).
EMBED_BATCH = 100
_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **dict.fromkeys(
        ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
         "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR"],
        "content_filter",
    ),
}  # fmt: skip

# The HTTP responses a generation has opened (see GeminiBackend._next_chunk).
_opened: contextvars.ContextVar[list[httpx2.Response] | None] = contextvars.ContextVar(
    "gemini_opened_responses", default=None
)


async def _remember_response(response: httpx2.Response) -> None:
    opened = _opened.get()
    if opened is not None:
        opened.append(response)


CredentialsLoader = Callable[[], tuple[google.auth.credentials.Credentials, str | None]]


def application_default_credentials() -> tuple[google.auth.credentials.Credentials, str | None]:
    """google-auth's ADC lookup (blocking: it may ask the metadata server)."""
    credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    return credentials, project


class GeminiBackend(Backend):
    """Generates and embeds with Gemini, on the Gemini API or on Vertex AI.

    >>> backend = GeminiBackend.gemini_api("gemini-2.5-flash", api_key=key,
    ...                                    embedding_model="gemini-embedding-001")
    >>> backend = GeminiBackend.vertex_ai("gemini-2.5-flash", project="my-project",
    ...                                   location="us-central1")
    >>> await backend.complete(GenerationRequest(model="gemini-2.5-flash", prompt="Hello"))
    """

    name = "gemini"

    def __init__(
        self,
        model: str,
        *,
        embedding_model: str = "",
        api_key: str | None = None,
        vertexai: bool = False,
        project: str | None = None,
        location: str = "global",
        base_url: str | None = None,
        timeout: float = 300.0,
        probe_timeout: float = 5.0,
        credentials: CredentialsLoader = application_default_credentials,
    ) -> None:
        if vertexai == (api_key is not None):
            raise ValueError("the gemini backend takes an API key, or vertexai=True; not both")
        self.model = model
        self.embedding_model = embedding_model
        self._api_key = api_key
        self._vertexai = vertexai
        self._project = project
        self._location = location
        # The SDK sends through this client; its response hook lets a generation close
        # its own upstream response (see _next_chunk).
        self._httpx = httpx2.AsyncClient(event_hooks={"response": [_remember_response]})
        self._http = types.HttpOptions(
            base_url=base_url, timeout=int(timeout * 1000), httpx_async_client=self._httpx
        )
        self._probe = types.HttpOptions(timeout=int(probe_timeout * 1000))
        self._load_credentials = credentials
        self._client: genai.Client | None = None
        self._connecting = asyncio.Lock()
        self._start_task: asyncio.Task[None] | None = None
        self._errors = GeminiErrors(
            "Vertex AI's Application Default Credentials"
            if vertexai
            else "the Gemini API key (GEMINI_API_KEY)"
        )

    @classmethod
    def gemini_api(cls, model: str, *, api_key: str, **kwargs: Any) -> GeminiBackend:
        return cls(model, api_key=api_key, **kwargs)

    @classmethod
    def vertex_ai(cls, model: str, **kwargs: Any) -> GeminiBackend:
        return cls(model, vertexai=True, **kwargs)

    async def start(self) -> None:
        # Look the credentials up now, so a problem shows in the log at start-up.
        if self._start_task is None:
            self._start_task = asyncio.create_task(self._connect_and_log())

    async def _connect_and_log(self) -> None:
        try:
            await self._models()
        except BackendUnavailable as exc:
            log.warning("gemini backend not ready: %s", exc.message)

    async def close(self) -> None:
        if self._start_task is not None:
            self._start_task.cancel()
            await asyncio.wait({self._start_task})
        if self._client is not None:
            await self._client.aio.aclose()
            self._client.close()
            self._client = None
        await self._httpx.aclose()

    async def check_ready(self) -> None:
        models = await self._models()
        for model in self._served():
            with self._errors.translated(model):
                await models.get(model=model, config=types.GetModelConfig(http_options=self._probe))

    async def list_models(self) -> list[ModelInfo]:
        chat = ModelInfo(id=self.model, capabilities=("completion",))
        if not self.embedding_model:
            return [chat]
        return [chat, ModelInfo(id=self.embedding_model, capabilities=("embedding",))]

    def _served(self) -> list[str]:
        return [model for model in (self.model, self.embedding_model) if model]

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        self._check_model(request.model, want_embedding=False)
        self.refuse_unload(request.keep_alive)
        contents, system = gemini_contents(request)
        config = generation_config(request.options, system, request)
        models = await self._models()
        reason: FinishReason | None = None
        called = False
        usage = Usage()
        opened: list[httpx2.Response] = []
        with self._errors.translated(request.model):
            stream = await models.generate_content_stream(
                model=self.model, contents=contents, config=config
            )
            try:
                while (chunk := await _next_chunk(stream, opened)) is not None:
                    if chunk.usage_metadata is not None:
                        usage = _usage(chunk.usage_metadata)
                    feedback = chunk.prompt_feedback
                    if feedback is not None and feedback.block_reason is not None:
                        log.info("Gemini blocked a prompt: %s", _name(feedback.block_reason))
                        reason = "content_filter"
                    if not chunk.candidates:
                        continue
                    candidate = chunk.candidates[0]
                    for part in (candidate.content.parts if candidate.content else None) or ():
                        if part.text and not part.thought:
                            yield TextDelta(part.text)
                        if part.function_call is not None:
                            called = True
                            yield _tool_call(part.function_call)
                    if candidate.finish_reason is not None:
                        reason = _finish_reason(candidate)
            finally:
                # The SDK's stream is a chain of async generators in a reference cycle:
                # closing the outer one leaves the HTTP response open until the garbage
                # collector runs. Closing the response itself is what hangs up on Gemini.
                for response in opened:
                    await response.aclose()
                if isinstance(stream, AsyncGenerator):
                    await stream.aclose()
        if reason is None:
            raise BackendError("Gemini ended the stream without a finish reason")
        yield Finish("tool_calls" if called and reason == "stop" else reason, usage)

    async def embed(
        self,
        model: str,
        inputs: list[str],
        *,
        truncate: bool = False,
        keep_alive: str | float | None = None,
    ) -> Embeddings:
        self.refuse_unload(keep_alive)
        self._check_model(model, want_embedding=True)
        # Vertex AI truncates over-long inputs unless told not to; the Gemini API has no
        # such switch (the SDK refuses it there) and refuses them.
        config = types.EmbedContentConfig(auto_truncate=truncate) if self._vertexai else None
        empty = next((i for i, text in enumerate(inputs) if not text), None)
        if empty is not None:
            raise InvalidRequest("Gemini embeds non-empty text only", param=f"input.{empty}")
        models = await self._models()
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(inputs), EMBED_BATCH):
            batch = inputs[start : start + EMBED_BATCH]
            contents: list[types.Content | types.ContentDict] = [
                types.Content(parts=[types.Part(text=text)]) for text in batch
            ]
            with self._errors.translated(model):
                result = await models.embed_content(
                    model=self.embedding_model, contents=contents, config=config
                )
            embeddings = result.embeddings or []
            if len(embeddings) != len(batch):
                raise BackendError(
                    f"Gemini returned {len(embeddings)} embeddings for {len(batch)} inputs"
                )
            vectors += [[float(x) for x in embedding.values or ()] for embedding in embeddings]
            tokens += _embedding_tokens(result)
        return Embeddings(vectors, tokens)

    def _check_model(self, model: str, *, want_embedding: bool) -> None:
        if model not in self._served():
            raise ModelNotFound(model, self._served())
        if want_embedding and model != self.embedding_model:
            source = self.embedding_model or "none is configured (LIFTOFF_EMBEDDING_MODEL)"
            raise InvalidRequest(
                f"{model} generates text; embeddings come from {source}", param="model"
            )
        if not want_embedding and model != self.model:
            raise InvalidRequest(
                f"{model} is an embedding model; generations come from {self.model}",
                param="model",
            )

    async def _models(self) -> AsyncModels:
        """The SDK's async ``models`` API, its client built on first use."""
        if self._client is None:
            async with self._connecting:
                if self._client is None:
                    self._client = await self._new_client()
        return self._client.aio.models

    async def _new_client(self) -> genai.Client:
        where: dict[str, Any] = {"vertexai": False, "api_key": self._api_key}
        if self._vertexai:
            try:
                credentials, found_project = await asyncio.to_thread(self._load_credentials)
            except google.auth.exceptions.GoogleAuthError as exc:
                raise self._errors.credential_error(exc) from exc
            project = self._project or found_project
            if not project:
                raise BackendUnavailable(
                    "Vertex AI needs a project: set GOOGLE_CLOUD_PROJECT (the credentials "
                    "name none)"
                )
            where = {"vertexai": True, "credentials": credentials, "project": project,
                     "location": self._location}  # fmt: skip
        try:
            return genai.Client(**where, http_options=self._http)
        except ValueError as exc:  # the SDK's word for a configuration it cannot use
            raise BackendUnavailable(f"google-genai refused its configuration: {exc}") from exc


async def _next_chunk(
    stream: AsyncIterator[types.GenerateContentResponse], opened: list[httpx2.Response]
) -> types.GenerateContentResponse | None:
    """The stream's next chunk (None at its end), noting in ``opened`` the HTTP responses
    the SDK opens meanwhile: the first request, and any continuation request after it."""
    token = _opened.set(opened)
    try:
        return await anext(stream)
    except StopAsyncIteration:
        return None
    finally:
        _opened.reset(token)


def _tool_call(call: types.FunctionCall) -> ToolCall:
    if not call.name:
        raise BackendError("Gemini sent a function call without a name")
    return ToolCall(call.id or new_call_id(), call.name, json.dumps(call.args or {}))


def _finish_reason(candidate: types.Candidate) -> FinishReason | None:
    name = _name(candidate.finish_reason)
    if name == "FINISH_REASON_UNSPECIFIED":
        return None
    if name in _FINISH:
        return _FINISH[name]
    detail = f": {candidate.finish_message}" if candidate.finish_message else ""
    raise BackendError(f"Gemini stopped generating with finish reason {name}{detail}")


def _name(value: Any) -> str:
    return str(getattr(value, "value", value))


def _usage(metadata: types.GenerateContentResponseUsageMetadata) -> Usage:
    # Proto3 JSON leaves zero counts out: a missing count is 0.
    return Usage(
        prompt_tokens=(metadata.prompt_token_count or 0)
        + (metadata.tool_use_prompt_token_count or 0),
        completion_tokens=(metadata.candidates_token_count or 0)
        + (metadata.thoughts_token_count or 0),
    )


def _embedding_tokens(result: types.EmbedContentResponse) -> int:
    """Input tokens: ``usageMetadata`` where the method reports it, else the per-embedding
    ``statistics.token_count`` of Vertex AI's ``:predict``; 0 when neither is there."""
    usage = result.usage_metadata
    if usage is not None and usage.prompt_token_count:
        return int(usage.prompt_token_count)
    return sum(
        int(embedding.statistics.token_count or 0)
        for embedding in result.embeddings or ()
        if embedding.statistics is not None
    )
