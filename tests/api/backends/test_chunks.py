"""OpenAI-format chunk streams read into events: stop strings applied without losing text,
a smaller context window kept, log probabilities in both of OpenAI's forms."""

from __future__ import annotations

import random
from typing import Any

import pytest

from liftoff.api.backends.base import Finish, TextDelta, TokenLogprob
from liftoff.api.backends.chunks import ChunkReader, StopCutter, parse_logprobs
from liftoff.api.errors import BackendError, ContextLengthExceeded


def cut(pieces: list[str], stops: tuple[str, ...]) -> tuple[str, bool]:
    cutter = StopCutter(stops)
    out = []
    for piece in pieces:
        text, _, stopped = cutter.push(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + cutter.flush()[0], False


def expected(pieces: list[str], stops: tuple[str, ...]) -> tuple[str, bool]:
    """The text without stop strings, cut before the first one found as it streams (where
    two are found in one piece, before the one that starts first), as llama.cpp and
    OpenAI cut it."""
    text = ""
    for piece in pieces:
        text += piece
        hits = [text.index(stop) for stop in stops if stop in text]
        if hits:
            return text[: min(hits)], True
    return text, False


def test_text_held_as_a_possible_stop_is_kept_when_the_generation_ends_otherwise() -> None:
    # The tokens llama.cpp generates for "Here is the English alphabet: ABC" (greedy, 9).
    tokens = ["DE", ".", "\n\n", "The", " alphabet", " is", " a", " set", " of"]
    assert cut(tokens, (" of letters",)) == ("DE.\n\nThe alphabet is a set of", False)


def test_the_answer_ends_before_the_first_stop_string() -> None:
    assert cut(["1, 2", ", 3, ", "4, 5"], (", 4", " 3")) == ("1, 2,", True)
    assert cut(["ab", "cSTO", "Pde"], ("STOP",)) == ("abc", True)


def test_with_stop_strings_the_answer_is_the_answer_without_them_cut_before_the_first() -> None:
    rng = random.Random(7)
    alphabet = "ab c\n"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        stops = tuple(
            "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
            for _ in range(rng.randint(1, 3))
        )
        bounds = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, 5)))
        pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
        assert cut(pieces, stops) == expected(pieces, stops), (pieces, stops)


def test_log_probabilities_travel_with_their_text() -> None:
    one, two = TokenLogprob(" a", -0.1), TokenLogprob(" of", -0.2)
    cutter = StopCutter((" of letters",))
    assert cutter.push(" a", (one,)) == (" a", (one,), False)
    assert cutter.push(" of", (two,)) == ("", (), False)
    assert cutter.flush() == (" of", (two,))


def chunk(text: str = "", *, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "text": text, "finish_reason": finish}], **extra}


def timings(prompt: int, predicted: int) -> dict[str, Any]:
    return {"prompt_n": prompt - 2, "cache_n": 2, "predicted_n": predicted, "predicted_ms": 1.0}


def test_a_stop_string_ends_the_generation_with_usage_counted_so_far() -> None:
    reader = ChunkReader(chat=False, stops=(" 3",))
    events = reader.read(chunk("1, 2,", timings=timings(5, 3)))
    events += reader.read(chunk(" 3,", timings=timings(5, 5)))
    assert reader.finished
    assert events[:-1] == [TextDelta("1, 2,")]
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.reason == "stop"
    assert (finish.usage.prompt_tokens, finish.usage.completion_tokens) == (5, 5)


def test_held_text_is_flushed_before_the_finish_at_the_end_of_the_stream() -> None:
    reader = ChunkReader(chat=False, stops=(" of letters",))
    events = reader.read(chunk(" a set"))
    events += reader.read(
        chunk(" of", finish="length", usage={"prompt_tokens": 8, "completion_tokens": 9})
    )
    events += reader.end()
    assert [e.text for e in events if isinstance(e, TextDelta)] == [" a set", " of"]
    assert events[-1] == Finish("length", events[-1].usage)  # type: ignore[union-attr]


def test_a_prompt_longer_than_the_requested_window_is_refused_before_any_text() -> None:
    reader = ChunkReader(chat=True, window=4, param="messages")
    with pytest.raises(ContextLengthExceeded) as caught:
        reader.read({"choices": [{"delta": {"content": "Hi"}}], "timings": timings(6, 1)})
    assert caught.value.param == "messages"
    assert "requested context window (num_ctx) is 4 tokens" in caught.value.message


def test_a_full_window_ends_the_answer_with_length() -> None:
    reader = ChunkReader(chat=False, window=8)
    assert reader.read(chunk("a", timings=timings(6, 1))) == [TextDelta("a")]
    events = reader.read(chunk("b", timings=timings(6, 2)))
    assert events[0] == TextDelta("b") and reader.finished
    assert isinstance(events[1], Finish) and events[1].reason == "length"


def test_a_stream_without_usage_is_an_error() -> None:
    reader = ChunkReader(chat=False)
    reader.read(chunk("a"))
    with pytest.raises(BackendError):
        reader.end()


def test_both_openai_forms_of_log_probabilities() -> None:
    chat_form = {"content": [{"token": " a", "logprob": -0.5, "bytes": [32, 97],
                              "top_logprobs": [{"token": " a", "logprob": -0.5},
                                               {"token": " b", "logprob": -1.5}]}]}  # fmt: skip
    legacy = {
        "tokens": [" a"],
        "token_logprobs": [-0.5],
        "top_logprobs": [{" a": -0.5, " b": -1.5}],
    }
    assert parse_logprobs(chat_form, 1) == (
        TokenLogprob(" a", -0.5, (32, 97), (TokenLogprob(" a", -0.5),)),
    )
    assert parse_logprobs(legacy, 2) == (
        TokenLogprob(" a", -0.5, None, (TokenLogprob(" a", -0.5), TokenLogprob(" b", -1.5))),
    )
    assert parse_logprobs(None, 2) == ()
