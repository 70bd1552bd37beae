"""The one process harness: services start, are waited for, stop gracefully or forcefully with
everything they started, never block on their output; pool workers die with their parent."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest

from liftoff.server.processes import (
    ServiceExited,
    ServiceNotReady,
    ServiceProcess,
    exit_with_parent,
    free_port,
)

# A tiny HTTP service: answers 200 on every path; optional behaviours by argument.
SERVICE = textwrap.dedent(
    """
    import http.server, signal, subprocess, sys, time
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "chatty":
        for i in range(4000):  # ~400 KiB before it listens: a pipe would have blocked it
            print(f"line {i:05d} " + "x" * 90, flush=True)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
    if mode == "parent":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        print(f"child {child.pid}", flush=True)
    if mode == "crash":
        print("cannot start: the disk is on fire", flush=True)
        sys.exit(3)
    if mode == "late":
        time.sleep(300)
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


def _service(tmp_path: Path, mode: str = "plain", **options: object) -> ServiceProcess:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    port = free_port()
    return ServiceProcess(
        [sys.executable, str(script), str(port), mode],
        health_url=f"http://127.0.0.1:{port}/healthz",
        name=f"{mode} service",
        **options,  # type: ignore[arg-type]
    )


def test_free_port_can_be_bound_on_loopback() -> None:
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))


def test_a_service_is_ready_when_its_health_url_answers_and_stops_with_sigterm(
    tmp_path: Path,
) -> None:
    with _service(tmp_path) as service:
        assert httpx.get(f"{service.url}/anything").text == "ok"
    assert service.process is not None and service.process.returncode == -signal.SIGTERM
    assert service.stop() == -signal.SIGTERM  # stopping again is harmless


def test_output_goes_to_a_file_so_a_chatty_service_never_blocks(tmp_path: Path) -> None:
    with _service(tmp_path, "chatty", ready_timeout=60) as service:
        assert "line 03999" in service.output()
    kept = service.output()  # the end of it, after the temporary file is gone
    assert kept.endswith("x" * 90 + "\n") and "line 03999" in kept and len(kept) <= 64 * 1024


def test_a_service_that_exits_before_ready_fails_at_once_with_its_output(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ServiceExited) as failure, _service(tmp_path, "crash"):
        pass
    assert time.monotonic() - started < 30  # not the ready timeout
    assert failure.value.returncode == 3
    assert "cannot start: the disk is on fire" in str(failure.value)


def test_a_service_never_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    service = _service(tmp_path, "late", ready_timeout=1.5)
    with pytest.raises(ServiceNotReady) as failure, service:
        pass
    assert "not ready after 1.5 s" in str(failure.value) and "ConnectError" in failure.value.last
    assert service.process is not None and service.process.returncode == -signal.SIGTERM


def test_a_service_ignoring_sigterm_is_killed_after_the_stop_timeout(tmp_path: Path) -> None:
    with _service(tmp_path, "stubborn", stop_timeout=1.0) as service:
        pass
    assert service.process is not None and service.process.returncode == -signal.SIGKILL
    assert "ignoring SIGTERM" in service.output()


def test_stopping_a_service_ends_every_process_it_started(tmp_path: Path) -> None:
    with _service(tmp_path, "parent") as service:
        child = psutil.Process(int(service.output().split("child ")[1].split()[0]))
        assert child.is_running()
    # The service's own child survived its SIGTERM; the harness ended its process group.
    assert _ended(child)


def test_a_killed_service_leaves_its_children_for_stop_to_end(tmp_path: Path) -> None:
    with _service(tmp_path, "parent") as service:
        child = psutil.Process(int(service.output().split("child ")[1].split()[0]))
        service.kill()  # a crash: its child is orphaned
        assert child.is_running()
        service.stop()
        assert _ended(child)


def _ended(process: psutil.Process) -> bool:
    """Not running any more (an exited child not yet reaped by its new parent counts)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# A parent with a spawn pool whose workers run exit_with_parent; prints a worker's pid.
POOL_PARENT = textwrap.dedent(
    """
    import multiprocessing, os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from liftoff.server.processes import exit_with_parent

    def busy():  # Python code, as scoring is
        total = 0
        while True:
            total += 1

    if __name__ == "__main__":
        pool = ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=exit_with_parent
        )
        print(pool.submit(os.getpid).result(), flush=True)
        if sys.argv[1] == "busy":
            pool.submit(busy)
        time.sleep(300)
    """
)


@pytest.mark.parametrize("work", ["idle", "busy"])
def test_pool_workers_exit_when_their_parent_is_killed(tmp_path: Path, work: str) -> None:
    script = tmp_path / "parent.py"
    script.write_text(POOL_PARENT)
    parent = subprocess.Popen(
        [sys.executable, str(script), work], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    assert parent.stdout is not None and parent.stderr is not None
    with parent.stdout, parent.stderr:
        worker = psutil.Process(int(parent.stdout.readline()))
        try:
            time.sleep(0.5)
            parent.kill()  # SIGKILL: no shutdown code runs in the parent
            parent.wait()
            psutil.wait_procs([worker], timeout=5)
            assert _ended(worker)
            assert f"its parent {parent.pid} died; exiting" in parent.stderr.read()
        finally:
            if worker.is_running():
                worker.kill()


def test_exit_with_parent_refuses_outside_a_multiprocessing_child() -> None:
    with pytest.raises(RuntimeError, match="multiprocessing child"):
        exit_with_parent()
