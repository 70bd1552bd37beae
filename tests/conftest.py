"""Fixtures shared by every test package, and the rule that the suite leaves no process behind."""

from __future__ import annotations

import contextlib
import multiprocessing.resource_tracker
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from liftoff.api.model_files import packaged_embedding_gguf, packaged_gguf

# Fakes of what cannot run here, as fixtures for every test package: fake_ollama,
# fake_ollama_down (Ollama's HTTP API), fake_metadata (GCP's metadata server) and fake_gemini
# (the Gemini API, Vertex AI and Google's OAuth token endpoint); and real servers: Postgres
# (``postgres``, one per session) and Redis (``redis_server``, one per test).
pytest_plugins = [
    "tests.fakes.ollama_server",
    "tests.fakes.metadata_server",
    "tests.fakes.gemini_server",
    "tests.postgres",
    "tests.redis",
]

# Every process the suite starts inherits this variable (tests extend os.environ), so one
# whose parent died, re-parented to init, is still known as the suite's.
SESSION_VARIABLE = "LIFTOFF_TEST_SESSION"
SESSION = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
os.environ[SESSION_VARIABLE] = SESSION
# How long the suite's processes get to finish exiting once the last test is done.
EXIT_GRACE_S = 10.0


def _cache() -> Path:
    return Path(os.environ.get("LIFTOFF_CACHE_DIR", Path.home() / ".cache" / "liftoff"))


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once into the user's model cache."""
    return packaged_gguf(_cache())


@pytest.fixture(scope="session")
def embedding_gguf_path() -> Path:
    """The packaged all-MiniLM-L6-v2, converted once to GGUF in the user's model cache."""
    return packaged_embedding_gguf(_cache())


def suite_processes() -> list[psutil.Process]:
    """Processes this test session started and that still run: children of this process
    (at any depth), and processes carrying this session's variable (re-parented orphans).

    Zombies (exited, not yet reaped) are not running. This process's own multiprocessing
    resource tracker is exempt: it ends with this process, by design.
    """
    me = psutil.Process()
    found = {child.pid: child for child in me.children(recursive=True)}
    for process in psutil.process_iter():
        if process.pid in found or process.pid == me.pid:
            continue
        try:
            if process.environ().get(SESSION_VARIABLE) == SESSION:
                found[process.pid] = process
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess, OSError):
            continue
    exempt = {getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None)}
    return [
        process for pid, process in sorted(found.items()) if pid not in exempt and _running(process)
    ]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline())[:200]
        return f"pid {process.pid} (parent {process.ppid()}): {command}"
    except psutil.Error:
        return f"pid {process.pid} (gone meanwhile)"


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_suite() -> Iterator[None]:
    """Fails the session when a process it started still runs after the last test.

    Autouse and session-scoped, so it is set up first and torn down last, after every other
    fixture has stopped what it started. Leftovers are listed, then killed.
    """
    yield
    deadline = time.monotonic() + EXIT_GRACE_S
    left = suite_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [process for process in left if _running(process)]
    if not left:
        return
    listing = "\n".join(_describe(process) for process in left)
    for process in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    pytest.fail(
        f"{len(left)} process(es) started by the test suite still ran {EXIT_GRACE_S:g} s after "
        f"the last test (now killed); whatever started them must stop them:\n{listing}",
        pytrace=False,
    )
