"""The embedded store: one SQLite file, vectors in sqlite-vec's ``vec0`` tables.

Python's own ``sqlite3`` often cannot load extensions (Debian's and python.org's builds
disable it), so the connection comes from ``sqlean.py``, a drop-in ``sqlite3`` built with
extension loading; ``sqlite_vec.load`` then adds ``vec0``. Each collection gets its own
``vec0`` table (``vec_<collection id>``, ``float[dimension]``, cosine distance) whose rowids
are the ``chunks`` table's ids. Its KNN search is exact (a scan): at 10,000 chunks it takes a
few milliseconds (``benchmarks/retrieval.py``).

One connection serves every thread, one statement at a time under a lock (SQLite
serialises writers anyway); WAL lets other processes read while this one writes. With
``read_only`` the file is opened immutable: a baked index in an image needs no write access.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlean
import sqlite_vec

from liftoff.retrieval.errors import (
    CollectionExists,
    CollectionNotFound,
    DocumentNotFound,
    StoreUnavailable,
)
from liftoff.retrieval.records import Collection, Document, Hit, NewCollection, NewDocument, Piece
from liftoff.retrieval.store.base import Store, Vectors, check_query, check_vectors

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    embedding_model TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    chunk_overlap INTEGER NOT NULL,
    min_score REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    format TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    UNIQUE (collection_id, source)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
"""

_COLLECTION_COLUMNS = """
    c.id, c.name, c.embedding_model, c.dimension, c.chunk_size, c.chunk_overlap, c.min_score,
    c.created_at,
    (SELECT count(*) FROM documents d WHERE d.collection_id = c.id),
    (SELECT coalesce(sum(d.chunks), 0) FROM documents d WHERE d.collection_id = c.id)
"""


class SQLiteStore(Store):
    """Collections in one SQLite file (created with its parent folder when missing)."""

    kind = "sqlite"

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._lock = threading.Lock()
        try:
            if read_only:
                uri = f"file:{path}?mode=ro&immutable=1"
                self._db = sqlean.connect(uri, uri=True, check_same_thread=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlean.connect(str(path), check_same_thread=False, timeout=30)
        except sqlean.Error as exc:
            raise StoreUnavailable(f"cannot open the index {path}: {exc}") from exc
        self._db.isolation_level = None  # transactions are explicit
        self._db.enable_load_extension(True)
        sqlite_vec.load(self._db)
        self._db.enable_load_extension(False)
        self._db.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)

    def describe(self) -> str:
        return f"SQLite + sqlite-vec at {self.path}" + (" (read-only)" if self.read_only else "")

    def check(self) -> None:
        with self._locked() as db:
            db.execute("SELECT count(*) FROM collections").fetchone()

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        with self._lock:
            try:
                yield self._db
            except sqlean.OperationalError as exc:
                raise StoreUnavailable(f"the index {self.path} failed: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # Collections.

    def create_collection(self, spec: NewCollection) -> Collection:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM collections WHERE name = ?", (spec.name,)).fetchone():
                raise CollectionExists(spec.name)
            cursor = db.execute(
                "INSERT INTO collections (name, embedding_model, dimension, chunk_size, "
                "chunk_overlap, min_score, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (spec.name, spec.embedding_model, spec.dimension, spec.chunk_size,
                 spec.chunk_overlap, spec.min_score, _now()),
            )  # fmt: skip
            # Identifiers cannot be parameters; the id is an integer we generated.
            db.execute(
                f"CREATE VIRTUAL TABLE vec_{int(cursor.lastrowid)} USING "
                f"vec0(embedding float[{int(spec.dimension)}] distance_metric=cosine)"
            )
        return self.get_collection(spec.name)

    def get_collection(self, name: str) -> Collection:
        with self._locked() as db:
            row = db.execute(
                f"SELECT {_COLLECTION_COLUMNS} FROM collections c WHERE c.name = ?", (name,)
            ).fetchone()
        if row is None:
            raise CollectionNotFound(name)
        return _collection(row)

    def list_collections(self) -> list[Collection]:
        with self._locked() as db:
            rows = db.execute(
                f"SELECT {_COLLECTION_COLUMNS} FROM collections c ORDER BY c.name"
            ).fetchall()
        return [_collection(row) for row in rows]

    def delete_collection(self, name: str) -> None:
        with self._transaction() as db:
            row = db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise CollectionNotFound(name)
            db.execute(f"DROP TABLE vec_{int(row[0])}")
            db.execute("DELETE FROM collections WHERE id = ?", (row[0],))

    # Documents.

    def get_document(self, collection: Collection, source: str) -> Document | None:
        with self._locked() as db:
            row = db.execute(
                "SELECT d.source, d.format, d.sha256, d.bytes, d.chunks, d.ingested_at "
                "FROM documents d JOIN collections c ON c.id = d.collection_id "
                "WHERE c.name = ? AND d.source = ?",
                (collection.name, source),
            ).fetchone()
        return None if row is None else _document(row)

    def list_documents(
        self, collection: Collection, *, limit: int = 100, offset: int = 0
    ) -> list[Document]:
        with self._locked() as db:
            rows = db.execute(
                "SELECT d.source, d.format, d.sha256, d.bytes, d.chunks, d.ingested_at "
                "FROM documents d JOIN collections c ON c.id = d.collection_id "
                "WHERE c.name = ? ORDER BY d.source LIMIT ? OFFSET ?",
                (collection.name, limit, offset),
            ).fetchall()
        return [_document(row) for row in rows]

    def replace_document(
        self,
        collection: Collection,
        document: NewDocument,
        pieces: Sequence[Piece],
        vectors: Vectors,
    ) -> Document:
        check_vectors(collection, pieces, vectors)
        with self._transaction() as db:
            collection_id = self._collection_id(db, collection.name)
            self._delete_document(db, collection_id, document.source)
            cursor = db.execute(
                "INSERT INTO documents (collection_id, source, format, sha256, bytes, chunks, "
                "ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (collection_id, document.source, document.format, document.sha256,
                 document.bytes, len(pieces), _now()),
            )  # fmt: skip
            document_id = cursor.lastrowid
            for position, (piece, vector) in enumerate(zip(pieces, vectors, strict=True)):
                chunk = db.execute(
                    "INSERT INTO chunks (document_id, position, start, text) VALUES (?, ?, ?, ?)",
                    (document_id, position, piece.start, piece.text),
                )
                db.execute(
                    f"INSERT INTO vec_{collection_id} (rowid, embedding) VALUES (?, ?)",
                    (chunk.lastrowid, vector.astype("<f4").tobytes()),
                )
        stored = self.get_document(collection, document.source)
        if stored is None:  # pragma: no cover - written just above
            raise DocumentNotFound(collection.name, document.source)
        return stored

    def delete_document(self, collection: Collection, source: str) -> None:
        with self._transaction() as db:
            collection_id = self._collection_id(db, collection.name)
            if not self._delete_document(db, collection_id, source):
                raise DocumentNotFound(collection.name, source)

    def _delete_document(self, db: Any, collection_id: int, source: str) -> bool:
        row = db.execute(
            "SELECT id FROM documents WHERE collection_id = ? AND source = ?",
            (collection_id, source),
        ).fetchone()
        if row is None:
            return False
        # vec0 tables know nothing of foreign keys: remove the vectors first.
        db.execute(
            f"DELETE FROM vec_{collection_id} WHERE rowid IN "
            "(SELECT id FROM chunks WHERE document_id = ?)",
            (row[0],),
        )
        db.execute("DELETE FROM documents WHERE id = ?", (row[0],))
        return True

    def _collection_id(self, db: Any, name: str) -> int:
        row = db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise CollectionNotFound(name)
        return int(row[0])

    # Search.

    def search(self, collection: Collection, vector: Vectors, k: int) -> list[Hit]:
        check_query(collection, vector, k)
        with self._locked() as db:
            collection_id = self._collection_id(db, collection.name)
            rows = db.execute(
                f"WITH knn AS (SELECT rowid, distance FROM vec_{collection_id} "
                "WHERE embedding MATCH ? AND k = ?) "
                "SELECT d.source, c.position, c.start, 1.0 - knn.distance, c.text "
                "FROM knn JOIN chunks c ON c.id = knn.rowid "
                "JOIN documents d ON d.id = c.document_id ORDER BY knn.distance, c.id",
                (vector.astype("<f4").tobytes(), k),
            ).fetchall()
        return [
            Hit(source=row[0], chunk=row[1], start=row[2], score=float(row[3]), text=row[4])
            for row in rows
        ]

    def close(self) -> None:
        with self._lock:
            if not self.read_only:
                # Fold the WAL into the file, so the file alone is the whole index (baking).
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _collection(row: Sequence[Any]) -> Collection:
    return Collection(
        name=row[1],
        embedding_model=row[2],
        dimension=row[3],
        chunk_size=row[4],
        chunk_overlap=row[5],
        min_score=row[6],
        created_at=datetime.fromisoformat(row[7]),
        documents=row[8],
        chunks=row[9],
    )


def _document(row: Sequence[Any]) -> Document:
    return Document(
        source=row[0],
        format=row[1],
        sha256=row[2],
        bytes=row[3],
        chunks=row[4],
        ingested_at=datetime.fromisoformat(row[5]),
    )
