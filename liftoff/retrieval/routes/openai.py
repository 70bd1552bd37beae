"""The collections as OpenAI-compatible models: ``GET /v1/models`` lists ``rag:<collection>``
and ``POST /v1/chat/completions`` answers from one, streaming too.

Responses are OpenAI's chat completion objects with two more top-level fields: ``citations``
(the passages the answer was given: ``index``, ``source``, ``chunk``, ``start``, ``score``,
``text``) and ``search_query`` (what was searched for). In a stream, the first chunk carries
them. The openai SDK keeps unknown fields, so ``completion.citations`` works as is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from openai.types.chat import ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage

from liftoff.retrieval.chain import MODEL_PREFIX, prepare
from liftoff.retrieval.deps import MetricsDep, RetrievalDep
from liftoff.retrieval.errors import ERRORS, ServiceError
from liftoff.retrieval.protocol import ChatCompletionRequest
from liftoff.server.context import RequestInfo, request_info
from liftoff.server.errors import openai_error_body
from liftoff.server.openapi import streaming_response

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], responses=ERRORS)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("/models")
async def list_models(retrieval: RetrievalDep) -> dict[str, Any]:
    """One ``rag:<collection>`` model per collection."""
    data = [
        {
            "id": MODEL_PREFIX + collection.name,
            "object": "model",
            "created": int(collection.created_at.timestamp()),
            "owned_by": "liftoff",
        }
        for collection in await retrieval.collections()
    ]
    return {"object": "list", "data": data}


@router.post(
    "/chat/completions", response_model=None, responses=streaming_response("text/event-stream")
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, retrieval: RetrievalDep, metrics: MetricsDep
) -> dict[str, Any] | StreamingResponse:
    """An answer from the collection ``model`` names, with its citations."""
    prepared = await prepare(retrieval, body)
    head = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "created": int(time.time()),
        "model": body.model,
    }
    extras = {"citations": prepared.citations, "search_query": prepared.search_query}
    info = request_info(request)
    if prepared.messages is None:
        metrics.answers.labels("dont_know").inc()
        text = prepared.dont_know()
        if body.stream:
            return _sse(_canned(head, extras, text, body.include_usage))
        return _whole(head, extras, text, "stop", CompletionUsage(
            prompt_tokens=0, completion_tokens=0, total_tokens=0))  # fmt: skip
    metrics.answers.labels("answered").inc()
    model = await retrieval.chat_model()
    if body.stream:
        chunks = await retrieval.gateway.chat_stream(model, prepared.messages, **body.sampling())
        return _sse(_relay(chunks, head, extras, body.include_usage, info))
    completion = await retrieval.gateway.chat(model, prepared.messages, **body.sampling())
    choice = completion.choices[0]
    if completion.usage is not None:
        info.prompt_tokens = completion.usage.prompt_tokens
        info.completion_tokens = completion.usage.completion_tokens
    return _whole(
        head, extras, choice.message.content or "", choice.finish_reason, completion.usage
    )


def _whole(
    head: dict[str, Any],
    extras: dict[str, Any],
    text: str,
    finish_reason: str | None,
    usage: CompletionUsage | None,
) -> dict[str, Any]:
    return {
        **head,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason or "stop",
            }
        ],
        "usage": _usage(usage),
        **extras,
    }


def _usage(usage: CompletionUsage | None) -> dict[str, int]:
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _chunk(head: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        **head,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


_DONE = b"data: [DONE]\n\n"


async def _canned(
    head: dict[str, Any], extras: dict[str, Any], text: str, include_usage: bool
) -> AsyncIterator[bytes]:
    yield _event({**_chunk(head, {"role": "assistant", "content": ""}, None), **extras})
    yield _event(_chunk(head, {"content": text}, None))
    yield _event(_chunk(head, {}, "stop"))
    if include_usage:
        yield _event({**head, "object": "chat.completion.chunk", "choices": [],
                      "usage": _usage(None)})  # fmt: skip
    yield _DONE


async def _relay(
    chunks: AsyncIterator[ChatCompletionChunk],
    head: dict[str, Any],
    extras: dict[str, Any],
    include_usage: bool,
    info: RequestInfo,
) -> AsyncIterator[bytes]:
    """The gateway's stream under this service's id and model name. A failure after the
    first byte travels as an error event, then the stream ends with ``[DONE]``; a client
    that leaves closes the gateway's stream, which stops the generation there."""
    yield _event({**_chunk(head, {"role": "assistant", "content": ""}, None), **extras})
    try:
        async with contextlib.aclosing(chunks):  # type: ignore[type-var]
            async for chunk in chunks:
                if chunk.choices:
                    choice = chunk.choices[0]
                    delta = {"content": choice.delta.content} if choice.delta.content else {}
                    if delta or choice.finish_reason:
                        yield _event(_chunk(head, delta, choice.finish_reason))
                if chunk.usage is not None:
                    info.prompt_tokens = chunk.usage.prompt_tokens
                    info.completion_tokens = chunk.usage.completion_tokens
                    if include_usage:
                        yield _event({**head, "object": "chat.completion.chunk", "choices": [],
                                      "usage": _usage(chunk.usage)})  # fmt: skip
    except ServiceError as exc:
        logger.warning("answer stream ended by %s: %s", type(exc).__name__, exc.message)
        yield _event(openai_error_body(exc))
    except Exception:
        logger.exception("answer stream failed")
        yield _event(openai_error_body(ServiceError("the answer failed; see the service's log")))
    yield _DONE


def _sse(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)
