"""The evaluation service on Postgres (``LIFTOFF_EVAL_DATABASE_URL``), as a real process: its
readiness names the database without the password, a database that goes away is a 503 (never
a 500) until it is back, and one it cannot reach at start stops it with a clear message."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.evaluation.service.conftest import service_env
from tests.postgres import fresh_database
from tests.servers import REPO, ServerProcess, free_port


def _allow_connections(admin_url: str, url: str, allowed: bool) -> None:
    """Let ``url``'s database take connections again, or drop them all and refuse new ones,
    as during an outage."""
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {str(allowed).lower()}")
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


def test_a_database_that_goes_away_is_a_503_until_it_is_back(postgres: str, tmp_path: Path) -> None:
    url = fresh_database(postgres, "eval")
    env = service_env(tmp_path / "unused.sqlite3", LIFTOFF_EVAL_DATABASE_URL=url,
                      LIFTOFF_EVAL_DATABASE_TIMEOUT="2")  # fmt: skip
    with ServerProcess("liftoff.evaluation.main:app", env) as service:
        ready = httpx.get(f"{service.url}/readyz").json()
        assert ready == {"status": "ready", "store": ready["store"]}
        assert ready["store"].startswith("postgresql://postgres@") and "eval_" in ready["store"]
        assert httpx.get(f"{service.url}/v1/runs").json()["data"] == []

        _allow_connections(postgres, url, False)
        try:
            runs = httpx.get(f"{service.url}/v1/runs", timeout=30)
            assert runs.status_code == 503, runs.text
            error = runs.json()["error"]
            assert error["type"] == "store_unavailable" and "retry-after" in runs.headers
            assert error["message"].startswith("the run store at postgresql://postgres@")
            assert httpx.get(f"{service.url}/readyz", timeout=30).status_code == 503
            assert httpx.get(f"{service.url}/healthz").status_code == 200  # alive all along
        finally:
            _allow_connections(postgres, url, True)
        deadline = time.monotonic() + 30
        while httpx.get(f"{service.url}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.2)
        assert httpx.get(f"{service.url}/v1/runs").status_code == 200
    assert not (tmp_path / "unused.sqlite3").exists()


def test_a_database_it_cannot_reach_at_start_stops_it_without_showing_the_password(
    tmp_path: Path,
) -> None:
    password = "pg-start-secret-1234"
    env = {
        **service_env(tmp_path / "unused.sqlite3"),
        "LIFTOFF_EVAL_DATABASE_URL": f"postgresql://evaluator:{password}@127.0.0.1:9/runs",
        "LIFTOFF_EVAL_DATABASE_TIMEOUT": "2",
        "PATH": "/usr/bin:/bin",
    }
    command = [sys.executable, "-m", "uvicorn", "liftoff.evaluation.main:app",
               "--host", "127.0.0.1", "--port", str(free_port())]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "cannot reach the run store at postgresql://evaluator@127.0.0.1:9/runs" in output
    assert password not in output


@pytest.mark.parametrize("url", ["mysql://u:pw-in-url-9@db/x", "sqlite:///x.db"])
def test_a_database_url_that_is_not_postgres_is_refused_without_echoing_it(
    url: str, tmp_path: Path
) -> None:
    env = {**service_env(tmp_path / "unused.sqlite3"), "LIFTOFF_EVAL_DATABASE_URL": url}
    command = [sys.executable, "-c", "from liftoff.evaluation.config import Settings; Settings()"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "LIFTOFF_EVAL_DATABASE_URL must be a postgresql:// URL" in done.stderr
    assert url not in done.stderr and "pw-in-url-9" not in done.stderr
