"""The shared store: Postgres with pgvector, for several replicas (Cloud SQL, AlloyDB).

Tables carry a ``rag_`` prefix, so the database can be shared with other services. All
chunks live in one table whose ``embedding`` column is an unsized ``vector``; each
collection gets a partial HNSW index on its rows cast to its own dimension, as pgvector's
README shows for mixing dimensions in one table::

    CREATE INDEX rag_chunks_hnsw_7 ON rag_chunks
        USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE collection_id = 7;

and searches repeat that expression and predicate, so the planner uses that index. HNSW is
approximate: ``hnsw.ef_search``, the candidates a search keeps (``LIFTOFF_RAG_PG_EF_SEARCH``,
default 200 where pgvector's is 40), trades latency for recall (``benchmarks/retrieval.py``)
and is raised to twice ``k`` when that is more, since it caps the results. Scans are
iterative (pgvector 0.8), so entries of replaced documents that VACUUM has not yet removed
cannot crowd out live ones. The schema is created at start under an
advisory lock, so replicas starting together do not race; the role needs permission to
``CREATE EXTENSION vector`` once (Cloud SQL: ``cloudsqlsuperuser``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from liftoff.retrieval.errors import (
    CollectionExists,
    CollectionNotFound,
    DocumentNotFound,
    StoreUnavailable,
)
from liftoff.retrieval.records import Collection, Document, Hit, NewCollection, NewDocument, Piece
from liftoff.retrieval.store.base import Store, Vectors, check_query, check_vectors

_SCHEMA_LOCK = 0x6C69667466  # any constant shared by every replica
_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS rag_collections (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    embedding_model text NOT NULL,
    dimension integer NOT NULL,
    chunk_size integer NOT NULL,
    chunk_overlap integer NOT NULL,
    min_score double precision NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS rag_documents (
    id bigserial PRIMARY KEY,
    collection_id integer NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
    source text NOT NULL,
    format text NOT NULL,
    sha256 text NOT NULL,
    bytes bigint NOT NULL,
    chunks integer NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection_id, source)
);
CREATE TABLE IF NOT EXISTS rag_chunks (
    id bigserial PRIMARY KEY,
    collection_id integer NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
    document_id bigint NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
    position integer NOT NULL,
    start integer NOT NULL,
    text text NOT NULL,
    embedding vector NOT NULL
);
CREATE INDEX IF NOT EXISTS rag_chunks_document ON rag_chunks(document_id);
"""

_COLLECTION_COLUMNS = """
    c.id, c.name, c.embedding_model, c.dimension, c.chunk_size, c.chunk_overlap, c.min_score,
    c.created_at,
    (SELECT count(*) FROM rag_documents d WHERE d.collection_id = c.id),
    (SELECT coalesce(sum(d.chunks), 0) FROM rag_documents d WHERE d.collection_id = c.id)
"""
_DOCUMENT_COLUMNS = "d.source, d.format, d.sha256, d.bytes, d.chunks, d.ingested_at"


class PostgresStore(Store):
    """Collections in a Postgres database with the pgvector extension.

    >>> store = PostgresStore("postgresql://rag:secret@10.0.0.5/liftoff", pool_size=8)
    """

    kind = "postgres"

    def __init__(
        self, url: str, *, pool_size: int = 8, connect_timeout: float = 10.0, ef_search: int = 200
    ) -> None:
        self._where = _safe_location(url)
        self.ef_search = ef_search
        try:
            timeout = max(1, int(connect_timeout))
            with (
                psycopg.connect(url, autocommit=True, connect_timeout=timeout) as db,
                db.transaction(),
            ):
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                db.execute(_SCHEMA)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot prepare the database at {self._where}: {exc}") from exc
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            configure=register_vector,
            timeout=connect_timeout,
            open=True,
        )

    def describe(self) -> str:
        return f"Postgres + pgvector at {self._where}"

    def check(self) -> None:
        with self._connection() as db:
            db.execute("SELECT 1").fetchone()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in a transaction, committed when the block ends."""
        try:
            with self._pool.connection() as db:
                yield db
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"the database at {self._where} failed: {exc}") from exc

    # Collections.

    def create_collection(self, spec: NewCollection) -> Collection:
        try:
            with self._connection() as db:
                row = db.execute(
                    "INSERT INTO rag_collections (name, embedding_model, dimension, chunk_size, "
                    "chunk_overlap, min_score) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (spec.name, spec.embedding_model, spec.dimension, spec.chunk_size,
                     spec.chunk_overlap, spec.min_score),
                ).fetchone()  # fmt: skip
                collection_id = int(row[0]) if row else 0
                # Identifiers cannot be parameters; both numbers are integers we made.
                db.execute(
                    f"CREATE INDEX rag_chunks_hnsw_{collection_id} ON rag_chunks USING hnsw "
                    f"((embedding::vector({int(spec.dimension)})) vector_cosine_ops) "
                    f"WHERE collection_id = {collection_id}"
                )
        except psycopg.errors.UniqueViolation as exc:
            raise CollectionExists(spec.name) from exc
        return self.get_collection(spec.name)

    def get_collection(self, name: str) -> Collection:
        with self._connection() as db:
            row = db.execute(
                f"SELECT {_COLLECTION_COLUMNS} FROM rag_collections c WHERE c.name = %s", (name,)
            ).fetchone()
        if row is None:
            raise CollectionNotFound(name)
        return _collection(row)

    def list_collections(self) -> list[Collection]:
        with self._connection() as db:
            rows = db.execute(
                f"SELECT {_COLLECTION_COLUMNS} FROM rag_collections c ORDER BY c.name"
            ).fetchall()
        return [_collection(row) for row in rows]

    def delete_collection(self, name: str) -> None:
        with self._connection() as db:
            row = db.execute(
                "DELETE FROM rag_collections WHERE name = %s RETURNING id", (name,)
            ).fetchone()
            if row is None:
                raise CollectionNotFound(name)
            db.execute(f"DROP INDEX IF EXISTS rag_chunks_hnsw_{int(row[0])}")

    # Documents.

    def get_document(self, collection: Collection, source: str) -> Document | None:
        with self._connection() as db:
            row = db.execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM rag_documents d "
                "JOIN rag_collections c ON c.id = d.collection_id "
                "WHERE c.name = %s AND d.source = %s",
                (collection.name, source),
            ).fetchone()
        return None if row is None else _document(row)

    def list_documents(
        self, collection: Collection, *, limit: int = 100, offset: int = 0
    ) -> list[Document]:
        with self._connection() as db:
            rows = db.execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM rag_documents d "
                "JOIN rag_collections c ON c.id = d.collection_id "
                'WHERE c.name = %s ORDER BY d.source COLLATE "C" LIMIT %s OFFSET %s',
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
        with self._connection() as db:
            collection_id = _collection_id(db, collection.name, lock=True)
            db.execute(
                "DELETE FROM rag_documents WHERE collection_id = %s AND source = %s",
                (collection_id, document.source),
            )
            row = db.execute(
                "INSERT INTO rag_documents (collection_id, source, format, sha256, bytes, chunks) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (collection_id, document.source, document.format, document.sha256,
                 document.bytes, len(pieces)),
            ).fetchone()  # fmt: skip
            document_id = row[0] if row else 0
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO rag_chunks (collection_id, document_id, position, start, text, "
                    "embedding) VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (collection_id, document_id, position, piece.start, piece.text, vector)
                        for position, (piece, vector) in enumerate(
                            zip(pieces, vectors, strict=True)
                        )
                    ],
                )
        stored = self.get_document(collection, document.source)
        if stored is None:  # pragma: no cover - written just above
            raise DocumentNotFound(collection.name, document.source)
        return stored

    def delete_document(self, collection: Collection, source: str) -> None:
        with self._connection() as db:
            collection_id = _collection_id(db, collection.name, lock=True)
            deleted = db.execute(
                "DELETE FROM rag_documents WHERE collection_id = %s AND source = %s RETURNING id",
                (collection_id, source),
            ).fetchone()
        if deleted is None:
            raise DocumentNotFound(collection.name, source)

    # Search.

    def search(self, collection: Collection, vector: Vectors, k: int) -> list[Hit]:
        check_query(collection, vector, k)
        dimension = int(collection.dimension)
        nearest = f"c.embedding::vector({dimension}) <=> %(query)s::vector({dimension})"
        with self._connection() as db:
            collection_id = _collection_id(db, collection.name, lock=False)
            db.execute(f"SET LOCAL hnsw.ef_search = {max(int(self.ef_search), 2 * int(k))}")
            # Replaced documents leave dead entries in the graph until VACUUM; without an
            # iterative scan a search can find only those and return nothing (pgvector 0.8).
            db.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            rows = db.execute(
                "SELECT d.source, knn.position, knn.start, 1 - knn.distance, knn.text FROM ("
                f"  SELECT c.document_id, c.position, c.start, c.text, {nearest} AS distance "
                "  FROM rag_chunks c WHERE c.collection_id = %(collection)s "
                f"  ORDER BY {nearest} LIMIT %(k)s"
                ") knn JOIN rag_documents d ON d.id = knn.document_id "
                "ORDER BY knn.distance, d.source, knn.position",
                {"query": vector, "collection": collection_id, "k": k},
            ).fetchall()
        return [
            Hit(source=row[0], chunk=row[1], start=row[2], score=float(row[3]), text=row[4])
            for row in rows
        ]

    def explain_search(self, collection: Collection, vector: Vectors, k: int) -> str:
        """The query plan of ``search``: tests check that it uses the collection's index."""
        dimension = int(collection.dimension)
        nearest = f"c.embedding::vector({dimension}) <=> %(query)s::vector({dimension})"
        with self._connection() as db:
            collection_id = _collection_id(db, collection.name, lock=False)
            rows = db.execute(
                f"EXPLAIN SELECT c.id FROM rag_chunks c WHERE c.collection_id = %(collection)s "
                f"ORDER BY {nearest} LIMIT %(k)s",
                {"query": vector, "collection": collection_id, "k": k},
            ).fetchall()
        return "\n".join(str(row[0]) for row in rows)

    def close(self) -> None:
        self._pool.close()


def _collection_id(db: psycopg.Connection[Any], name: str, *, lock: bool) -> int:
    # FOR SHARE: a collection deleted meanwhile cannot receive a half-written document.
    row = db.execute(
        "SELECT id FROM rag_collections WHERE name = %s" + (" FOR SHARE" if lock else ""), (name,)
    ).fetchone()
    if row is None:
        raise CollectionNotFound(name)
    return int(row[0])


def _safe_location(url: str) -> str:
    """``host/dbname`` of a connection URL, without user or password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured database"
    return f"{parts.get('host') or 'localhost'}/{parts.get('dbname') or ''}"


def _collection(row: Sequence[Any]) -> Collection:
    return Collection(
        name=row[1],
        embedding_model=row[2],
        dimension=row[3],
        chunk_size=row[4],
        chunk_overlap=row[5],
        min_score=row[6],
        created_at=row[7],
        documents=row[8],
        chunks=row[9],
    )


def _document(row: Sequence[Any]) -> Document:
    return Document(
        source=row[0], format=row[1], sha256=row[2], bytes=row[3], chunks=row[4], ingested_at=row[5]
    )
