"""Citations carried by a retrieval answer, read leniently and bounded.

The retrieval service answers as an OpenAI-compatible model (``rag:<collection>``) and adds
its sources as an extra ``citations`` field: on the response, on a streamed chunk, or on the
choice's ``message``/``delta``. Each item names a ``source`` and may carry the cited
``text`` (or ``chunk``/``content``), a ``score``, a ``title`` and a ``url``. Anything else is
ignored; what is not a list of objects is no citation. At most :data:`MAX_CITATIONS` are kept,
each text cut to :data:`MAX_TEXT_CHARS`, so a misbehaving server cannot flood the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

MAX_CITATIONS = 20
MAX_TEXT_CHARS = 4000
MAX_LABEL_CHARS = 200


@dataclass(frozen=True)
class Citation:
    """One source of an answer.

    >>> found = extract({"citations": [{"source": "faq.md", "text": "Ports...", "score": 0.8}]})
    >>> found[0].label, found[0].score
    ('faq.md', 0.8)
    """

    source: str
    text: str = ""
    score: float | None = None
    title: str = ""
    url: str = ""

    @property
    def label(self) -> str:
        return (self.title or self.source)[:MAX_LABEL_CHARS]

    def body(self) -> str:
        """Markdown shown beside the answer."""
        lines = []
        if self.title and self.title != self.source:
            lines.append(f"**{self.title}**")
        where = f"<{self.url}>" if self.url.startswith(("http://", "https://")) else self.source
        lines.append(f"Source: {where}")
        if self.score is not None:
            lines.append(f"Score: {self.score:.3f}")
        if self.text:
            lines.append("")
            lines.append(self.text)
        return "\n".join(lines)


def extract(payload: Mapping[str, Any]) -> list[Citation]:
    """Citations in a response or chunk dict (``model_dump()`` of the SDK's object)."""
    candidates: list[Any] = [payload.get("citations")]
    for choice in _list(payload.get("choices")):
        if isinstance(choice, Mapping):
            for part in ("message", "delta"):
                inner = choice.get(part)
                if isinstance(inner, Mapping):
                    candidates.append(inner.get("citations"))
    found: list[Citation] = []
    for candidate in candidates:
        found.extend(_parse(_list(candidate)))
    return found[:MAX_CITATIONS]


def merge(known: list[Citation], new: Iterable[Citation]) -> list[Citation]:
    """``known`` plus the new citations it lacks, in order, bounded."""
    merged = list(known)
    for citation in new:
        if citation not in merged and len(merged) < MAX_CITATIONS:
            merged.append(citation)
    return merged


def _parse(items: list[Any]) -> Iterable[Citation]:
    for item in items:
        if not isinstance(item, Mapping):
            continue
        source = _text(item.get("source")) or _text(item.get("document")) or _text(item.get("id"))
        if not source:
            continue
        text = next((_text(item.get(k)) for k in ("text", "chunk", "content") if item.get(k)), "")
        score = item.get("score")
        number = float(score) if _is_number(score) else None
        yield Citation(
            source=source[:MAX_LABEL_CHARS],
            text=text[:MAX_TEXT_CHARS],
            score=number,
            title=_text(item.get("title"))[:MAX_LABEL_CHARS],
            url=_text(item.get("url"))[:MAX_LABEL_CHARS],
        )


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
