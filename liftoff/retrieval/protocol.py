"""Wire shapes of the retrieval service's requests. Unknown fields are refused with a 400
naming them (``extra="forbid"``), so nothing a client sends is silently dropped.

Fields of ``POST /v1/chat/completions`` and what happens to them:

    model                    "rag:<collection>": the collection to answer from
    messages                 the conversation; the last must be a non-empty user message
    temperature, top_p,      passed to the gateway for the answer
    top_k, seed, stop,
    max_tokens,
    max_completion_tokens
    stream, stream_options   honoured (server-sent events ending in data: [DONE])
    n                        1 only
    user, metadata, store    accepted and ignored, as neutral values clients always send
    retrieval                extension: {"k", "min_score", "rewrite"} for this request
    tools, functions, ...    refused (400 naming the field)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from liftoff.retrieval.records import MAX_SOURCE_CHARS

MAX_MESSAGES = 256
MAX_STOP = 4
MAX_STOP_CHARS = 256
MAX_CONTENT_CHARS = 200_000  # one message; the gateway bounds the whole prompt as well


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | Annotated[list[TextPart], Field(max_length=64)]
    name: str | None = Field(default=None, max_length=256)

    @field_validator("content")
    @classmethod
    def _bounded(cls, content: str | list[TextPart]) -> str | list[TextPart]:
        # A validator, not max_length on the union member: errors then name the field alone.
        length = len(content) if isinstance(content, str) else sum(len(p.text) for p in content)
        if length > MAX_CONTENT_CHARS:
            raise ValueError(f"at most {MAX_CONTENT_CHARS} characters per message")
        return content

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)

    @property
    def plain_role(self) -> Literal["system", "user", "assistant"]:
        # "developer" is OpenAI's newer name for the system role.
        return "system" if self.role == "developer" else self.role


class StreamOptions(_Strict):
    include_usage: bool = False


class RetrievalOptions(_Strict):
    """Per-request retrieval settings (an extension: ``extra_body={"retrieval": {...}}``)."""

    k: int | None = Field(default=None, ge=1, description="chunks to retrieve")
    min_score: float | None = Field(
        default=None, ge=-1, le=1, description="cosine similarity a chunk needs to count"
    )
    rewrite: bool | None = Field(
        default=None, description="rewrite a follow-up question into a standalone query"
    )


class ChatCompletionRequest(_Strict):
    model: str = Field(min_length=1, max_length=256)
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=1, description="extension, as in vLLM")
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP)] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1, description="only one choice is generated")
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Accepted for compatibility with clients that always send them; they change nothing.
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None
    store: bool | None = None
    retrieval: RetrievalOptions | None = None

    @field_validator("stop")
    @classmethod
    def _short_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        stops = [stop] if isinstance(stop, str) else stop or []
        if any(len(text) > MAX_STOP_CHARS for text in stops):
            raise ValueError(f"a stop sequence has at most {MAX_STOP_CHARS} characters")
        return stop

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    def sampling(self) -> dict[str, object]:
        """The answer's sampling settings, as the gateway's OpenAI surface takes them."""
        params: dict[str, object] = {}
        max_tokens = self.max_completion_tokens or self.max_tokens
        for name, value in (
            ("temperature", self.temperature),
            ("top_p", self.top_p),
            ("max_tokens", max_tokens),
            ("seed", self.seed),
        ):
            if value is not None:
                params[name] = value
        if self.stop:
            params["stop"] = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        if self.top_k is not None:
            params["extra_body"] = {"top_k": self.top_k}
        return params


class CollectionCreate(_Strict):
    name: str = Field(min_length=1, max_length=64)
    chunk_size: int | None = Field(default=None, ge=50, le=8000)
    chunk_overlap: int | None = Field(default=None, ge=0, le=4000)
    min_score: float | None = Field(default=None, ge=-1, le=1)


class SearchRequest(_Strict):
    query: str = Field(max_length=100_000)
    k: int | None = Field(default=None, ge=1)
    min_score: float | None = Field(default=None, ge=-1, le=1)


__all__ = [
    "MAX_SOURCE_CHARS",
    "ChatCompletionRequest",
    "CollectionCreate",
    "Message",
    "RetrievalOptions",
    "SearchRequest",
]
