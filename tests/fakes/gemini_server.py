"""A FAKE Gemini: the REST calls google-genai makes to the Gemini API and to Vertex AI.

Built from Google's REST references and error model, not from the SDK:

- Gemini API (``generativelanguage.googleapis.com``), API key in ``x-goog-api-key`` (or
  ``?key=``): ``GET /{v}/models`` (``pageSize``, ``pageToken``), ``GET /{v}/models/{m}``,
  ``POST /{v}/models/{m}:generateContent``, ``:streamGenerateContent?alt=sse``,
  ``:embedContent``, ``:batchEmbedContents`` (at most 100 requests);
- Vertex AI (``{location}-aiplatform.googleapis.com``), OAuth access token in
  ``Authorization: Bearer``: ``GET /{v}/publishers/google/models[/{m}]`` and
  ``POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{m}:`` ``generateContent``,
  ``streamGenerateContent``, ``embedContent``, ``batchEmbedContents``, ``predict`` (the
  text-embedding models' instances/predictions shape);
- errors as ``google.rpc.Status`` JSON (``{"error": {"code", "message", "status",
  "details"}}``), with the statuses and wordings Google answers: 400 ``API_KEY_INVALID``,
  403 for a missing key or a project without access, 401 for a missing or unknown token,
  404 for an unknown model, 400 for an unknown field (proto JSON parsing is strict), an empty
  text part, more than 5 stop sequences, or a prompt over the model's input limit; streamed
  chunks as SSE ``data:`` events, a failure after the first one as an ``{"error": ...}`` event.

The "model" is arithmetic, so tests can predict it: it answers in words of ``WORDS`` (one
word, one token; a prompt costs one token per word), starting at a point fixed by the
prompt; at temperature 0 it takes them in order; above 0 it draws among the first ``topK``
(or the ``topP`` share) of them from a generator seeded by ``seed``, fresh without one. An
answer ends by itself after ``natural_length`` words (``STOP``), at ``maxOutputTokens``
(``MAX_TOKENS``), or before a stop sequence (``STOP``, the sequence left out). A prompt with
``BLOCKED_MARKER`` is refused (``promptFeedback.blockReason: SAFETY``, no candidates); one
with ``UNSAFE_MARKER`` ends after three words with ``finishReason: SAFETY``. Embeddings are
unit vectors drawn from a hash of the text.

Function calling, structured output and images (Gemini API reference: ``Tool``,
``FunctionDeclaration``, ``ToolConfig``, ``FunctionCall``, ``FunctionResponse``, ``Blob``,
``GenerationConfig.responseJsonSchema``): parts may be ``text`` (never empty),
``inlineData`` (base64 ``data`` with an ``image/`` ``mimeType``), ``functionCall`` or
``functionResponse``. Given ``functionDeclarations`` and a mode other than ``NONE``, the
model calls a function when the mode is ``ANY`` or the last turn is the user's words: the
first allowed one, its required string arguments filled with the prompt's last word, as a
``functionCall`` part ending with ``STOP``. With ``responseMimeType: application/json`` it
answers a JSON value of ``responseJsonSchema``'s shape (``{"reply": ...}`` without one).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.google_oauth import FakeGoogleOAuth
from tests.servers import serve_in_thread

CHAT_MODEL = "gemini-2.5-flash"
EMBEDDING_MODEL = "gemini-embedding-001"
PREDICT_EMBEDDING_MODEL = "text-embedding-005"  # Vertex AI's :predict embedding family
API_KEY = "AIzaSy-fake-gemini-api-key-0123456789"
PROJECT = "test-project"
BLOCKED_MARKER = "[[blocked]]"
UNSAFE_MARKER = "[[unsafe]]"
WORDS = [
    "amber", "bison", "cedar", "delta", "ember", "fjord", "grove", "harbor", "island",
    "juniper", "kestrel", "lagoon", "meadow", "nectar", "orchid", "prairie", "quartz", "river",
    "summit", "tundra", "umber", "valley", "willow", "xenon", "yarrow", "zephyr",
]  # fmt: skip
MAX_STOP_SEQUENCES = 5
MAX_BATCH_EMBED = 100
MAX_PREDICT_INSTANCES = 250

_GENERATE_FIELDS = {
    "contents",
    "systemInstruction",
    "generationConfig",
    "safetySettings",
    "tools",
    "toolConfig",
    "cachedContent",
    "labels",
}
_CONFIG_FIELDS = {
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
    "responseModalities",
    "mediaResolution",
}
_ROUTES = [
    ("gemini", "GET", re.compile(r"/(?P<v>v1\w*)/models")),
    ("gemini", "GET", re.compile(r"/(?P<v>v1\w*)/models/(?P<model>[^/:]+)")),
    ("gemini", "POST", re.compile(r"/(?P<v>v1\w*)/models/(?P<model>[^/:]+):(?P<method>\w+)")),
    ("vertex", "GET", re.compile(r"/(?P<v>v1\w*)/publishers/google/models")),
    ("vertex", "GET", re.compile(r"/(?P<v>v1\w*)/publishers/google/models/(?P<model>[^/:]+)")),
    ("vertex", "POST", re.compile(
        r"/(?P<v>v1\w*)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
        r"/publishers/google/models/(?P<model>[^/:]+):(?P<method>\w+)")),
]  # fmt: skip


class GoogleError(Exception):
    """A ``google.rpc.Status`` answer."""

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        *details: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message
        self.details = list(details)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def response(self) -> Response:
        return JSONResponse(self.body(), status_code=self.code, headers=self.headers)


def error_info(reason: str, service: str = "generativelanguage.googleapis.com") -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": service},
    }


def retry_info(seconds: int) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}


@dataclass
class FakeGeminiModel:
    id: str
    embedding: bool = False
    input_token_limit: int = 1_048_576
    output_token_limit: int = 65_536
    dimensions: int = 16


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGemini:
    oauth: FakeGoogleOAuth = field(default_factory=FakeGoogleOAuth)
    api_keys: set[str] = field(default_factory=lambda: {API_KEY})
    projects: set[str] = field(default_factory=lambda: {PROJECT})
    models: dict[str, FakeGeminiModel] = field(default_factory=dict)
    natural_length: int = 12
    chunk_delay: float = 0.0  # seconds between streamed chunks
    fail_stream_after: int | None = None  # chunks sent before a mid-stream UNAVAILABLE
    finish_reason: str | None = None  # replaces the answer's own finishReason when set
    requests: list[Recorded] = field(default_factory=list)
    streams_cancelled: int = 0
    url: str = ""
    _failures: list[GoogleError] = field(default_factory=list)

    def __post_init__(self) -> None:
        for model in (
            FakeGeminiModel(CHAT_MODEL),
            FakeGeminiModel(EMBEDDING_MODEL, True),
            FakeGeminiModel(PREDICT_EMBEDDING_MODEL, True),
        ):
            self.models.setdefault(model.id, model)

    @property
    def access_tokens(self) -> set[str]:
        return self.oauth.access_tokens

    def fail_next(self, error: GoogleError, times: int = 1) -> None:
        """Answer the next ``times`` model calls (not the token endpoint) with ``error``."""
        self._failures.extend([error] * times)

    def bodies(self, method: str) -> list[Any]:
        """Bodies of the calls to ``:method`` so far."""
        return [r.body for r in self.requests if r.path.endswith(f":{method}")]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                *self.oauth.routes(),
                Route("/", _ok),
                Route("/{path:path}", self._dispatch, methods=["GET", "POST"]),
            ]
        )

    async def _dispatch(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.").response()
        self.requests.append(
            Recorded(request.method, request.url.path, dict(request.headers), body)
        )
        try:
            for api, method, pattern in _ROUTES:
                match = pattern.fullmatch(request.url.path)
                if match and request.method == method:
                    self._authorize(api, request, match.groupdict())
                    if self._failures:
                        raise self._failures.pop(0)
                    return await self._handle(api, request, match.groupdict(), body or {})
            raise GoogleError(
                404, "NOT_FOUND", f"Requested entity was not found: {request.url.path}"
            )
        except GoogleError as exc:
            return exc.response()

    def _authorize(self, api: str, request: Request, where: dict[str, str]) -> None:
        if api == "gemini":
            key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
            if not key:
                raise GoogleError(
                    403,
                    "PERMISSION_DENIED",
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity to "
                    "call this API.",
                    error_info("SERVICE_DISABLED"),
                )
            if key not in self.api_keys:
                raise GoogleError(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    error_info("API_KEY_INVALID"),
                )
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise GoogleError(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential.",
                error_info("CREDENTIALS_MISSING", "aiplatform.googleapis.com"),
            )
        if token not in self.access_tokens:
            raise GoogleError(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED", "aiplatform.googleapis.com"),
            )
        project = where.get("project")
        if project is not None and project not in self.projects:
            raise GoogleError(
                403,
                "PERMISSION_DENIED",
                f"Permission 'aiplatform.endpoints.predict' denied on resource "
                f"'//aiplatform.googleapis.com/projects/{project}/locations/"
                f"{where['location']}/publishers/google/models/{where['model']}' "
                "(or it may not exist).",
                error_info("IAM_PERMISSION_DENIED", "aiplatform.googleapis.com"),
            )

    async def _handle(
        self, api: str, request: Request, where: dict[str, str], body: dict[str, Any]
    ) -> Response:
        if "model" not in where:
            return self._list(api, request)
        model = self._model(api, where)
        method = where.get("method")
        if method is None:
            return JSONResponse(_model_resource(api, model))
        if method in ("generateContent", "streamGenerateContent"):
            if model.embedding:
                raise self._not_found(api, where, method)
            answer = self._answer(model, body, vertex=api == "vertex")
            if method == "generateContent":
                return JSONResponse(_merged(answer))
            if request.query_params.get("alt") != "sse":
                return JSONResponse(answer)  # without alt=sse: one JSON array
            return StreamingResponse(self._sse(answer), media_type="text/event-stream")
        if not model.embedding:
            raise self._not_found(api, where, method)
        return JSONResponse(self._embed(api, model, method, body))

    def _model(self, api: str, where: dict[str, str]) -> FakeGeminiModel:
        model = self.models.get(where["model"])
        if model is None:
            raise self._not_found(api, where, where.get("method") or "get")
        return model

    def _not_found(self, api: str, where: dict[str, str], method: str) -> GoogleError:
        if api == "gemini":
            return GoogleError(
                404,
                "NOT_FOUND",
                f"models/{where['model']} is not found for API version {where['v']}, or is not "
                f"supported for {method}. Call ListModels to see the list of available models "
                "and their supported methods.",
            )
        return GoogleError(
            404,
            "NOT_FOUND",
            f"Publisher Model `publishers/google/models/{where['model']}` was not found or your "
            "project does not have access to it.",
        )

    def _list(self, api: str, request: Request) -> Response:
        size = int(request.query_params.get("pageSize") or 50)
        start = int(request.query_params.get("pageToken") or 0)
        everything = [_model_resource(api, model) for model in self.models.values()]
        page: dict[str, Any] = {
            "models" if api == "gemini" else "publisherModels": everything[start : start + size]
        }
        if start + size < len(everything):
            page["nextPageToken"] = str(start + size)
        return JSONResponse(page)

    # Generation ------------------------------------------------------------------------

    def _answer(
        self, model: FakeGeminiModel, body: dict[str, Any], *, vertex: bool
    ) -> list[dict[str, Any]]:
        """The streamed chunks of a generation (generateContent merges them)."""
        _check_fields(body, _GENERATE_FIELDS, "")
        config = body.get("generationConfig") or {}
        _check_fields(config, _CONFIG_FIELDS, " at 'generation_config'")
        prompt = _prompt_text(body)
        prompt_tokens = len(prompt.split())
        if prompt_tokens > model.input_token_limit:
            raise GoogleError(
                400,
                "INVALID_ARGUMENT",
                f"The input token count ({prompt_tokens}) exceeds the maximum "
                f"number of tokens allowed ({model.input_token_limit}).",
            )
        stops = config.get("stopSequences") or []
        if len(stops) > MAX_STOP_SEQUENCES:
            raise GoogleError(
                400,
                "INVALID_ARGUMENT",
                "* GenerateContentRequest.generation_config.stop_sequences: "
                f"at most {MAX_STOP_SEQUENCES} stop sequences are allowed",
            )
        if int(config.get("candidateCount", 1)) != 1:
            raise GoogleError(400, "INVALID_ARGUMENT", "Only one candidate can be specified")
        usage = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}
        meta = {"modelVersion": model.id, "responseId": uuid.uuid4().hex[:20]}
        if vertex:
            usage["trafficType"] = "ON_DEMAND"  # type: ignore[assignment]
        if BLOCKED_MARKER in prompt:
            feedback = {"blockReason": "SAFETY", "safetyRatings": [_danger("HIGH", blocked=True)]}
            return [{"promptFeedback": feedback, "usageMetadata": usage, **meta}]
        if call := _function_call(body, prompt):
            content = {"parts": [{"functionCall": call}], "role": "model"}
            called = {"index": 0, "content": content, "finishReason": "STOP"}
            done = {**usage, "candidatesTokenCount": 5, "totalTokenCount": prompt_tokens + 5}
            return [{"candidates": [called], "usageMetadata": done, **meta}]
        if config.get("responseMimeType") == "application/json":
            schema = config.get("responseJsonSchema") or "json"
            text = json.dumps(_instance(schema, prompt.split()))
            words, reason = [text[: len(text) // 2], text[len(text) // 2 :]], "STOP"
        else:
            words, reason = self._words(model, prompt, config)
        chunks: list[dict[str, Any]] = []
        for start in range(0, max(len(words), 1), 2):
            text = "".join(words[start : start + 2])
            candidate: dict[str, Any] = {"index": 0}
            if text:
                candidate["content"] = {"parts": [{"text": text}], "role": "model"}
            chunks.append({"candidates": [candidate], "usageMetadata": dict(usage), **meta})
        last = chunks[-1]["candidates"][0]
        last["finishReason"] = reason = self.finish_reason or reason
        if reason == "SAFETY":
            last["safetyRatings"] = [_danger("HIGH", blocked=True)]
        chunks[-1]["usageMetadata"] = {
            **usage,
            "candidatesTokenCount": len(words),
            "totalTokenCount": prompt_tokens + len(words),
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        }
        if not words:  # proto3 JSON leaves zero counts out
            del chunks[-1]["usageMetadata"]["candidatesTokenCount"]
        return chunks

    def _words(
        self, model: FakeGeminiModel, prompt: str, config: dict[str, Any]
    ) -> tuple[list[str], str]:
        limit = int(config.get("maxOutputTokens") or model.output_token_limit)
        if limit < 1 or limit > model.output_token_limit:
            raise GoogleError(
                400,
                "INVALID_ARGUMENT",
                f"max_output_tokens must be between 1 and {model.output_token_limit}",
            )
        # At step i the likeliest word is WORDS[start + i], the next likeliest the one after
        # it, and so on: greedy decoding reads the list in order, and topK=1 is greedy too.
        start = sum(prompt.encode()) % len(WORDS)
        temperature = float(config.get("temperature", 1.0))
        keep = len(WORDS) if temperature > 0 else 1
        if "topK" in config:
            keep = min(keep, int(config["topK"]))
        if "topP" in config:
            keep = min(keep, max(1, math.ceil(float(config["topP"]) * len(WORDS))))
        seed = config.get("seed")
        rng = (
            random.Random(f"{seed}|{prompt}|{temperature}") if seed is not None else random.Random()
        )

        def draw(step: int) -> str:
            return WORDS[(start + step + rng.randrange(keep)) % len(WORDS)]

        unsafe = UNSAFE_MARKER in prompt
        length = 3 if unsafe else self.natural_length
        words = [draw(step) for step in range(min(length, limit))]
        tokens = [words[0]] + [f" {word}" for word in words[1:]] if words else []
        reason = "MAX_TOKENS" if limit < length else "SAFETY" if unsafe else "STOP"
        text = "".join(tokens)
        cut = min(
            (text.find(s) for s in config.get("stopSequences") or () if s in text), default=-1
        )
        if cut >= 0:
            kept, total = [], 0
            for token in tokens:
                if total + len(token) > cut:
                    if cut > total:
                        kept.append(token[: cut - total])
                    break
                kept.append(token)
                total += len(token)
            return kept, "STOP"
        return tokens, reason

    async def _sse(self, chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
        sent = 0
        try:
            for chunk in chunks:
                if self.fail_stream_after is not None and sent >= self.fail_stream_after:
                    error = GoogleError(
                        503, "UNAVAILABLE", "The model is overloaded. Please try again later."
                    )
                    yield f"data: {json.dumps(error.body())}\r\n\r\n".encode()
                    return
                if sent and self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                yield f"data: {json.dumps(chunk)}\r\n\r\n".encode()
                sent += 1
        except (asyncio.CancelledError, GeneratorExit):
            self.streams_cancelled += 1
            raise

    # Embeddings ------------------------------------------------------------------------

    def _embed(
        self, api: str, model: FakeGeminiModel, method: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if method == "embedContent":
            text = _content_text(body.get("content"))
            dims = _dimensions(model, body.get("embedContentConfig") or body)
            answer: dict[str, Any] = {"embedding": {"values": _vector(text, dims)}}
            if api == "vertex":
                tokens = len(text.split())
                answer["usageMetadata"] = {"promptTokenCount": tokens, "totalTokenCount": tokens}
                answer["truncated"] = False
            return answer
        if method == "batchEmbedContents":
            requests = body.get("requests") or []
            if not requests or len(requests) > MAX_BATCH_EMBED:
                raise GoogleError(
                    400,
                    "INVALID_ARGUMENT",
                    "* BatchEmbedContentsRequest.requests: between 1 and "
                    f"{MAX_BATCH_EMBED} requests are allowed in one batch",
                )
            texts, vectors = [], []
            for item in requests:
                if api == "gemini" and item.get("model") != f"models/{model.id}":
                    raise GoogleError(
                        400,
                        "INVALID_ARGUMENT",
                        "Model names in the batch must match the request's model",
                    )
                texts.append(_content_text(item.get("content")))
                config = item.get("embedContentConfig") or item
                vectors.append({"values": _vector(texts[-1], _dimensions(model, config))})
            answer = {"embeddings": vectors}
            if api == "vertex":
                tokens = sum(len(text.split()) for text in texts)
                answer["usageMetadata"] = {"promptTokenCount": tokens, "totalTokenCount": tokens}
            return answer
        if method == "predict" and api == "vertex":
            instances = body.get("instances") or []
            if not instances or len(instances) > MAX_PREDICT_INSTANCES:
                raise GoogleError(
                    400,
                    "INVALID_ARGUMENT",
                    f"between 1 and {MAX_PREDICT_INSTANCES} instances are allowed",
                )
            dims = _dimensions(model, body.get("parameters") or {})
            predictions = []
            for instance in instances:
                text = instance.get("content") or ""
                if not text:
                    raise GoogleError(400, "INVALID_ARGUMENT", "The text content is empty.")
                stats = {"truncated": False, "token_count": len(text.split())}
                predictions.append(
                    {"embeddings": {"statistics": stats, "values": _vector(text, dims)}}
                )
            chars = sum(len(i["content"]) for i in instances)
            return {"predictions": predictions, "metadata": {"billableCharacterCount": chars}}
        raise GoogleError(404, "NOT_FOUND", f"Method {method} is not supported by {model.id}.")


def _check_fields(body: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise GoogleError(
            400,
            "INVALID_ARGUMENT",
            f'Invalid JSON payload received. Unknown name "{unknown[0]}"{where}: '
            "Cannot find field.",
        )


def _prompt_text(body: dict[str, Any]) -> str:
    contents = body.get("contents") or []
    if not contents:
        raise GoogleError(
            400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"
        )
    texts = []
    system = body.get("systemInstruction")
    for content in [*contents, *([system] if system is not None else [])]:
        if content.get("role", "user") not in ("user", "model"):
            raise GoogleError(400, "INVALID_ARGUMENT", "Please use a valid role: user, model.")
        texts.append(_content_text(content))
    return " ".join(texts)


def _content_text(content: Any) -> str:
    parts = (content or {}).get("parts") or []
    if not parts:
        raise GoogleError(400, "INVALID_ARGUMENT", "* contents.parts: must not be empty")
    texts = []
    for part in parts:
        _check_fields(part, _PART_FIELDS, " at 'contents.parts'")
        if "inlineData" in part:
            _check_image(part["inlineData"])
            texts.append("[image]")
        elif "functionCall" in part:
            texts.append(part["functionCall"]["name"])
        elif "functionResponse" in part:
            texts.append(json.dumps(part["functionResponse"].get("response", {})))
        elif part.get("text"):
            texts.append(part["text"])
        else:
            raise GoogleError(
                400,
                "INVALID_ARGUMENT",
                "Unable to submit request because it has an empty text parameter. Add a value "
                "to the parameter and try again.",
            )
    return " ".join(texts)


_PART_FIELDS = {"text", "inlineData", "functionCall", "functionResponse", "thought",
                "thoughtSignature"}  # fmt: skip


def _check_image(blob: dict[str, Any]) -> None:
    # Proto JSON: a field by its JSON name or its proto name.
    mime_type = blob.get("mimeType", blob.get("mime_type"))
    if not str(mime_type).startswith("image/"):
        raise GoogleError(400, "INVALID_ARGUMENT", f"Unsupported MIME type: {mime_type}")
    try:
        base64.b64decode(blob.get("data", ""), validate=True)
    except (binascii.Error, ValueError):
        raise GoogleError(
            400,
            "INVALID_ARGUMENT",
            "Invalid value at 'contents.parts.inline_data.data' (TYPE_BYTES)",
        ) from None


def _function_call(body: dict[str, Any], prompt: str) -> dict[str, Any] | None:
    """The fake model's function call for this request, if it makes one."""
    declarations = [
        d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations", [])
    ]
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    allowed = calling.get("allowedFunctionNames")
    if allowed and mode != "ANY":
        raise GoogleError(
            400, "INVALID_ARGUMENT",
            "allowed_function_names should only be set when the Mode is ANY or VALIDATED.",
        )  # fmt: skip
    if not declarations or mode == "NONE":
        return None
    last = (body.get("contents") or [{}])[-1]
    user_words = last.get("role", "user") == "user" and all(
        "functionResponse" not in part for part in last.get("parts", [])
    )
    if mode != "ANY" and not user_words:
        return None
    chosen = next(d for d in declarations if not allowed or d["name"] in allowed)
    # Proto JSON accepts a field's JSON name or its proto name (google-genai sends the latter).
    schema = (
        chosen.get("parametersJsonSchema")
        or chosen.get("parameters_json_schema")
        or chosen.get("parameters")
        or {}
    )
    properties = schema.get("properties", {})
    words = prompt.split()
    args = {name: _instance(properties.get(name, {}), words) for name in schema.get("required", [])}
    return {"name": chosen["name"], "args": args}


def _instance(schema: Any, words: list[str]) -> Any:
    """A small JSON value of ``schema``'s shape ("json": an object with a "reply")."""
    word = (words[-1] if words else "ok").strip("?!.,")
    if schema == "json":
        return {"reply": word}
    if not isinstance(schema, dict):
        return word
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return _instance(schema["anyOf"][0], words)
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: _instance(properties[name], words) for name in schema.get("required", [])}
    return {"integer": 1, "number": 1.5, "boolean": True, "array": []}.get(
        str(schema.get("type")), word
    )


def _dimensions(model: FakeGeminiModel, config: dict[str, Any]) -> int:
    wanted = config.get("outputDimensionality")
    return min(int(wanted), model.dimensions) if wanted else model.dimensions


def _vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _merged(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """generateContent's answer: the stream's chunks as one response."""
    merged = dict(chunks[-1])
    parts = [
        part
        for chunk in chunks
        for candidate in chunk.get("candidates", ())
        for part in candidate.get("content", {}).get("parts", ())
    ]
    text = "".join(part.get("text", "") for part in parts)
    calls = [part for part in parts if "functionCall" in part]
    if "candidates" in merged:
        candidate = dict(merged["candidates"][0])
        if text or calls:
            joined = [{"text": text}] if text else []
            candidate["content"] = {"parts": joined + calls, "role": "model"}
        merged["candidates"] = [candidate]
    return merged


def _danger(probability: str, *, blocked: bool) -> dict[str, Any]:
    return {
        "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
        "probability": probability,
        "blocked": blocked,
    }


def _model_resource(api: str, model: FakeGeminiModel) -> dict[str, Any]:
    if api == "vertex":
        return {
            "name": f"publishers/google/models/{model.id}",
            "versionId": "001",
            "openSourceCategory": "PROPRIETARY",
            "launchStage": "GA",
        }
    methods = (
        ["embedContent", "countTokens"]
        if model.embedding
        else ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
    )
    return {
        "name": f"models/{model.id}",
        "baseModelId": model.id,
        "version": "001",
        "displayName": model.id,
        "description": f"A fake {model.id}",
        "inputTokenLimit": model.input_token_limit,
        "outputTokenLimit": model.output_token_limit,
        "supportedGenerationMethods": methods,
        **(
            {}
            if model.embedding
            else {
                "temperature": 1.0,
                "maxTemperature": 2.0,
                "topP": 0.95,
                "topK": 64,
                "thinking": True,
            }
        ),
    }


async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok")


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    """A running fake Gemini API / Vertex AI / OAuth token endpoint on one loopback port."""
    fake = FakeGemini()
    with serve_in_thread(fake.app(), ready_path="/") as url:
        fake.url = url
        fake.oauth.token_uri = f"{url}/token"
        yield fake
