"""The Chainlit side: what happens when a chat opens, a message arrives, a setting changes.

Imported only by :func:`liftoff.ui.main.create_app`, after it has pointed Chainlit at its
working directory (importing Chainlit reads and writes files there).
"""

from __future__ import annotations

import chainlit as cl
from chainlit.input_widget import Select, Slider
from starlette.datastructures import Headers

from liftoff.ui.citations import Citation
from liftoff.ui.config import Settings
from liftoff.ui.conversation import (
    Choice,
    Cited,
    Conversation,
    Invalid,
    choose,
    initial_model,
    stream_answer,
)
from liftoff.ui.errors import UpstreamError
from liftoff.ui.sources import Listing, Sources

MAX_IDENTITY_CHARS = 320  # an email address at most


def register(settings: Settings, sources: Sources) -> None:
    """Install the chat's callbacks (and the login ones the settings ask for) in Chainlit."""

    @cl.on_chat_start
    async def start() -> None:
        cl.user_session.set("conversation", Conversation(settings))
        await _refresh(sources, settings)

    @cl.on_settings_update
    async def settings_changed(values: dict[str, object]) -> None:
        try:
            choose(values, _listing(), settings)
        except Invalid as exc:
            await cl.ErrorMessage(content=exc.message).send()

    @cl.on_message
    async def answer(message: cl.Message) -> None:
        listing = _listing()
        if not listing.models:  # the gateway was down when the chat opened: ask again
            listing = await _refresh(sources, settings)
            if not listing.models:
                return
        conversation: Conversation = cl.user_session.get("conversation")
        try:
            choice = choose(cl.user_session.get("chat_settings") or {}, listing, settings)
            messages = conversation.messages_for(message.content)
        except Invalid as exc:
            await cl.ErrorMessage(content=exc.message).send()
            return
        await _stream(conversation, listing, choice, message.content, messages)

    if settings.auth != "off" and settings.users is not None:

        @cl.password_auth_callback
        async def password_login(username: str, password: str) -> cl.User | None:
            if settings.check_password(username, password):
                return cl.User(identifier=username, metadata={"login": "password"})
            return None

    if settings.auth != "off" and settings.auth_header is not None:
        header = settings.auth_header

        @cl.header_auth_callback
        async def header_login(headers: Headers) -> cl.User | None:
            identity = headers.get(header, "").strip()
            if identity and len(identity) <= MAX_IDENTITY_CHARS:
                return cl.User(identifier=identity, metadata={"login": "header"})
            return None


async def _refresh(sources: Sources, settings: Settings) -> Listing:
    """List the models again, show the settings panel, and say what could not be listed."""
    listing = await sources.list_models()
    cl.user_session.set("listing", listing)
    for problem in listing.problems:
        await cl.ErrorMessage(content=problem.message).send()
    if not listing.models:
        if not listing.problems:
            await cl.ErrorMessage(content="No model is served: the gateway lists none.").send()
        return listing
    await cl.ChatSettings(
        [
            Select(
                id="model",
                label="Model",
                values=listing.names,
                initial_value=initial_model(listing, settings),
            ),
            Slider(
                id="temperature",
                label="Temperature",
                initial=settings.default_temperature,
                min=0,
                max=2,
                step=0.1,
            ),
            Slider(
                id="max_tokens",
                label="Max tokens",
                initial=settings.default_max_tokens,
                min=1,
                max=settings.max_tokens_limit,
                step=1,
            ),
        ]
    ).send()
    return listing


async def _stream(
    conversation: Conversation,
    listing: Listing,
    choice: Choice,
    question: str,
    messages: list[dict[str, str]],
) -> None:
    reply = cl.Message(content="", author=choice.model)
    text: list[str] = []
    citations: list[Citation] = []
    try:
        async for event in stream_answer(listing.models[choice.model], choice, messages):
            if isinstance(event, Cited):
                citations = event.citations
            else:
                text.append(event.text)
                await reply.stream_token(event.text)
    except UpstreamError as exc:
        if text:  # keep what arrived, then say why it stopped
            await reply.send()
        await cl.ErrorMessage(content=exc.message).send()
        return
    if citations:
        names = [f"[{number}] {c.label}" for number, c in enumerate(citations, 1)]
        sides: list[cl.Element] = [
            cl.Text(name=name, content=c.body(), display="side")
            for name, c in zip(names, citations, strict=True)
        ]
        reply.elements = sides
        await reply.stream_token("\n\nSources: " + ", ".join(names))
    if not text:
        await reply.stream_token("(the model returned no text)")
    await reply.send()
    conversation.record(question, "".join(text))


def _listing() -> Listing:
    listing: Listing | None = cl.user_session.get("listing")
    return listing if listing is not None else Listing()
