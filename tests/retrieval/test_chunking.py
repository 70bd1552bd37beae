"""Chunks as the reference makes them: bounded, overlapping, each knowing where it starts."""

from __future__ import annotations

import itertools

import pytest

from liftoff.retrieval.chunking import MIN_CHUNK_CHARS, split, split_further
from liftoff.retrieval.records import Piece

PROSE = " ".join(f"Sentence number {i} says something about bees and honey." for i in range(80))


@pytest.mark.parametrize(("size", "overlap"), [(800, 100), (200, 0), (120, 60)])
def test_chunks_fit_the_size_and_point_back_into_the_text(size: int, overlap: int) -> None:
    pieces = split(PROSE, markdown=False, chunk_size=size, chunk_overlap=overlap)
    assert len(pieces) > 1
    for piece in pieces:
        assert len(piece.text) <= size
        assert PROSE[piece.start : piece.start + len(piece.text)] == piece.text
    starts = [piece.start for piece in pieces]
    assert starts == sorted(starts)
    # Together they cover the text, up to the whitespace between chunks.
    assert pieces[0].start == 0
    assert pieces[-1].start + len(pieces[-1].text) == len(PROSE)


def test_neighbours_share_up_to_the_overlap() -> None:
    pieces = split(PROSE, markdown=False, chunk_size=300, chunk_overlap=100)
    for before, after in itertools.pairwise(pieces):
        shared = before.start + len(before.text) - after.start
        assert 0 < shared <= 100


def test_markdown_splits_at_headings_first() -> None:
    text = "# One\n\n" + "alpha " * 60 + "\n\n# Two\n\n" + "beta " * 60
    pieces = split(text, markdown=True, chunk_size=400, chunk_overlap=0)
    assert [piece.text.splitlines()[0] for piece in pieces] == ["# One", "# Two"]


def test_split_further_halves_a_chunk_and_keeps_positions() -> None:
    piece = Piece(text=PROSE[:900], start=1000)
    parts = split_further(piece)
    assert len(parts) >= 2
    for part in parts:
        assert len(part.text) <= 451
        offset = part.start - piece.start
        assert piece.text[offset : offset + len(part.text)] == part.text


def test_a_tiny_chunk_cannot_be_split_further() -> None:
    with pytest.raises(ValueError, match="cannot be split"):
        split_further(Piece(text="x" * (2 * MIN_CHUNK_CHARS - 1), start=0))
