"""A full disk, for real: the store on a small tmpfs this test mounts and fills. The probe's
input: creating a run on a full disk answered 500 and ``/readyz`` stayed 200."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.evaluation.service.conftest import service_env
from tests.servers import ServerProcess

pytestmark = pytest.mark.model

APP = "liftoff.evaluation.main:app"
SIZE = 8 * 1024 * 1024
SMALL = '{"id": "1", "prompt": "2+2=", "references": ["4"]}\n'


def _privileged(*command: str) -> subprocess.CompletedProcess[str]:
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    return subprocess.run([*prefix, *command], capture_output=True, text=True, check=False)


@contextmanager
def small_filesystem(size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes, writable by this user; needs root or passwordless sudo."""
    mount = Path(tempfile.mkdtemp(prefix="liftoff-full-"))
    mounted = _privileged("mount", "-t", "tmpfs", "-o", f"size={size},mode=1777", "tmpfs",
                          str(mount))  # fmt: skip
    if mounted.returncode != 0:
        mount.rmdir()
        pytest.fail(f"mounting a {size}-byte tmpfs needs root or passwordless sudo: "
                    f"{mounted.stderr.strip()}")  # fmt: skip
    try:
        yield mount
    finally:
        _privileged("umount", "-l", str(mount))
        mount.rmdir()


def fill(directory: Path, leave: int) -> Path:
    """Write a file until only ``leave`` bytes are free (0: until the disk refuses)."""
    filler = directory / "filler"
    with filler.open("wb") as out:
        try:
            while (free := shutil.disk_usage(directory).free) > leave:
                out.write(b"\0" * min(free - leave, 1 << 20))
                out.flush()
        except OSError:  # ENOSPC: full
            pass
    return filler


def _dataset(examples: int, reference_bytes: int) -> str:
    rows = ({"id": str(i), "prompt": "2+2=", "references": ["y" * reference_bytes]}
            for i in range(examples))  # fmt: skip
    return "\n".join(json.dumps(row) for row in rows)


def _stored_examples(store: Path) -> int:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT count(*) FROM examples").fetchone()
    return int(count)


def _create(service: ServerProcess, dataset: str) -> httpx.Response:
    body = {"dataset": dataset, "generation": {"max_tokens": 1}, "metrics": ["bleu"]}
    return httpx.post(f"{service.url}/v1/runs", json=body, timeout=60)


@pytest.fixture
def disk() -> Iterator[Path]:
    with small_filesystem(SIZE) as mount:
        yield mount


def test_readiness_is_503_and_new_runs_507_while_the_disk_is_full_until_space_returns(
    disk: Path, gateway: ServerProcess
) -> None:
    env = service_env(disk / "runs.sqlite3", f"{gateway.url}/v1",
                      LIFTOFF_EVAL_MIN_FREE_BYTES=str(1024 * 1024))  # fmt: skip
    with ServerProcess(APP, env) as service:
        filler = fill(disk, leave=0)
        ready = httpx.get(f"{service.url}/readyz")
        assert ready.status_code == 503
        assert "bytes free" in ready.json()["error"]["message"]
        refused = _create(service, SMALL)
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"]["type"] == "insufficient_storage"
        assert "Retry-After" in refused.headers
        assert httpx.get(f"{service.url}/v1/runs").json()["data"] == []
        assert httpx.get(f"{service.url}/healthz").status_code == 200  # alive all along

        filler.unlink()
        assert httpx.get(f"{service.url}/readyz").status_code == 200
        assert _create(service, SMALL).status_code == 202


def test_a_run_the_disk_cannot_hold_is_507_and_leaves_nothing_half_written(
    disk: Path, gateway: ServerProcess
) -> None:
    store = disk / "runs.sqlite3"
    env = service_env(store, f"{gateway.url}/v1", LIFTOFF_EVAL_MIN_FREE_BYTES="0")
    with ServerProcess(APP, env) as service:
        assert _create(service, SMALL).status_code == 202
        before = _stored_examples(store)
        filler = fill(disk, leave=256 * 1024)
        big = _dataset(2000, 1000)  # about 2 MB in the store, more than the disk has left
        refused = _create(service, big)
        assert refused.status_code == 507, refused.text
        assert "nothing was written" in refused.json()["error"]["message"]
        assert len(httpx.get(f"{service.url}/v1/runs").json()["data"]) == 1
        assert _stored_examples(store) == before

        filler.unlink()
        created = _create(service, big)
        assert created.status_code == 202, created.text
        assert _stored_examples(store) == before + 2000
