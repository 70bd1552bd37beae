"""When a passage answers a question through a citation: by id, by its words; and what the
two models refuse."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from liftoff.evaluation.metrics.passages import (
    Citation,
    Passage,
    answers,
    first_answering_rank,
    words,
)

CHUNK = Citation(
    id="doc-17",
    source="nature/honeybees.md",
    chunk=1,
    url="https://example.org/bees",
    text="## What workers do\n\nWorkers are sterile females; a **summer** worker lives about "
    "six weeks. Beekeepers' notes: the queen lays up to two\nthousand eggs a day.",
)


@pytest.mark.parametrize(
    ("passage", "expected"),
    [
        # Ids: the citation's id, url, source (any chunk of it) or source#chunk.
        ("doc-17", True),
        ("https://example.org/bees", True),
        ("nature/honeybees.md", True),
        ("nature/honeybees.md#1", True),
        ("nature/honeybees.md#0", False),  # another chunk of the same document
        ("nature/honeybees", False),  # ids are compared whole, never as prefixes
        ("NATURE/HONEYBEES.MD", False),  # and with their case
        # Texts: the words in order and next to each other; case, punctuation, markup and
        # line breaks between them do not matter.
        ({"text": "two thousand eggs a day"}, True),  # across a line break
        ({"text": "A SUMMER WORKER lives about six weeks."}, True),  # through **markup**
        ({"text": "sterile females, a summer worker"}, True),  # ';' in the text, ',' here
        ({"text": "beekeepers notes"}, True),  # the apostrophe is not a word
        ({"text": "six  weeks"}, True),
        ({"text": "two thousand eggs a week"}, False),
        ({"text": "thousand two"}, False),  # order matters
        ({"text": "bee"}, False),  # a whole word, never a part of one ("Beekeepers")
        ({"text": "workers do are"}, False),  # next to each other, not just nearby
    ],
)
def test_a_passage_answers_through_a_citation_by_id_or_by_its_words(
    passage: Any, expected: bool
) -> None:
    assert answers(Passage.model_validate(passage), CHUNK) is expected


@pytest.mark.parametrize(
    ("passage_text", "citation_text"),
    [
        ("caf\u00e9 cr\u00e8me", "Un cafe\u0301 cre\u0300me s'il vous pla\u00eet"),  # composed
        ("\uff11\uff19\uff17\uff13 Nobel", "shared the 1973 Nobel Prize"),  # full-width digits
        ("STRASSE", "die Stra\u00dfe"),  # case folding, not lowercasing
        (
            "\u0939\u093f\u0928\u094d\u0926\u0940",
            "\u092d\u093e\u0937\u093e \u0939\u093f\u0928\u094d\u0926\u0940 \u0939\u0948",
        ),  # marks
    ],
)
def test_words_are_compared_after_nfkc_and_case_folding(
    passage_text: str, citation_text: str
) -> None:
    assert answers(Passage(text=passage_text), Citation(text=citation_text))


def test_words_keep_marks_inside_words() -> None:
    # Devanagari vowel signs and viramas are marks (\p{M}): the word stays whole.
    assert words("\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e") == (
        "\u0939\u093f\u0928\u094d\u0926\u0940",
        "\u092d\u093e\u0937\u093e",
    )


def test_a_text_passage_never_matches_a_citation_without_text_nor_an_id_one_with() -> None:
    assert not answers(Passage(text="honeybees"), Citation(source="honeybees"))
    assert not answers(Passage(id="sterile females"), Citation(text="sterile females"))


def test_the_first_answering_rank_is_the_place_in_the_list_not_the_index_field() -> None:
    cited = (
        Citation(source="a.md", index=1),
        Citation(source="b.md", chunk=3, index=2),
        Citation(source="c.md", index=3, text="the answer is here"),
    )
    assert first_answering_rank(cited, [Passage(id="b.md#3")]) == 2
    assert first_answering_rank(cited, [Passage(text="answer is"), Passage(id="b.md")]) == 2
    assert first_answering_rank(cited, [Passage(id="z.md")]) is None
    assert first_answering_rank((), [Passage(id="a.md")]) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "give an id (a string) or {'text': ...}, not both"),
        ({"id": "a", "text": "b"}, "not both"),
        ({"text": "!!! ..."}, "text has no letters or digits to match"),
        ("", "at least 1 character"),
        ({"source": "a.md"}, "Extra inputs are not permitted"),
        ({"text": "x" * 10_001}, "at most 10000 characters"),
        (7, "valid dictionary or instance of Passage"),
    ],
)
def test_a_passage_is_an_id_or_a_text_with_words(value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Passage.model_validate(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"score": 0.9, "index": 1}, "needs at least one of id, source, url or text"),
        ({"source": "a.md", "chunk": -1}, "greater than or equal to 0"),
        ({"source": "a.md", "score": float("nan")}, "finite number"),
        ({"source": "a.md", "page": 2}, "Extra inputs are not permitted"),
        ({"text": "x" * 100_001}, "at most 100000 characters"),
        ({"id": "x" * 2049}, "at most 2048 characters"),
    ],
)
def test_a_citation_is_identified_and_bounded(value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Citation.model_validate(value)


def test_a_string_is_an_id_and_a_citation_is_labelled_for_people() -> None:
    assert Citation.model_validate("https://example.org/a").ids() == {"https://example.org/a"}
    assert Passage.model_validate("a.md#2") == Passage(id="a.md#2")
    assert CHUNK.label() == "nature/honeybees.md#1"
    assert Citation(url="https://example.org/a", title="A").label() == "https://example.org/a"
    # Only what was given is written: the stored and sent shape stays small.
    assert Citation(source="a.md", chunk=0).model_dump(mode="json") == {
        "source": "a.md",
        "chunk": 0,
    }
