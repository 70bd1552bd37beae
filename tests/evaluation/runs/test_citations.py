"""The citations kept from a target's answer: the retrieval service's, other servers', and
what cannot be kept."""

from __future__ import annotations

from typing import Any

import pytest

from liftoff.evaluation.metrics import Citation
from liftoff.evaluation.runs.citations import citations_from


def test_the_retrieval_services_citations_are_kept_whole_and_in_order() -> None:
    sent = [
        {"index": 1, "source": "nature/honeybees.md", "chunk": 1, "start": 745, "score": 0.8349,
         "text": "## How bees make honey\n\nForagers carry nectar home..."},
        {"index": 2, "source": "lighthouses.md", "chunk": 0, "start": 0, "score": 0.74,
         "text": "# Lighthouses"},
    ]  # fmt: skip
    kept = citations_from({"citations": sent, "search_query": "How do bees make honey?"})
    assert kept is not None
    assert [citation.model_dump(mode="json") for citation in kept] == sent


@pytest.mark.parametrize(
    ("extra", "kept"),
    [
        (None, None),
        ({}, None),
        ({"citations": None}, None),  # no citations field: not the same as none retrieved
        ({"citations": []}, ()),
        # Perplexity-style URLs, and fields a citation does not have (not kept).
        ({"citations": ["https://example.org/a", {"url": "https://b.example", "date": "2024"}]},
         (Citation(id="https://example.org/a"), Citation(url="https://b.example"))),
    ],
)  # fmt: skip
def test_answers_without_citations_or_with_other_shapes(
    extra: dict[str, Any] | None, kept: tuple[Citation, ...] | None
) -> None:
    assert citations_from(extra) == kept


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a.md", "citations must be a list, got str"),
        ([{"source": "a.md"}] * 101, "101 citations; a run keeps at most 100 per answer"),
        ([{"source": "a.md"}, {"score": 0.5}],
         "citations[1]: a citation needs at least one of id, source, url or text"),
        ([{"source": "a.md", "chunk": "two"}], "citations[0].chunk: Input should be a valid"),
        ([{"source": "a.md", "text": "x" * 100_001}], "citations[0].text: String should have at"),
        ([3], "citations[0]: Input should be a valid dictionary"),
    ],
)  # fmt: skip
def test_citations_that_cannot_be_kept_are_refused_naming_the_first(
    value: Any, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        citations_from({"citations": value})
    assert str(caught.value).startswith(message)
