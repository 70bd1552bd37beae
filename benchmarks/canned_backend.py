"""A fast OpenAI-compatible server that streams canned tokens: the backend the gateway
benchmark puts behind the gateway, and calls directly to compare.

It speaks what the gateway's ``openai`` backend uses: ``GET /v1/models``, and
``POST /v1/chat/completions`` and ``POST /v1/completions``, streamed as server-sent events
(with the usage chunk ``stream_options.include_usage`` asks for) or whole. A request gets
``max_tokens`` tokens (``--tokens`` when it names none), one every ``--inter-token-ms``
milliseconds on a fixed schedule from the request's arrival, so its timing does not drift
with load. It is a bare ASGI callable (no framework), with every chunk's bytes built from
pre-encoded pieces, so it stays far from being the bottleneck::

    python -m benchmarks.canned_backend --port 9001 --inter-token-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

MODEL = "canned"
# Each canned token is one of these, in turn; none is empty (an empty delta is no token).
WORDS = (" The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".")
MAX_TOKENS = 100_000

_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_JSON_HEADERS = [(b"content-type", b"application/json")]


class CannedBackend:
    """The ASGI app: ``uvicorn.run(CannedBackend(inter_token_s=0.02, default_tokens=32))``."""

    def __init__(self, *, inter_token_s: float, default_tokens: int, model: str = MODEL) -> None:
        self.inter_token_s = inter_token_s
        self.default_tokens = default_tokens
        self.model = model
        self._model_json = json.dumps(model).encode()
        self._words = [json.dumps(word).encode() for word in WORDS]
        self._ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/v1/models":
            models = {"object": "list", "data": [{"id": self.model, "object": "model"}]}
            await _json(send, 200, models)
        elif method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            try:
                request = json.loads(await _body(receive))
            except ValueError:
                await _json(send, 400, {"error": {"message": "body is not JSON"}})
                return
            await self._generate(send, request, chat=path == "/v1/chat/completions")
        else:
            await _json(send, 404, {"error": {"message": f"no route {method} {path}"}})

    async def _generate(self, send: Send, request: dict[str, Any], *, chat: bool) -> None:
        if request.get("model") != self.model:
            error = {"message": f"model {request.get('model')!r} not found", "type": "not_found"}
            await _json(send, 404, {"error": error})
            return
        limit = request.get("max_completion_tokens") or request.get("max_tokens")
        count = max(1, min(int(limit or self.default_tokens), MAX_TOKENS))
        prompt = json.dumps(request.get("messages") if chat else request.get("prompt"))
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": count,
            "total_tokens": len(prompt.split()) + count,
        }
        if not request.get("stream"):
            await _json(send, 200, self._whole(count, usage, chat=chat))
            return
        options = request.get("stream_options") or {}
        include_usage = bool(options.get("include_usage"))
        await self._stream(send, count, usage if include_usage else None, chat=chat)

    async def _stream(
        self, send: Send, count: int, usage: dict[str, int] | None, *, chat: bool
    ) -> None:
        started = time.monotonic()
        kind = b"chat.completion.chunk" if chat else b"text_completion"
        head = b'data: {"id":"cmpl-%d","object":"%s","created":%d,"model":%s,"choices":[' % (
            next(self._ids),
            kind,
            int(time.time()),
            self._model_json,
        )
        if chat:
            text_open, text_close = b'{"index":0,"delta":{"content":', b"}"
        else:
            text_open, text_close = b'{"index":0,"text":', b""
        tail = b',"logprobs":null,"finish_reason":null}]}\n\n'

        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        if chat:  # OpenAI's first chat chunk names the role and carries no content
            role = b'{"index":0,"delta":{"role":"assistant","content":""}'
            await _send_body(send, head + role + tail)
        for index in range(count):
            if self.inter_token_s:
                due = started + (index + 1) * self.inter_token_s
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            word = self._words[index % len(self._words)]
            await _send_body(send, head + text_open + word + text_close + tail)
        finish = b'{"index":0,"delta":{}' if chat else b'{"index":0,"text":""'
        closing = head + finish + b',"logprobs":null,"finish_reason":"length"}]}\n\n'
        if usage is not None:
            closing += head + b'],"usage":' + json.dumps(usage).encode() + b"}\n\n"
        await _send_body(send, closing + b"data: [DONE]\n\n", more=False)

    def _whole(self, count: int, usage: dict[str, int], *, chat: bool) -> dict[str, Any]:
        text = "".join(WORDS[index % len(WORDS)] for index in range(count))
        choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": "length"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {
            "id": f"cmpl-{next(self._ids)}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
            "usage": usage,
        }


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return body


async def _send_body(send: Send, body: bytes, *, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _JSON_HEADERS})
    await _send_body(send, json.dumps(payload).encode(), more=False)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.canned_backend")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument(
        "--inter-token-ms", type=float, default=0.0, help="gap before each token (0: no wait)"
    )
    parser.add_argument("--tokens", type=int, default=32, help="tokens when max_tokens is unset")
    args = parser.parse_args(argv)
    app = CannedBackend(inter_token_s=args.inter_token_ms / 1000, default_tokens=args.tokens)
    uvicorn.run(
        app,
        host="127.0.0.1",  # loopback only
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
