"""What only the Postgres run store does, against a real Postgres: tables shared with other
services, newer schemas refused, passwords never shown, dropped connections replaced, and a
read-only or unreachable database reported as such."""

from __future__ import annotations

import time

import psycopg
import pytest

from liftoff.evaluation.runs.errors import StoreError, StoreUnavailable
from liftoff.evaluation.runs.store.postgres import PostgresRunStore, safe_location
from liftoff.evaluation.runs.store.postgres_schema import SCHEMA_VERSION
from tests.evaluation.runs.stored import SPEC, examples
from tests.postgres import fresh_database


@pytest.fixture
def url(postgres: str) -> str:
    return fresh_database(postgres, "eval")


def _with_password(url: str, password: str) -> str:
    """The same database as ``url``, as a user with a password (created here)."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE ROLE evaluator LOGIN SUPERUSER PASSWORD '{password}'")
    return url.replace("postgresql://postgres:@", f"postgresql://evaluator:{password}@")


async def test_replicas_opening_one_database_at_once_share_one_set_of_tables(url: str) -> None:
    first, second = await PostgresRunStore.open(url), await PostgresRunStore.open(url)
    try:
        run = await first.create_run(SPEC, examples([["a"]]), origin="test")
        assert await second.get_run(run.id) == run
    finally:
        await first.close()
        await second.close()
    with psycopg.connect(url) as db:
        tables = {row[0] for row in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}  # fmt: skip
    assert tables == {"eval_schema", "eval_runs", "eval_examples", "eval_example_scores"}


async def test_a_database_from_a_newer_release_is_refused_untouched(url: str) -> None:
    await (await PostgresRunStore.open(url)).close()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("UPDATE eval_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, written by a"):
        await PostgresRunStore.open(url)
    with psycopg.connect(url) as db:
        assert db.execute("SELECT version FROM eval_schema").fetchall() == [(SCHEMA_VERSION + 1,)]


async def test_the_password_is_never_shown(url: str) -> None:
    password = "pg-secret-pass-7781"
    secret_url = _with_password(url, password)
    store = await PostgresRunStore.open(secret_url)
    try:
        assert password not in store.describe()
        assert store.describe().startswith("postgresql://evaluator@")
    finally:
        await store.close()
    wrong = secret_url.replace(password, password + "x")
    with pytest.raises(StoreUnavailable) as refused:
        await PostgresRunStore.open(wrong.replace("?host=", "?host=/nonexistent"),
                                    connect_timeout=2)  # fmt: skip
    assert password not in str(refused.value)
    assert safe_location("postgresql://u:hunter2@db.internal:6543/runs?sslmode=require") == (
        "postgresql://u@db.internal:6543/runs"
    )


async def test_an_unreachable_database_is_reported_quickly_as_unavailable() -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"cannot reach the run store at postgresql://"):
        await PostgresRunStore.open("postgresql://u:pw@127.0.0.1:9/runs", connect_timeout=2)
    assert time.monotonic() - started < 10


async def test_connections_the_server_dropped_are_replaced(url: str) -> None:
    store = await PostgresRunStore.open(url, pool_size=2)
    try:
        run = await store.create_run(SPEC, examples([["a"]]), origin="test")
        with psycopg.connect(url, autocommit=True) as admin:  # a failover, a maintenance
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert (await store.get_run(run.id)).id == run.id
        await store.check_writable()
    finally:
        await store.close()


async def test_a_read_only_database_is_not_writable(url: str) -> None:
    store = await PostgresRunStore.open(url)
    try:
        with psycopg.connect(url, autocommit=True) as admin:  # as a standby after a failover
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            name = admin.execute("SELECT current_database()").fetchone()
            assert name is not None
            admin.execute(f"ALTER DATABASE {name[0]} SET default_transaction_read_only = on")
        with pytest.raises(StoreError, match=r"is not writable: .*read-only transaction"):
            await store.check_writable()
    finally:
        await store.close()
