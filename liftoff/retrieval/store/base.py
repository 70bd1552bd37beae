"""The one small interface both stores implement, and the checks they share.

A store keeps collections, documents, chunks and their vectors, and finds the chunks of a
collection nearest to a query vector by cosine similarity. Vectors arrive L2-normalised as
``float32`` arrays (``numpy``), one row per chunk. Methods are synchronous and thread-safe:
the service calls them from worker threads, never on the event loop::

    store = SQLiteStore(Path("retrieval.sqlite3"))
    docs = store.create_collection(NewCollection(name="docs", embedding_model="m",
                                                 dimension=384, chunk_size=800,
                                                 chunk_overlap=100, min_score=0.4))
    store.replace_document(docs, document, pieces, vectors)   # all or nothing
    hits = store.search(docs, query_vector, k=4)             # best first

Errors: ``CollectionNotFound``, ``CollectionExists``, ``DocumentNotFound`` and
``StoreUnavailable`` (the database cannot be reached), from ``liftoff.retrieval.errors``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from liftoff.retrieval.errors import InvalidRequest
from liftoff.retrieval.records import Collection, Document, Hit, NewCollection, NewDocument, Piece

Vectors = npt.NDArray[np.float32]


class Store(abc.ABC):
    """Collections of embedded chunks; see the module docstring."""

    kind: str

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the data lives, safe to log (no password)."""

    @abc.abstractmethod
    def check(self) -> None:
        """Return when the store answers queries; raise ``StoreUnavailable``."""

    @abc.abstractmethod
    def create_collection(self, spec: NewCollection) -> Collection: ...

    @abc.abstractmethod
    def get_collection(self, name: str) -> Collection: ...

    @abc.abstractmethod
    def list_collections(self) -> list[Collection]: ...

    @abc.abstractmethod
    def delete_collection(self, name: str) -> None: ...

    @abc.abstractmethod
    def get_document(self, collection: Collection, source: str) -> Document | None: ...

    @abc.abstractmethod
    def list_documents(
        self, collection: Collection, *, limit: int = 100, offset: int = 0
    ) -> list[Document]:
        """Documents ordered by source."""

    @abc.abstractmethod
    def replace_document(
        self,
        collection: Collection,
        document: NewDocument,
        pieces: Sequence[Piece],
        vectors: Vectors,
    ) -> Document:
        """Store ``document`` with its chunks, replacing any earlier version of the same
        source in one transaction: readers see the old chunks or the new, never a mix."""

    @abc.abstractmethod
    def delete_document(self, collection: Collection, source: str) -> None: ...

    @abc.abstractmethod
    def search(self, collection: Collection, vector: Vectors, k: int) -> list[Hit]:
        """The ``k`` chunks most similar to ``vector`` (shape ``(dimension,)``), best first."""

    @abc.abstractmethod
    def close(self) -> None: ...


def check_vectors(collection: Collection, pieces: Sequence[Piece], vectors: Vectors) -> None:
    """One row of the collection's dimension per piece, or ``InvalidRequest``."""
    if vectors.ndim != 2 or vectors.shape != (len(pieces), collection.dimension):
        raise InvalidRequest(
            f"expected {len(pieces)} vectors of dimension {collection.dimension} for collection "
            f"{collection.name!r}, got an array of shape {vectors.shape}"
        )


def check_query(collection: Collection, vector: Vectors, k: int) -> None:
    if vector.shape != (collection.dimension,):
        raise InvalidRequest(
            f"the query vector has shape {vector.shape}; collection {collection.name!r} holds "
            f"vectors of dimension {collection.dimension}"
        )
    if k < 1:
        raise InvalidRequest("k must be at least 1", param="k")
