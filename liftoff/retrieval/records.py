"""What the store keeps and returns, in one shape each: the same model is read from the
database, sent as JSON (``model_dump(mode="json")``) and shown by the CLI.

    Collection   a named set of documents, with the embedding model and dimension its
                 vectors were made with (what the 409 on a changed model compares)
    Document     one ingested file: its source (a path-like id), content hash, chunk count
    Hit          one retrieved chunk: source, chunk position, cosine similarity, text
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Names appear in model ids (``rag:<name>``) and URL paths: keep them plain.
COLLECTION_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
COLLECTION_NAME_RULE = (
    "1-64 characters of lowercase letters, digits, '.', '_' and '-', starting with a letter "
    "or digit"
)
MAX_SOURCE_CHARS = 1024


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class CollectionSettings(Frozen):
    """How a collection is chunked and how relevant a chunk must be to count."""

    chunk_size: int = Field(ge=50, le=8000, description="characters per chunk, at most")
    chunk_overlap: int = Field(ge=0, le=4000, description="characters shared by neighbours")
    min_score: float = Field(
        ge=-1, le=1, description="cosine similarity below which a chunk is not relevant"
    )


class NewCollection(CollectionSettings):
    name: str
    embedding_model: str
    dimension: int = Field(ge=1, le=16000)


class Collection(NewCollection):
    object: Literal["collection"] = "collection"
    documents: int = 0
    chunks: int = 0
    created_at: datetime


class NewDocument(Frozen):
    source: str = Field(max_length=MAX_SOURCE_CHARS)
    format: Literal["markdown", "text", "html", "pdf"]
    sha256: str
    bytes: int


class Document(NewDocument):
    object: Literal["document"] = "document"
    chunks: int
    ingested_at: datetime


class Piece(Frozen):
    """A chunk before it is stored: its text and where it starts in the document's text."""

    text: str
    start: int = Field(description="character offset in the extracted text")


class Hit(Frozen):
    """A retrieved chunk. ``chunk`` is its position in its document (0 first); ``score`` is
    the cosine similarity of its embedding with the query's (1 identical, 0 unrelated)."""

    source: str
    chunk: int
    start: int
    score: float
    text: str
