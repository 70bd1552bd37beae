"""One conversation: the settings a person chose, the history sent with each question, and
the streamed answer. Nothing here knows Chainlit; ``chat.py`` wires it to the page.

The browser controls what it sends (the message and the settings panel's values), so both are
validated here: a setting out of range or a model no source lists is refused with a message
naming it, never passed on or silently replaced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from liftoff.ui.citations import Citation, extract, merge
from liftoff.ui.config import Settings
from liftoff.ui.sources import Listing, Source


class Invalid(Exception):
    """What the person asked for cannot be sent; ``message`` says why, naming the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Choice(BaseModel):
    """The settings panel's values: which model, how random, how long.

    >>> Choice(model="gemma-3-270m-q4_k_m", temperature=0.2, max_tokens=64).max_tokens
    64
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, max_length=200)
    temperature: float = Field(ge=0, le=2)
    max_tokens: int = Field(ge=1)


def choose(raw: Mapping[str, Any], listing: Listing, settings: Settings) -> Choice:
    """Validate the panel's values (``raw``) against the listed models and the limits."""
    try:
        choice = Choice.model_validate(dict(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        raise Invalid(f"Setting {name!r}: {first['msg']}.") from exc
    if choice.max_tokens > settings.max_tokens_limit:
        raise Invalid(f"Setting 'max_tokens': at most {settings.max_tokens_limit}.")
    if choice.model not in listing.models:
        listed = ", ".join(listing.names) or "none"
        raise Invalid(f"Model {choice.model!r} is not served here (listed: {listed}).")
    return choice


def initial_model(listing: Listing, settings: Settings) -> str | None:
    """The configured default when listed, else the first model listed."""
    if settings.default_model in listing.models:
        return settings.default_model
    return listing.names[0] if listing.names else None


@dataclass
class Token:
    text: str


@dataclass
class Cited:
    citations: list[Citation]


@dataclass
class Conversation:
    """The turns so far; each question goes out with the latest of them, within bounds."""

    settings: Settings
    turns: list[dict[str, str]] = field(default_factory=list)

    def messages_for(self, question: str) -> list[dict[str, str]]:
        if not question.strip():
            raise Invalid("The message is empty.")
        limit = self.settings.max_message_chars
        if len(question) > limit:
            raise Invalid(f"The message has {len(question)} characters; the limit is {limit}.")
        kept: list[dict[str, str]] = []
        budget = self.settings.max_history_chars
        for turn in reversed(self.turns[-self.settings.max_history_messages :]):
            budget -= len(turn["content"])
            if budget < 0 or len(kept) >= self.settings.max_history_messages:
                break
            kept.append(turn)
        # Pairs only: the history never starts with an answer to a dropped question.
        if kept and kept[-1]["role"] == "assistant":
            kept.pop()
        return [*reversed(kept), {"role": "user", "content": question}]

    def record(self, question: str, answer: str) -> None:
        self.turns += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
        del self.turns[: -2 * max(self.settings.max_history_messages, 1)]


async def stream_answer(
    source: Source, choice: Choice, messages: list[dict[str, str]]
) -> AsyncIterator[Token | Cited]:
    """The answer as it arrives: text pieces, and citations whenever a chunk carries some.

    Raises :class:`liftoff.ui.errors.UpstreamError` (translated) when the server cannot
    answer, before or during the stream.
    """
    citations: list[Citation] = []
    try:
        stream = await source.client.chat.completions.create(
            model=choice.model,
            messages=cast(list[ChatCompletionMessageParam], messages),
            temperature=choice.temperature,
            max_tokens=choice.max_tokens,
            stream=True,
        )
        async with stream:
            async for chunk in stream:
                found = extract(chunk.model_dump())
                if found:
                    citations = merge(citations, found)
                    yield Cited(citations)
                for part in chunk.choices:
                    if part.delta.content:
                        yield Token(part.delta.content)
    except openai.OpenAIError as exc:
        raise source.error(exc) from exc
