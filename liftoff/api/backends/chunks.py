"""Reading OpenAI-format generation streams (chat and completion chunks, as llama.cpp, vLLM
and OpenAI send them) into the gateway's events: the one reader of such streams, used by the
embedded engine and the ``openai`` backend.

Besides text, finish reasons and usage, it can apply what an upstream cannot be trusted with:

- **stop strings** (``StopCutter``). llama.cpp holds back generated text that could be the
  start of a stop string and throws it away when generation ends for another reason (the
  token limit): with ``stop: [" of letters"]`` an answer ending "...is a set of" comes back
  as "...is a set" (tools/server/server.cpp ``process_token`` looks for partial stop strings
  while ``has_next_token`` still holds, before the limit ends it). So for llama.cpp the
  stop strings stay here: the answer with them is the answer without them, cut before the
  first one, whatever ends the generation;
- **a context window** smaller than the engine's (Ollama's ``num_ctx``): a prompt longer
  than it is refused before any text, and generation ends with ``length`` when prompt and
  answer fill it.

Both end a generation early, so the reader needs the token counts at every chunk: llama.cpp
sends them with ``"timings_per_token": true`` (``timings.prompt_n`` + ``timings.cache_n``
prompt tokens, ``timings.predicted_n`` generated). The caller stops reading, which stops the
engine, when ``finished`` turns true.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from liftoff.api.backends.base import (
    Finish,
    FinishReason,
    GenerationEvent,
    TextDelta,
    TokenLogprob,
    Usage,
)
from liftoff.api.backends.wire import finish_reason
from liftoff.api.errors import BackendError, ContextLengthExceeded


class StopCutter:
    """Cuts a stream of text before the first occurrence of any stop string.

    Text that could be the start of a stop string is held back until the next piece shows
    whether it is; ``flush`` hands it over when the generation ends for another reason.
    Each piece's token log probabilities travel with its text.

        >>> cutter = StopCutter((" of letters",))
        >>> cutter.push(" a set"), cutter.push(" of"), cutter.flush()
        ((' a set', (), False), ('', (), False), (' of', ()))
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self._held: list[tuple[str, tuple[TokenLogprob, ...]]] = []
        self._held_text = ""

    def push(
        self, text: str, logprobs: tuple[TokenLogprob, ...] = ()
    ) -> tuple[str, tuple[TokenLogprob, ...], bool]:
        """The text (and its tokens' log probabilities) that can go out now, and whether a
        stop string was found (then nothing more goes out)."""
        buffer = self._held_text + text
        pieces = [*self._held, (text, logprobs)]
        cut = min((i for stop in self.stops if (i := buffer.find(stop)) >= 0), default=-1)
        if cut >= 0:
            self._held, self._held_text = [], ""
            return (*_take(pieces, cut)[:2], True)
        keep = self._possible_start(buffer)
        out_text, out_logprobs, rest = _take(pieces, len(buffer) - keep)
        self._held, self._held_text = rest, buffer[len(buffer) - keep :]
        return out_text, out_logprobs, False

    def flush(self) -> tuple[str, tuple[TokenLogprob, ...]]:
        """What was held back, once the generation has ended without a stop string."""
        text, logprobs, _ = _take(self._held, len(self._held_text))
        self._held, self._held_text = [], ""
        return text, logprobs

    def _possible_start(self, text: str) -> int:
        """Length of the longest end of ``text`` that a stop string starts with."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest


def _take(
    pieces: list[tuple[str, tuple[TokenLogprob, ...]]], size: int
) -> tuple[str, tuple[TokenLogprob, ...], list[tuple[str, tuple[TokenLogprob, ...]]]]:
    """The first ``size`` characters of ``pieces``, the log probabilities of every token
    that has a character among them, and the pieces left."""
    taken: list[str] = []
    logprobs: list[TokenLogprob] = []
    rest: list[tuple[str, tuple[TokenLogprob, ...]]] = []
    left = size
    for text, tokens in pieces:
        if left >= len(text):
            taken.append(text)
            logprobs.extend(tokens)
            left -= len(text)
        elif left > 0:
            taken.append(text[:left])
            logprobs.extend(tokens)
            rest.append((text[left:], ()))
            left = 0
        else:
            rest.append((text, tokens))
    return "".join(taken), tuple(logprobs), rest


class ChunkReader:
    """One generation's OpenAI-format chunks as events.

    ``read(chunk)`` returns the events a chunk makes (a ``Finish`` last, when it ends the
    generation early; ``finished`` then turns true and the caller stops reading); ``end()``
    gives the ``Finish`` once the stream is over. ``stops`` are applied here (see the module
    docstring); ``window`` is the context window to keep prompt and answer in;
    ``top_logprobs`` is how many alternatives to keep per token, or None for no
    log probabilities. ``stops`` and ``window`` need the counts of llama.cpp's
    ``timings_per_token``.
    """

    def __init__(
        self,
        *,
        chat: bool,
        stops: Sequence[str] = (),
        window: int | None = None,
        top_logprobs: int | None = None,
        param: str = "prompt",
    ) -> None:
        self.chat = chat
        self.finished = False
        self._cutter = StopCutter(stops) if stops else None
        self._window = window
        self._top = top_logprobs
        self._param = param
        self._reason: FinishReason = "stop"
        self._usage: Usage | None = None
        self._timings: dict[str, Any] = {}

    def read(self, chunk: dict[str, Any]) -> list[GenerationEvent]:
        events: list[GenerationEvent] = []
        timings = chunk.get("timings")
        if timings:
            self._timings = timings
            if self._window is not None and self._prompt_tokens() > self._window:
                raise ContextLengthExceeded(
                    f"the prompt has {self._prompt_tokens()} tokens but the requested context "
                    f"window (num_ctx) is {self._window} tokens",
                    param=self._param,
                )
            if (
                self._window is not None
                and self._prompt_tokens() + int(timings.get("predicted_n") or 0) > self._window
            ):
                # This chunk's token would not fit the window (a prompt that fills it
                # exactly leaves no room for any): it is not part of the answer.
                return [*self._flushed(), self._finish_early("length")]
        for choice in chunk.get("choices") or ():
            if self.chat:
                text = (choice.get("delta") or {}).get("content") or ""
            else:
                text = choice.get("text") or ""
            logprobs = self._logprobs(choice.get("logprobs")) if self._top is not None else ()
            if self._cutter is not None:
                text, logprobs, stopped = self._cutter.push(text, logprobs)
                if stopped:
                    if text or logprobs:
                        events.append(TextDelta(text, 0, logprobs))
                    events.append(self._finish_early("stop"))
                    return events
            if text or logprobs:
                events.append(TextDelta(text, 0, logprobs))
            if choice.get("finish_reason"):
                self._reason = finish_reason(choice["finish_reason"])
        if (
            self._window is not None
            and timings
            and self._prompt_tokens() + int(timings.get("predicted_n") or 0) >= self._window
        ):
            events.extend(self._flushed())
            events.append(self._finish_early("length"))
            return events
        if chunk.get("usage"):
            self._usage = _usage(chunk["usage"], chunk.get("timings") or self._timings)
        return events

    def end(self) -> list[GenerationEvent]:
        """The events that close a stream read to its end: held-back text, then the Finish."""
        if self._usage is None:
            raise BackendError("the server ended its stream without usage")
        return [*self._flushed(), Finish(self._reason, self._usage)]

    def _flushed(self) -> list[GenerationEvent]:
        if self._cutter is None:
            return []
        text, logprobs = self._cutter.flush()
        return [TextDelta(text, 0, logprobs)] if text or logprobs else []

    def _finish_early(self, reason: FinishReason) -> Finish:
        self.finished = True
        timings = self._timings
        predicted = int(timings.get("predicted_n") or 0)
        if self._window is not None:
            predicted = max(0, min(predicted, self._window - self._prompt_tokens()))
        usage = Usage(
            prompt_tokens=self._prompt_tokens(),
            completion_tokens=predicted,
            prompt_duration_ns=_ms_to_ns(timings.get("prompt_ms")),
            generation_duration_ns=_ms_to_ns(timings.get("predicted_ms")),
        )
        return Finish(reason, usage)

    def _prompt_tokens(self) -> int:
        return int(self._timings.get("prompt_n") or 0) + int(self._timings.get("cache_n") or 0)

    def _logprobs(self, raw: Any) -> tuple[TokenLogprob, ...]:
        return parse_logprobs(raw, self._top or 0)


def parse_logprobs(raw: Any, top: int) -> tuple[TokenLogprob, ...]:
    """Log probabilities in either of OpenAI's forms: the chat form ``{"content": [{"token",
    "logprob", "bytes", "top_logprobs"}]}`` (llama.cpp sends it for completions too), or the
    legacy completions form ``{"tokens", "token_logprobs", "top_logprobs": [{token:
    logprob}]}``; ``top`` alternatives are kept per token."""
    if not isinstance(raw, dict):
        return ()
    if isinstance(raw.get("content"), list):
        return tuple(_entry(entry, top) for entry in raw["content"] if isinstance(entry, dict))
    tokens = raw.get("tokens") or []
    values = raw.get("token_logprobs") or []
    tops = raw.get("top_logprobs") or []
    entries = []
    for i, token in enumerate(tokens):
        value = values[i] if i < len(values) and values[i] is not None else 0.0
        alternatives = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        entries.append(
            TokenLogprob(
                str(token),
                float(value),
                top=tuple(TokenLogprob(str(t), float(v)) for t, v in alternatives.items())[:top],
            )
        )
    return tuple(entries)


def _entry(entry: dict[str, Any], top: int) -> TokenLogprob:
    alternatives = entry.get("top_logprobs") or []
    return TokenLogprob(
        str(entry.get("token", "")),
        float(entry.get("logprob", 0.0)),
        _bytes(entry.get("bytes")),
        tuple(_entry(alt, 0) for alt in alternatives[:top] if isinstance(alt, dict)),
    )


def _bytes(raw: Any) -> tuple[int, ...] | None:
    return tuple(int(b) for b in raw) if isinstance(raw, list) else None


def _usage(usage: dict[str, Any], timings: dict[str, Any]) -> Usage:
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        prompt_duration_ns=_ms_to_ns(timings.get("prompt_ms")),
        generation_duration_ns=_ms_to_ns(timings.get("predicted_ms")),
    )


def _ms_to_ns(ms: float | None) -> int | None:
    return None if ms is None else int(ms * 1_000_000)
