"""A FAKE Ollama server: Ollama's HTTP API as its ``docs/api.md`` describes it, no model inside.

Ollama cannot run on a build machine, so tests meet it here, at the HTTP boundary: a real
server on a loopback port (Starlette under uvicorn in a thread) speaking Ollama's wire
format — NDJSON streams whose last chunk carries ``done``, ``done_reason``, token counts
and durations; ``{"error": ...}`` bodies and in-stream error lines; pull progress.

Its "model" is deterministic: a token is a whitespace-separated word, and the reply cycles
through the words of the prompt (the last user message for chat) backwards, starting at
an offset set by ``seed`` (none when decoding is greedy: temperature 0 or top_k 1).
``num_predict``, ``stop`` and ``num_ctx`` behave as in Ollama, so tests can see options take
effect; every request body is recorded for exact asserts. With ``"logprobs": true`` each
chunk carries its token's log probability (``-0.25`` times its position plus one) and
``top_logprobs`` alternatives, in Ollama's ``logprobs`` shape.
Over-long prompts are truncated to ``num_ctx`` tokens like Ollama's runner does (the
count reported is ``num_ctx``), or refused with HTTP 400 when the request says
``"truncate": false`` and the fake plays Ollama 0.12.6 or later (``honours_truncate``).

Tools, structured outputs and images (docs/api.md: "Chat request (with tools)", "Request
(structured outputs)", "Chat request (with images)"): a model whose ``capabilities`` lack
``tools`` or ``vision`` refuses ``tools`` or ``images`` with a 400, as Ollama does; images
must be base64. Given tools, a chat whose last turn is the user's is answered by calling the
first tool, its required string arguments filled with the user's last word, in a chunk of
its own (``message.tool_calls``, arguments as an object), then a final chunk with
``done_reason: "stop"``; after a tool result the model answers in words, from the result. ``format``
(``"json"`` or a JSON schema) makes the answer a JSON value of that shape, streamed in
pieces.

    fake = FakeOllama()
    fake.start()
    fake.token_delay = 0.05          # faults are attributes, changed while it runs
    ...
    fake.stop()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import math
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_MODEL = "llama3.1:8b"
EMBEDDING_MODEL = "all-minilm:latest"
NDJSON = "application/x-ndjson"
CONTEXT_ERROR = "the input length exceeds the context length"


@dataclass
class FakeModel:
    name: str
    family: str = "llama"
    parameter_size: str = "8.0B"
    quantization: str = "Q4_K_M"
    size: int = 4_920_753_328
    context_length: int = 131_072  # what the GGUF says the model was trained for
    num_ctx: int | None = None  # a Modelfile PARAMETER, when set
    embedding_length: int = 8
    modified_at: str = "2026-01-02T03:04:05.123456789Z"
    capabilities: tuple[str, ...] = ("completion", "tools")

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def tag(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": self.modified_at,
            "size": self.size,
            "digest": self.digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": self.family,
                "families": [self.family],
                "parameter_size": self.parameter_size,
                "quantization_level": self.quantization,
            },
        }


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: dict[str, Any]
    authorization: str | None = None


@dataclass
class FakeOllama:
    """Ollama's API on ``url``; models, faults and observations are plain attributes."""

    version: str = "0.12.6"
    honours_truncate: bool = True  # False plays Ollama before 0.12.6: always truncates
    reports_context_length: bool = True  # /api/ps has "context_length" since Ollama 0.9
    # Share of a loaded model in GPU memory, as /api/ps reports it in "size_vram": 1.0 on a
    # working GPU, 0.0 when Ollama fell back to the CPU (e.g. an NVIDIA driver too old).
    vram_fraction: float = 1.0
    default_num_ctx: int = 4096
    reply_tokens: int = 6  # reply length when num_predict is not set
    models: dict[str, FakeModel] = field(default_factory=dict)  # pulled
    library: dict[str, FakeModel] = field(default_factory=dict)  # what /api/pull can fetch
    # Faults.
    token_delay: float = 0.0  # seconds before each streamed token
    fail_after_tokens: int | None = None  # then an in-stream {"error": ...} line
    fail_message: str = "an error was encountered while running the model"
    hang: bool = False  # generation endpoints never answer while set
    pull_steps: int = 50  # progress lines per layer
    http_errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # path -> answer
    # Observations.
    requests: list[RecordedRequest] = field(default_factory=list)
    loaded: dict[str, int] = field(default_factory=dict)  # model -> num_ctx it runs with
    streams_started: int = 0
    streams_finished: int = 0
    streams_cancelled: int = 0  # the client went away mid-stream

    def __post_init__(self) -> None:
        self._sock: socket.socket | None = _bound_socket(0)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._app = Starlette(
            routes=[
                Route("/api/version", self._version, methods=["GET"]),
                Route("/api/tags", self._tags, methods=["GET"]),
                Route("/api/ps", self._ps, methods=["GET"]),
                Route("/api/show", self._show, methods=["POST"]),
                Route("/api/pull", self._pull, methods=["POST"]),
                Route("/api/generate", self._generate, methods=["POST"]),
                Route("/api/chat", self._chat, methods=["POST"]),
                Route("/api/embed", self._embed, methods=["POST"]),
            ]
        )

    # Lifecycle: until start() the port is bound but refuses connections, like a
    # machine where Ollama has not started yet.

    def start(self) -> None:
        if self._sock is None:
            self._sock = _bound_socket(self.port)
        config = uvicorn.Config(
            self._app,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Ollama server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def add_model(self, model: FakeModel, *, pulled: bool = True) -> FakeModel:
        self.library[model.name] = model
        if pulled:
            self.models[model.name] = model
        return model

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == path]

    # Endpoints ------------------------------------------------------------------------

    async def _version(self, request: Request) -> Response:
        return JSONResponse({"version": self.version})

    async def _tags(self, request: Request) -> Response:
        auth = request.headers.get("authorization")
        self.requests.append(RecordedRequest("GET", "/api/tags", {}, auth))
        return JSONResponse({"models": [m.tag() for m in self.models.values()]})

    async def _ps(self, request: Request) -> Response:
        running = []
        for name, num_ctx in self.loaded.items():
            if model := self.models.get(name):
                expires = datetime.now(UTC).isoformat()
                vram = int(model.size * self.vram_fraction)
                extra: dict[str, Any] = {"expires_at": expires, "size_vram": vram}
                if self.reports_context_length:
                    extra["context_length"] = num_ctx
                running.append({**model.tag(), **extra})
        return JSONResponse({"models": running})

    async def _show(self, request: Request) -> Response:
        body, problem = await self._receive(request)
        if problem is not None:
            return problem
        model = self.models.get(_with_tag(body["model"]))
        if model is None:
            return _error(404, f"model '{body['model']}' not found")
        parameters = 'stop                           "<|eot_id|>"'
        if model.num_ctx:
            parameters = f"num_ctx                        {model.num_ctx}\n{parameters}"
        return JSONResponse(
            {
                "modelfile": f"FROM {model.name}\n",
                "parameters": parameters,
                "template": "{{ .Prompt }}",
                "details": model.tag()["details"],
                "model_info": {
                    "general.architecture": model.family,
                    f"{model.family}.context_length": model.context_length,
                    f"{model.family}.embedding_length": model.embedding_length,
                },
                "capabilities": list(model.capabilities),
                "modified_at": model.modified_at,
            }
        )

    async def _pull(self, request: Request) -> Response:
        body, problem = await self._receive(request)
        if problem is not None:
            return problem
        lines = self._pull_lines(_with_tag(body["model"]))
        if body.get("stream") is False:  # one object: the last status, or the error
            last = [json.loads(line) async for line in lines][-1]
            return _error(500, last["error"]) if "error" in last else JSONResponse(last)
        return StreamingResponse(lines, media_type=NDJSON)

    async def _pull_lines(self, name: str) -> AsyncIterator[bytes]:
        yield _line({"status": "pulling manifest"})
        model = self.library.get(name)
        if model is None:  # what Ollama says for a name the registry does not know
            yield _line({"error": "pull model manifest: file does not exist"})
            return
        for digest, total in ((model.digest, model.size), (_sha(model.name + "params"), 96)):
            status = f"pulling {digest[:12]}"
            yield _line({"status": status, "digest": f"sha256:{digest}", "total": total})
            for step in range(1, self.pull_steps + 1):
                completed = total * step // self.pull_steps
                line = {"status": status, "digest": f"sha256:{digest}", "total": total}
                yield _line({**line, "completed": completed})
                await asyncio.sleep(0)
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            yield _line({"status": status})
        self.models[name] = model

    async def _embed(self, request: Request) -> Response:
        body, problem = await self._receive(request, needs_model=True)
        if problem is not None:
            return problem
        model = self.models[_with_tag(body["model"])]
        inputs = body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else inputs
        num_ctx = self._load(model, body.get("options"))
        counts = [len(text.split()) for text in inputs]
        if body.get("truncate") is False and any(count > num_ctx for count in counts):
            return _error(400, CONTEXT_ERROR)
        return JSONResponse(
            {
                "model": body["model"],
                "embeddings": [_vector(text, model.embedding_length) for text in inputs],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": sum(min(count, num_ctx) for count in counts),
            }
        )

    async def _generate(self, request: Request) -> Response:
        return await self._generation(request, chat=False)

    async def _chat(self, request: Request) -> Response:
        return await self._generation(request, chat=True)

    async def _generation(self, request: Request, *, chat: bool) -> Response:
        body, problem = await self._receive(request, needs_model=True)
        if problem is not None:
            return problem
        while self.hang and self._server is not None and not self._server.should_exit:
            await asyncio.sleep(0.01)
        model = self.models[_with_tag(body["model"])]
        options = body.get("options") or {}
        num_ctx = self._load(model, options)
        messages = body.get("messages") or []
        if chat:
            prompt = [w for m in messages for w in str(m.get("content", "")).split()]
            # The model answers the last user turn, or the last tool result after it.
            users = [m for m in messages if m.get("role") in ("user", "tool")]
            source = str(users[-1].get("content", "")).split() if users else prompt
        else:
            prompt = source = str(body.get("prompt") or "").split()
        if not prompt and (not chat or not messages):  # "Load a model" / "Unload a model"
            reason = "load"
            if body.get("keep_alive") == 0:
                self.loaded.pop(model.name, None)
                reason = "unload"
            return JSONResponse(self._chunk(body["model"], "", chat, done=True, done_reason=reason))
        if len(prompt) > num_ctx:
            if self.honours_truncate and body.get("truncate") is False:
                return _error(400, CONTEXT_ERROR)
            # The runner keeps the last num_ctx tokens and evaluates exactly that many.
            source = source[-num_ctx:]
        evaluated = min(len(prompt), num_ctx)
        # With "shift": false generation stops when the window is full; else it slides.
        room = num_ctx - evaluated if body.get("shift") is False else math.inf
        if problem := _refused_features(model, body):
            return problem
        tools = body.get("tools") or [] if chat else []
        calls: list[dict[str, Any]] = []
        if tools and messages[-1].get("role") == "user":
            pieces: tuple[list[str], str] = ([], "stop")
            calls = [_call(tools[0], source)]
        elif body.get("format"):
            pieces = (_pieces(json.dumps(_instance(body["format"], source))), "stop")
        else:
            pieces = _reply(source, options, self.reply_tokens, room)
        top = int(body.get("top_logprobs") or 0) if body.get("logprobs") else None
        lines = self._generation_lines(body["model"], chat, pieces, evaluated, calls, top)
        if body.get("stream") is False:
            return JSONResponse(await _collect(lines, chat))
        return StreamingResponse(lines, media_type=NDJSON)

    async def _generation_lines(
        self,
        model: str,
        chat: bool,
        pieces: tuple[list[str], str],
        evaluated: int,
        calls: list[dict[str, Any]],
        top_logprobs: int | None = None,
    ) -> AsyncIterator[bytes]:
        tokens, reason = pieces
        self.streams_started += 1
        try:
            for index, token in enumerate(tokens):
                await asyncio.sleep(self.token_delay)
                if self.fail_after_tokens is not None and index >= self.fail_after_tokens:
                    yield _line({"error": self.fail_message})
                    return
                chunk = self._chunk(model, token, chat, done=False)
                if top_logprobs is not None:
                    chunk["logprobs"] = [_logprob(token, index, top_logprobs)]
                yield _line(chunk)
            if calls:
                chunk = self._chunk(model, "", chat, done=False)
                chunk["message"]["tool_calls"] = calls
                yield _line(chunk)
            final = self._chunk(model, "", chat, done=True, done_reason=reason)
            final.update(
                total_duration=5_043_500_667,
                load_duration=5_025_959,
                prompt_eval_count=evaluated,
                prompt_eval_duration=325_953_000,
                eval_count=len(tokens),
                eval_duration=4_709_213_000,
            )
            yield _line(final)
            self.streams_finished += 1
        except (asyncio.CancelledError, GeneratorExit):
            self.streams_cancelled += 1
            raise

    # Helpers --------------------------------------------------------------------------

    async def _receive(
        self, request: Request, *, needs_model: bool = False
    ) -> tuple[dict[str, Any], Response | None]:
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            return {}, _error(400, f"invalid JSON: {exc}")
        self.requests.append(
            RecordedRequest(
                request.method, request.url.path, body, request.headers.get("authorization")
            )
        )
        if request.url.path in self.http_errors:
            return body, _error(*self.http_errors[request.url.path])
        if not body.get("model"):
            return body, _error(400, "model is required")
        if needs_model and _with_tag(body["model"]) not in self.models:
            return body, _error(404, f'model "{body["model"]}" not found, try pulling it first')
        return body, None

    def _load(self, model: FakeModel, options: dict[str, Any] | None) -> int:
        num_ctx = int((options or {}).get("num_ctx") or model.num_ctx or self.default_num_ctx)
        self.loaded[model.name] = num_ctx
        return num_ctx

    @staticmethod
    def _chunk(model: str, text: str, chat: bool, **fields: Any) -> dict[str, Any]:
        chunk: dict[str, Any] = {"model": model, "created_at": datetime.now(UTC).isoformat()}
        if chat:
            chunk["message"] = {"role": "assistant", "content": text}
        else:
            chunk["response"] = text
        return {**chunk, **fields}


def _reply(
    source: list[str], options: dict[str, Any], natural_length: int, room: float
) -> tuple[list[str], str]:
    """The canned answer as (tokens, done_reason), honouring num_predict, stop and seed."""
    words = source[::-1] or ["ok"]
    # Greedy decoding (temperature 0, or top_k 1) has nothing left for a seed to change.
    greedy = options.get("temperature") == 0 or options.get("top_k") == 1
    start = 0 if greedy else int(options.get("seed") or 0) % len(words)
    # Left alone, the fake "model" ends its answer after natural_length tokens.
    length, reason = natural_length, "stop"
    limit = options.get("num_predict")
    if limit is not None and 0 <= limit < length:
        length, reason = limit, "length"
    if room < length:
        length, reason = int(room), "length"
    tokens = [("" if i == 0 else " ") + words[(start + i) % len(words)] for i in range(length)]
    text = "".join(tokens)
    hits = [text.index(stop) for stop in options.get("stop") or [] if stop and stop in text]
    if not hits:
        return tokens, reason
    # Ollama ends at a stop sequence with "stop", sending only the text before it.
    cut, kept, used = min(hits), [], 0
    for token in tokens:
        if used + len(token) > cut:
            kept += [token[: cut - used]] if cut > used else []
            break
        kept.append(token)
        used += len(token)
    return kept, "stop"


async def _collect(lines: AsyncIterator[bytes], chat: bool) -> dict[str, Any]:
    """A stream folded into one object, as Ollama answers with "stream": false."""
    text, final, logprobs = "", {}, []
    calls: list[dict[str, Any]] = []
    async for raw in lines:
        chunk: dict[str, Any] = json.loads(raw)
        if "error" in chunk:
            return chunk
        text += chunk["message"]["content"] if chat else chunk["response"]
        logprobs += chunk.get("logprobs") or []
        calls += chunk["message"].get("tool_calls", []) if chat else []
        final = chunk
    if chat:
        final["message"]["content"] = text
        if calls:
            final["message"]["tool_calls"] = calls
    else:
        final["response"] = text
    if logprobs:
        final["logprobs"] = logprobs
    return final


def _logprob(token: str, index: int, top: int) -> dict[str, Any]:
    """api/types.go ``Logprob``: the token, its log probability and bytes, and ``top``
    alternatives (the token itself first, as Ollama lists the likeliest first)."""
    value = -0.25 * (index + 1)
    alternatives = [{"token": token, "logprob": value, "bytes": list(token.encode())}]
    alternatives += [
        {"token": f"alt{k}", "logprob": value - k, "bytes": list(f"alt{k}".encode())}
        for k in range(1, top)
    ]
    return {
        "token": token,
        "logprob": value,
        "bytes": list(token.encode()),
        "top_logprobs": alternatives[:top],
    }


def _refused_features(model: FakeModel, body: dict[str, Any]) -> Response | None:
    """Ollama's 400s for tools or images the model cannot take, and for images that are not
    base64."""
    name = f"registry.ollama.ai/library/{model.name}"
    if body.get("tools") and "tools" not in model.capabilities:
        return _error(400, f"{name} does not support tools")
    images = list(body.get("images") or [])
    images += [image for m in body.get("messages") or [] for image in m.get("images") or []]
    if images and "vision" not in model.capabilities:
        return _error(400, f"{name} does not support images")
    for image in images:
        try:
            base64.b64decode(image, validate=True)
        except (binascii.Error, ValueError):
            return _error(400, "illegal base64 data at input byte 0")
    return None


def _call(tool: dict[str, Any], words: list[str]) -> dict[str, Any]:
    """The fake model's call of ``tool``: required strings get the user's last word."""
    function = tool["function"]
    parameters = function.get("parameters") or {}
    arguments = {
        name: _instance(parameters.get("properties", {}).get(name, {}), words)
        for name in parameters.get("required", [])
    }
    return {"function": {"name": function["name"], "arguments": arguments}}


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
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: _instance(properties[name], words) for name in schema.get("required", [])}
    return {"integer": 1, "number": 1.5, "boolean": True, "array": []}.get(str(kind), word)


def _pieces(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [digest[i % len(digest)] / 255 - 0.5 for i in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _with_tag(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _bound_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # The same port again after stop(), despite connections lingering in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@pytest.fixture(scope="module")
def shared_fake_ollama() -> Iterator[FakeOllama]:
    """One running fake for a whole test module (for tests that do not change its faults)."""
    fake = FakeOllama()
    fake.add_model(FakeModel(DEFAULT_MODEL))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_ollama_down() -> Iterator[FakeOllama]:
    """A fake that has not started: its port refuses connections until ``start()``."""
    fake = FakeOllama()
    fake.add_model(FakeModel(DEFAULT_MODEL))
    fake.add_model(FakeModel(EMBEDDING_MODEL, family="bert", parameter_size="23M", size=45_960_996))
    yield fake
    fake.stop()


@pytest.fixture
def fake_ollama(fake_ollama_down: FakeOllama) -> FakeOllama:
    """A running fake Ollama holding ``llama3.1:8b`` and ``all-minilm``."""
    fake_ollama_down.start()
    return fake_ollama_down
