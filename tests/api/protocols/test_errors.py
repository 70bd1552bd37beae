"""Each surface's names for the request's fields: the core's errors, as the client sees them."""

from __future__ import annotations

import pytest

from liftoff.api.errors import AboveLimit, ContextLengthExceeded, ModelNotFound
from liftoff.api.protocols.errors import FieldNames

OPENAI_CHAT = FieldNames({"options": "", "options.max_tokens": "max_completion_tokens"})
VERTEX = FieldNames(
    {"options": "parameters", "options.stop": "parameters.stop_sequences",
     "messages": "instances.3.messages"}
)  # fmt: skip


@pytest.mark.parametrize(
    ("names", "core", "wire"),
    [
        (OPENAI_CHAT, "options.max_tokens", "max_completion_tokens"),
        (OPENAI_CHAT, "options.top_p", "top_p"),  # by its prefix
        (OPENAI_CHAT, "messages.2.content", "messages.2.content"),  # not mapped: the same
        (VERTEX, "options.stop", "parameters.stop_sequences"),  # the longest prefix wins
        (VERTEX, "options.seed", "parameters.seed"),
        (VERTEX, "messages.0.content", "instances.3.messages.0.content"),
        (VERTEX, "prompt", "prompt"),
    ],
)
def test_a_field_takes_the_surfaces_name(names: FieldNames, core: str, wire: str) -> None:
    assert names.wire(core) == wire


def test_a_message_that_starts_with_the_field_follows_its_new_name() -> None:
    error = AboveLimit("options.max_tokens", 21, 20, "LIFTOFF_MAX_TOKENS_LIMIT")
    OPENAI_CHAT.rename(error)
    assert error.param == "max_completion_tokens"
    assert error.message == (
        "max_completion_tokens is 21, above this gateway's limit of 20 (LIFTOFF_MAX_TOKENS_LIMIT)"
    )


def test_other_messages_keep_their_words_and_errors_without_a_field_stay_as_they_are() -> None:
    long = ContextLengthExceeded("the prompt has 9 tokens", param="messages")
    VERTEX.rename(long)
    assert (long.param, long.message) == ("instances.3.messages", "the prompt has 9 tokens")
    missing = ModelNotFound("x", [])
    missing.param = None
    VERTEX.rename(missing)
    assert missing.param is None
