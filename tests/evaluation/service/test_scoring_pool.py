"""The scoring pool's workers never outlive the evaluation service: a service killed with
SIGKILL (no shutdown code runs, as in an out-of-memory kill) takes its workers, idle or in
the middle of scoring, with it within seconds. Before, a worker of a killed service was
still running 20 minutes later, re-parented to init."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.evaluation.service.conftest import service_env
from tests.servers import ServerProcess

EXIT_WITHIN_S = 5.0


def _scoring_workers(service: ServerProcess) -> list[psutil.Process]:
    children = psutil.Process(service.pid).children(recursive=True)
    workers = [p for p in children if "multiprocessing.spawn" in " ".join(p.cmdline())]
    assert workers, [p.cmdline() for p in children]
    return children


def _score_for_a_long_time(url: str) -> None:
    predictions = [f"the cat number {i} sat on the mat" for i in range(4000)]
    references = [[f"a cat number {i} is sitting on a mat"] for i in range(4000)]
    with contextlib.suppress(httpx.TransportError):  # the service is killed under it
        httpx.post(
            f"{url}/v1/scores",
            json={"predictions": predictions, "references": references},
            timeout=120,
        )


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "scoring"])
def test_workers_exit_within_seconds_when_the_service_is_killed(tmp_path: Path, busy: bool) -> None:
    with ServerProcess("liftoff.evaluation.main:app", service_env(tmp_path / "runs.db")) as service:
        processes = _scoring_workers(service)  # the warmed-up worker, its resource tracker
        client = threading.Thread(target=_score_for_a_long_time, args=(service.url,))
        if busy:
            worker = next(p for p in processes if "spawn_main" in " ".join(p.cmdline()))
            before = sum(worker.cpu_times()[:2])
            client.start()
            deadline = time.monotonic() + 90
            while sum(worker.cpu_times()[:2]) - before < 1.0:  # a second of scoring done
                assert time.monotonic() < deadline, "the worker never got busy"
                time.sleep(0.1)
        service.kill()  # SIGKILL: only the workers themselves can notice
        killed = time.monotonic()
        _, alive = psutil.wait_procs(processes, timeout=EXIT_WITHIN_S)
        still_running = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        assert still_running == [], f"{len(still_running)} left {EXIT_WITHIN_S} s after the kill"
        assert time.monotonic() - killed < EXIT_WITHIN_S
        if busy:
            client.join(timeout=30)
