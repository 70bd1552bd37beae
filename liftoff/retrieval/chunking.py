"""Splitting text into chunks, as the reference does: LangChain's recursive character
splitter, 800 characters with 100 of overlap by default (Markdown splits at headings first).

How chunks are kept inside the embedding model's window: sizes are in characters, because
the window is counted by a tokenizer only the model has. The gateway refuses an input longer
than the window with a 400 naming it (it never truncates silently); the ingestion then
splits that chunk in halves with the same splitter (``split_further``) and embeds them
instead, down to ``MIN_CHUNK_CHARS``. So every stored chunk was embedded whole: its vector
stands for all of its text. MiniLM's window is 256 word pieces, about 1,000 characters of
English prose, so the default 800 rarely needs a second split.
"""

from __future__ import annotations

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from liftoff.retrieval.records import Piece

MIN_CHUNK_CHARS = 16


def split(text: str, *, markdown: bool, chunk_size: int, chunk_overlap: int) -> list[Piece]:
    """``text`` as chunks of at most ``chunk_size`` characters, neighbours sharing up to
    ``chunk_overlap``; each knows where it starts in ``text``."""
    if markdown:
        splitter = RecursiveCharacterTextSplitter.from_language(
            Language.MARKDOWN,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            add_start_index=True,
        )
    else:
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True
        )
    return [
        Piece(text=doc.page_content, start=int(doc.metadata["start_index"]))
        for doc in splitter.create_documents([text])
        if doc.page_content.strip()
    ]


def split_further(piece: Piece) -> list[Piece]:
    """``piece`` in (about) halves at the best boundary the splitter finds; raises
    ``ValueError`` when it is already too short to split."""
    if len(piece.text) < 2 * MIN_CHUNK_CHARS:
        raise ValueError(f"a chunk of {len(piece.text)} characters cannot be split further")
    size = max(MIN_CHUNK_CHARS, (len(piece.text) + 1) // 2)
    parts = split(piece.text, markdown=False, chunk_size=size, chunk_overlap=size // 8)
    return [Piece(text=part.text, start=piece.start + part.start) for part in parts]
