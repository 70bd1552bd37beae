"""Citations a retrieval answer carries: found wherever the response puts them, bounded."""

from __future__ import annotations

from typing import Any

import pytest

from liftoff.ui.citations import MAX_CITATIONS, MAX_TEXT_CHARS, Citation, extract, merge

FAQ = {"source": "docs/faq.md", "text": "Ports are 8000-8003.", "score": 0.82}


@pytest.mark.parametrize(
    "payload",
    [
        {"citations": [FAQ]},  # on the response or chunk
        {"choices": [{"message": {"content": "...", "citations": [FAQ]}}]},
        {"choices": [{"delta": {"content": "...", "citations": [FAQ]}}]},
    ],
    ids=["top-level", "message", "delta"],
)
def test_citations_are_found_on_the_response_the_message_or_the_delta(
    payload: dict[str, Any],
) -> None:
    assert extract(payload) == [Citation("docs/faq.md", "Ports are 8000-8003.", 0.82)]


def test_the_side_panel_shows_title_source_score_and_text() -> None:
    [citation] = extract({"citations": [{**FAQ, "title": "FAQ", "url": "https://example.com/faq"}]})
    assert citation.label == "FAQ"
    assert citation.body().splitlines() == [
        "**FAQ**",
        "Source: <https://example.com/faq>",
        "Score: 0.820",
        "",
        "Ports are 8000-8003.",
    ]


@pytest.mark.parametrize(
    "citations",
    [None, "docs/faq.md", {"source": "x"}, [1, "x", None], [{"text": "no source"}],
     [{"source": 7}]],
)  # fmt: skip
def test_what_is_not_a_list_of_sourced_objects_is_no_citation(citations: Any) -> None:
    assert extract({"citations": citations}) == []


def test_other_spellings_of_the_text_and_odd_scores() -> None:
    found = extract(
        {"citations": [
            {"source": "a", "chunk": "from chunk", "score": True},
            {"document": "b", "content": "from content", "score": float("nan")},
            {"id": "c", "score": 1},
        ]}
    )  # fmt: skip
    assert [(c.source, c.text, c.score) for c in found] == [
        ("a", "from chunk", None),
        ("b", "from content", None),
        ("c", "", 1.0),
    ]


def test_a_flood_of_citations_is_bounded() -> None:
    flood = [{"source": f"doc-{i}", "text": "x" * 10 * MAX_TEXT_CHARS} for i in range(500)]
    found = extract({"citations": flood})
    assert len(found) == MAX_CITATIONS
    assert all(len(c.text) == MAX_TEXT_CHARS for c in found)


def test_merging_keeps_order_and_drops_repeats() -> None:
    a, b = Citation("a"), Citation("b")
    assert merge([a], [a, b, a]) == [a, b]
    assert len(merge([], [Citation(str(i)) for i in range(100)])) == MAX_CITATIONS
