"""Passages: what a retriever returned (citations) and what answers a question, and when
one is the other.

    >>> cited = Citation(source="nature/honeybees.md", chunk=0,
    ...                  text="The queen ... can lay up to two\\nthousand eggs a day.")
    >>> sorted(cited.ids())
    ['nature/honeybees.md', 'nature/honeybees.md#0']
    >>> answers(Passage(id="nature/honeybees.md"), cited)
    True
    >>> answers(Passage(text="Two thousand EGGS"), cited), answers(Passage(text="two eggs"), cited)
    (True, False)

A :class:`Citation` is one retrieved passage, in rank order (the first is rank 1): the
retrieval service's ``citations`` (``index, source, chunk, start, score, text``), any other
server's (``id``, ``url``, ``title``), or a plain string, which is its ``id``. A
:class:`Passage` is one that answers a question, given by a dataset row or a request: an
**id** (a plain string) or a **text** (``{"text": ...}``).

A passage answers a question through a citation when:

- **by id**: the id equals one of the citation's ids: its ``id``, its ``url``, its ``source``
  (any chunk of that document), or ``source#chunk`` (that chunk alone);
- **by text**: the passage's words occur, in order and next to each other, among the
  citation's words. Words are runs of Unicode letters, digits and marks
  (``[\\p{L}\\p{N}\\p{M}]+``), compared after NFKC normalization and case folding; spaces,
  line breaks and punctuation between them do not matter. This is DPR's answer matching
  (``has_answer`` with ``match_type="string"`` in facebookresearch/DPR
  ``dpr/data/qa_validation.py``: an uncased token sequence contained in the passage's), with
  punctuation left out of the tokens, so Markdown or HTML markup around the words cannot
  hide a match. A passage longer than the chunks a retriever returns can never be found
  whole: give short spans (the answer's own words), or ids.

Both models refuse unknown fields and bound every string and list, so they check requests
and dataset rows alike.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import regex

MAX_ID_CHARS = 2048  # a URL, a path, an opaque id
MAX_CITATION_TEXT_CHARS = 100_000  # a whole retrieved document, at most
MAX_PASSAGE_TEXT_CHARS = 10_000
MAX_CITATIONS = 100  # per answer: more is no longer a ranked list a person reads
MAX_PASSAGES = 100  # per question


@functools.cache
def _word_pattern() -> regex.Pattern[str]:
    # Imported on first use: the CLI imports this module, and images without the
    # evaluation extra (the gateway's) never compare passages.
    import regex

    return regex.compile(r"[\p{L}\p{N}\p{M}]+")


def _absent(value: object) -> bool:
    return value is None


def _id_from_string(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


def words(text: str) -> tuple[str, ...]:
    """The words passages are compared on: NFKC, case-folded, letters, digits and marks.

    >>> words("Karl von-Frisch's\\n**1973** Nobel")
    ('karl', 'von', 'frisch', 's', '1973', 'nobel')
    """
    return tuple(_word_pattern().findall(unicodedata.normalize("NFKC", text).casefold()))


class Citation(BaseModel):
    """One retrieved passage. Its rank is its place in the list, never a field: ``index``,
    ``start``, ``score``, ``title`` are carried for people to read and change no score.
    At least one of ``id``, ``source``, ``url`` or ``text`` identifies it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(default=None, max_length=MAX_ID_CHARS, exclude_if=_absent)
    source: str | None = Field(default=None, max_length=MAX_ID_CHARS, exclude_if=_absent)
    chunk: int | None = Field(default=None, ge=0, exclude_if=_absent)
    url: str | None = Field(default=None, max_length=MAX_ID_CHARS, exclude_if=_absent)
    text: str | None = Field(default=None, max_length=MAX_CITATION_TEXT_CHARS, exclude_if=_absent)
    index: int | None = Field(default=None, exclude_if=_absent)
    start: int | None = Field(default=None, ge=0, exclude_if=_absent)
    score: float | None = Field(default=None, allow_inf_nan=False, exclude_if=_absent)
    title: str | None = Field(default=None, max_length=MAX_ID_CHARS, exclude_if=_absent)

    @model_validator(mode="before")
    @classmethod
    def _string(cls, value: Any) -> Any:
        return _id_from_string(value)

    @model_validator(mode="after")
    def _identified(self) -> Citation:
        if self.id is None and self.source is None and self.url is None and self.text is None:
            raise ValueError("a citation needs at least one of id, source, url or text")
        return self

    def ids(self) -> set[str]:
        """What a passage id may equal to name this citation."""
        found = {value for value in (self.id, self.url, self.source) if value is not None}
        if self.source is not None and self.chunk is not None:
            found.add(f"{self.source}#{self.chunk}")
        return found

    def label(self) -> str:
        """How a report names it: ``source#chunk``, else its source, id, url or title."""
        if self.source is not None and self.chunk is not None:
            return f"{self.source}#{self.chunk}"
        return self.source or self.id or self.url or self.title or "(text)"


class Passage(BaseModel):
    """A passage that answers a question: an ``id`` (a plain string in JSON) or a ``text``.

    >>> Passage.model_validate("guide/setup.md#2").id
    'guide/setup.md#2'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_CHARS, exclude_if=_absent)
    text: str | None = Field(
        default=None, min_length=1, max_length=MAX_PASSAGE_TEXT_CHARS, exclude_if=_absent
    )

    @model_validator(mode="before")
    @classmethod
    def _string(cls, value: Any) -> Any:
        return _id_from_string(value)

    @model_validator(mode="after")
    def _one_of(self) -> Passage:
        if (self.id is None) == (self.text is None):
            raise ValueError("give an id (a string) or {'text': ...}, not both")
        if self.text is not None and not words(self.text):
            raise ValueError("text has no letters or digits to match")
        return self


def answers(passage: Passage, citation: Citation) -> bool:
    """Whether ``citation`` holds ``passage``: by id, or by its words (see the module)."""
    return first_answering_rank((citation,), (passage,)) == 1


def first_answering_rank(citations: Sequence[Citation], passages: Sequence[Passage]) -> int | None:
    """The rank (1 first) of the first citation that holds any of ``passages``, or None."""
    ids = {passage.id for passage in passages if passage.id is not None}
    # Word sequences joined by single spaces, with a space at both ends: a sequence inside
    # another is then a substring, and "bee" is not found in "beekeeper".
    spans = [f" {' '.join(words(p.text))} " for p in passages if p.text is not None]
    for rank, citation in enumerate(citations, start=1):
        if ids and not ids.isdisjoint(citation.ids()):
            return rank
        if spans and citation.text is not None:
            text = f" {' '.join(words(citation.text))} "
            if any(span in text for span in spans):
                return rank
    return None
