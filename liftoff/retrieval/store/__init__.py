"""Where collections live: SQLite + sqlite-vec (default) or Postgres + pgvector."""

from __future__ import annotations

from liftoff.retrieval.config import Settings
from liftoff.retrieval.store.base import Store, Vectors

__all__ = ["Store", "Vectors", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store the settings name: Postgres when ``LIFTOFF_RAG_DATABASE_URL`` is set, else
    the SQLite file ``LIFTOFF_RAG_STORE``. Raises ``StoreUnavailable``."""
    if settings.database_url is not None:
        from liftoff.retrieval.store.postgres import PostgresStore

        return PostgresStore(
            settings.database_url.get_secret_value(),
            pool_size=settings.pool_size,
            connect_timeout=settings.connect_timeout,
            ef_search=settings.pg_ef_search,
        )
    from liftoff.retrieval.store.sqlite import SQLiteStore

    return SQLiteStore(settings.store, read_only=settings.read_only)
