"""Services as child processes: start one, wait until it answers, stop it; and workers that
never outlive the service that started them.

The one harness for everything that runs a Liftoff service (or any HTTP server) as a child
process: ``liftoff up``, ``scripts/eval_sample.py``, the benchmarks and the test suite::

    port = free_port()
    command = uvicorn_command("liftoff.api.main:app", port=port)
    with ServiceProcess(command, health_url=f"http://127.0.0.1:{port}/readyz") as gateway:
        httpx.get(f"{gateway.url}/v1/models")

- Output goes to a file (a temporary one unless ``log`` says otherwise), never to a pipe:
  a chatty server blocks for ever once a pipe nobody reads is full (64 KiB on Linux).
- Each service leads a process group of its own (a new session), so stopping it reaches
  every process it started: ``stop()`` sends ``stop_signal`` to the service (SIGTERM is
  uvicorn's graceful shutdown), SIGKILL after ``stop_timeout``, then gives the rest of its
  group (worker pools) ``GROUP_GRACE_S`` to exit by itself and SIGKILLs what remains. Being
  in its own group also means a terminal's Ctrl-C reaches only the parent, which then stops
  each service once and gracefully (a second SIGINT makes uvicorn skip its shutdown).
- :func:`exit_with_parent` is the other direction: the initializer of worker processes
  (``ProcessPoolExecutor(initializer=exit_with_parent)``) that ends a worker as soon as its
  parent dies, however it dies (SIGKILL and out-of-memory kills included).

POSIX only (process groups, ``SIGKILL``), as are the services.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Final, Literal
from urllib.parse import urlsplit

import httpx

from liftoff.server.connections import UVICORN_OPTIONS

LOOPBACK: Final = "127.0.0.1"
# What a stopped service's other processes get to exit by themselves before SIGKILL.
GROUP_GRACE_S: Final = 3.0
# How much of an owned log ``output()`` still returns once the service is stopped.
KEPT_OUTPUT_BYTES: Final = 64 * 1024
# The exit code of a worker whose parent died (nobody is left to read it; ps and logs are).
EXIT_PARENT_DIED: Final = 3


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on at ``host`` right now (the kernel's choice).

    Another process may take it before the caller binds it; on loopback, in tests, that
    race is rare enough, and a service that loses it fails to start with a clear error.
    """
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def uvicorn_command(
    app: str, *, port: int, host: str = LOOPBACK, options: Sequence[str] = ()
) -> list[str]:
    """``python -m uvicorn APP --host HOST --port PORT [options]`` with this interpreter,
    under Liftoff's guarded HTTP protocol (``liftoff.server.connections``: request heads
    time out, connections stay under the file-descriptor limit)."""
    return [sys.executable, "-m", "uvicorn", app, "--host", host, "--port", str(port),
            *UVICORN_OPTIONS, *options]  # fmt: skip


class ServiceExited(RuntimeError):
    """The service exited before it was ready; ``returncode`` and the end of its output."""

    def __init__(self, name: str, returncode: int, output: str) -> None:
        self.returncode = returncode
        self.output = output
        detail = f":\n{output}" if output else ""
        super().__init__(f"{name} exited with code {returncode} before it was ready{detail}")


class ServiceNotReady(TimeoutError):
    """The service's health URL did not answer in time; the last answer and its output."""

    def __init__(self, name: str, url: str, timeout: float, last: str, output: str) -> None:
        self.last = last
        self.output = output
        detail = f"\n{output}" if output else ""
        super().__init__(f"{name}: {url} not ready after {timeout:g} s (last: {last}){detail}")


def wait_until_ready(
    url: str,
    *,
    timeout: float,
    any_status: bool = False,
    process: subprocess.Popen[bytes] | None = None,
    interval: float = 0.1,
) -> None:
    """Poll ``url`` until it answers 200 (any HTTP answer with ``any_status``).

    Raises ``ServiceExited`` as soon as ``process`` (when given) exits, and
    ``ServiceNotReady`` after ``timeout`` seconds. Proxy variables are ignored: the URL is a
    service this machine started.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise ServiceExited(str(process.args), process.returncode, "")
            try:
                response = client.get(url)
                if any_status or response.status_code == 200:
                    return
                last = f"HTTP {response.status_code} {response.text[:200]}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if time.monotonic() >= deadline:
                raise ServiceNotReady(url, url, timeout, last, "")
            time.sleep(interval)


class ServiceProcess:
    """One service as a child process: started, waited for until healthy, stopped.

    ``argv`` runs with ``env`` (this process's environment when None) in ``cwd``.
    ``health_url`` must answer 200 (any status with ``any_status``) within ``ready_timeout``
    seconds, checked every ``poll_interval`` seconds; None: a process without one, ready
    once started. ``log``: None writes the output to a temporary file that ``output()``
    reads, a path appends it there, ``"inherit"`` leaves it on this process's stdout and
    stderr (a terminal). Standard input is always empty. ``cpus`` pins the service (and every
    thread it starts) to those CPUs. ``stop()`` sends ``stop_signal`` to the process, or to
    its whole group with ``stop_group`` (what a terminal's Ctrl-C does; for ``bash -c "make
    run"`` and the like). Entering starts it and waits until it is ready, stopping it again
    if it is not; leaving stops it.

    >>> with ServiceProcess(uvicorn_command("liftoff.evaluation.main:app", port=8123),
    ...                     health_url="http://127.0.0.1:8123/readyz", name="evaluation") as s:
    ...     httpx.get(f"{s.url}/v1/runs")
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        health_url: str | None,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        log: Path | Literal["inherit"] | None = None,
        ready_timeout: float = 60.0,
        any_status: bool = False,
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_group: bool = False,
        stop_timeout: float = 15.0,
        cpus: set[int] | None = None,
        poll_interval: float = 0.1,
    ) -> None:
        self.argv = [str(arg) for arg in argv]
        self.health_url = health_url
        parts = urlsplit(health_url or "")
        self.url = f"{parts.scheme}://{parts.netloc}" if health_url else ""
        self.name = name or " ".join(self.argv)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.log = log
        self.ready_timeout = ready_timeout
        self.any_status = any_status
        self.stop_signal = stop_signal
        self.stop_group = stop_group
        self.stop_timeout = stop_timeout
        self.cpus = cpus
        self.poll_interval = poll_interval
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._kept_output = b""

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> ServiceProcess:
        """Spawn the process (without waiting for it to be ready)."""
        if self.process is not None:
            raise RuntimeError(f"{self.name} was already started")
        output: IO[bytes] | None = None
        if self.log is None:
            self._log_file = output = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        elif self.log != "inherit":
            output = Path(self.log).open("ab")  # noqa: SIM115 - the child keeps its own copy
        cpus = self.cpus
        try:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                start_new_session=True,
                # Before exec, so every thread the service starts inherits the CPU set.
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        finally:
            if output is not None and output is not self._log_file:
                output.close()
        return self

    def wait_ready(self) -> None:
        """Block until the health URL answers; raises ``ServiceExited`` / ``ServiceNotReady``
        (with the end of the service's output) and leaves the process as it is."""
        process = self._started()
        if self.health_url is None:
            return
        try:
            wait_until_ready(
                self.health_url,
                timeout=self.ready_timeout,
                any_status=self.any_status,
                process=process,
                interval=self.poll_interval,
            )
        except ServiceExited as exc:
            raise ServiceExited(self.name, exc.returncode, self.output()[-4000:]) from None
        except ServiceNotReady as exc:
            raise ServiceNotReady(
                self.name, self.health_url, self.ready_timeout, exc.last, self.output()[-4000:]
            ) from None

    def __enter__(self) -> ServiceProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> int | None:
        """Stop gracefully, then forcefully; then end whatever else the service started.

        Returns the exit code (negative: the signal that ended it), None if never started.
        Safe to call again, and after the process has already exited or been killed.
        """
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                if self.stop_group:
                    os.killpg(process.pid, self.stop_signal)
                else:
                    os.kill(process.pid, self.stop_signal)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._end_group(GROUP_GRACE_S)
        self._close_log()
        return process.returncode

    def kill(self) -> None:
        """SIGKILL the service alone, as a crash would (its group is left to ``stop()``)."""
        process = self._started()
        if process.returncode is None:
            process.kill()
            process.wait()

    def _end_group(self, grace: float) -> None:
        # The service led its own process group: anything still in it (worker pools, their
        # resource tracker) was started by it. Workers told to stop get ``grace`` seconds;
        # then SIGKILL, and a moment for the kernel to finish them.
        pgid = self._started().pid
        if _group_gone(pgid, grace):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _group_gone(pgid, 1.0)

    # --- state ------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._started().pid

    def poll(self) -> int | None:
        """The exit code if the service has exited, else None."""
        return self._started().poll()

    def output(self) -> str:
        """What the service printed (with an owned log, the last 64 KiB once stopped)."""
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.seek(0)
            return self._log_file.read().decode(errors="replace")
        if self._kept_output:
            return self._kept_output.decode(errors="replace")
        if self.log not in (None, "inherit"):
            path = Path(str(self.log))
            return path.read_bytes().decode(errors="replace") if path.exists() else ""
        return ""

    def _started(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process

    def _close_log(self) -> None:
        if self._log_file is not None and not self._log_file.closed:
            size = self._log_file.seek(0, os.SEEK_END)
            self._log_file.seek(max(0, size - KEPT_OUTPUT_BYTES))
            self._kept_output = self._log_file.read()
            self._log_file.close()


def _group_gone(pgid: int, timeout: float) -> bool:
    """Whether process group ``pgid`` has no process left, waiting up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_all(services: Sequence[ServiceProcess]) -> None:
    """``stop()`` every service at once (each one's grace period runs in parallel)."""
    threads = [
        threading.Thread(target=service.stop, name=f"stop {service.name}") for service in services
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def exit_with_parent() -> None:
    """End this worker process as soon as the process that started it dies.

    The initializer of worker pools: ``ProcessPoolExecutor(mp_context=..., initializer=
    exit_with_parent)``. A daemon thread waits for the parent and calls ``os._exit`` when it
    is gone (a worker's state is disposable; nobody is left to take its results). Raises
    ``RuntimeError`` outside a ``multiprocessing`` child.

    Why a watching thread rather than Linux's ``prctl(PR_SET_PDEATHSIG)``: the death signal
    fires when the *thread* that created the worker exits, not its process, and a
    ``ProcessPoolExecutor`` creates workers from whichever thread calls ``submit`` (an
    event-loop executor thread, a threadpool thread that idles out after seconds) or from its
    own manager thread; a healthy worker would be killed with it. It is also Linux-only. The
    thread waits on ``multiprocessing``'s parent sentinel, a pipe whose other end only the
    parent process holds: the kernel closes it when the parent dies, however it dies, so the
    wait ends at once, and a parent already gone before this runs is seen at once too. A
    process the parent *forked* would hold that end as well, so the thread also checks once a
    second that this process has not been re-parented (``os.getppid()`` changes on death).
    The price: the thread needs the GIL to act, which Python code (scoring is Python) hands
    over every few milliseconds; a worker inside one long C call that holds the GIL exits
    when that call returns.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        raise RuntimeError("exit_with_parent() runs in a multiprocessing child process")
    parent_pid = parent.pid

    def watch() -> None:
        while parent.is_alive() and os.getppid() == parent_pid:
            parent.join(timeout=1.0)
        message = f"worker {os.getpid()}: its parent {parent_pid} died; exiting\n"
        with contextlib.suppress(OSError):
            os.write(2, message.encode())
        os._exit(EXIT_PARENT_DIED)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
