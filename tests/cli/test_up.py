"""``liftoff up`` (what ``make run`` runs): the stack starts, answers, and stops on Ctrl-C,
SIGTERM or a closed terminal, with or without gateway keys, and leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from liftoff.server.processes import ServiceProcess, free_port
from tests.fakes.ollama_server import FakeOllama
from tests.servers import REPO

READY = "Press Ctrl-C to stop."
KEY = "sk-demo-1"  # what the README's tunnel section tells users to run `make run` with


@dataclass
class Stack:
    up: ServiceProcess
    api: str
    evaluation: str
    retrieval: str
    ui: str

    def output(self) -> str:
        return self.up.output()

    def services(self) -> dict[str, psutil.Process]:
        """The processes ``up`` started, by the ASGI app they serve."""
        found = {}
        for child in psutil.Process(self.up.pid).children():
            command = " ".join(child.cmdline())
            for app in APPS:
                if app in command:
                    found[app] = child
        return found

    def tree(self) -> list[psutil.Process]:
        return psutil.Process(self.up.pid).children(recursive=True)

    def ctrl_c(self) -> int:
        """Ctrl-C at the terminal: SIGINT to the whole foreground process group."""
        os.killpg(self.up.pid, signal.SIGINT)
        return self.up.process.wait(timeout=60)  # type: ignore[union-attr]


APPS = (
    "liftoff.api.main:app",
    "liftoff.evaluation.main:app",
    "liftoff.retrieval.main:app",
    "liftoff.ui.main:app",
)


def environment(**settings: str | None) -> dict[str, str]:
    """This process's environment with ``settings`` applied (None: unset)."""
    env = {name: value for name, value in os.environ.items() if name not in settings}
    return {**env, **{name: value for name, value in settings.items() if value is not None}}


@contextlib.contextmanager
def liftoff_up(tmp_path: Path, **settings: str | None) -> Iterator[Stack]:
    """``liftoff up`` on free ports, in a process group of its own as at a terminal, until it
    prints that it is ready. ``settings`` extend this environment (None: unset)."""
    api_port, evaluation_port, retrieval_port, ui_port = (free_port() for _ in range(4))
    store = tmp_path / "evaluation.sqlite3"  # never the user's own runs
    env = environment(
        COLUMNS="200",
        LIFTOFF_EVAL_STORE=str(store),
        LIFTOFF_RAG_STORE=str(tmp_path / "rag.sqlite3"),
        LIFTOFF_UI_DATA_DIR=str(tmp_path / "ui"),
        **settings,
    )
    command = [sys.executable, "-m", "liftoff", "up", "--api-port", str(api_port),
               "--evaluation-port", str(evaluation_port), "--retrieval-port", str(retrieval_port),
               "--ui-port", str(ui_port)]  # fmt: skip
    up = ServiceProcess(
        command, health_url=f"http://127.0.0.1:{api_port}/readyz", name="liftoff up", env=env,
        cwd=REPO, log=tmp_path / "liftoff-up.log", ready_timeout=120, stop_signal=signal.SIGINT,
        stop_timeout=30,
    )  # fmt: skip
    with up:
        urls = (f"http://127.0.0.1:{port}" for port in (api_port, evaluation_port, retrieval_port,
                                                         ui_port))  # fmt: skip
        stack = Stack(up, *urls)
        deadline = time.monotonic() + 120
        while READY not in stack.output():
            assert up.poll() is None, f"liftoff up exited early:\n{stack.output()}"
            assert time.monotonic() < deadline, f"{READY!r} not printed:\n{stack.output()}"
            time.sleep(0.2)
        yield stack


def _printed_curl(output: str, key: str | None) -> dict[str, object]:
    """Runs the curl command ``up`` prints under "Try it:" as a user would paste it."""
    printed = output.split("Try it:\n", 1)[1].split("\n\n", 1)[0]
    env = {**os.environ, "LIFTOFF_API_KEY": key or ""}
    result = subprocess.run(["bash", "-c", printed + " -s"], env=env, capture_output=True,
                            text=True, timeout=120, check=True)  # fmt: skip
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def _gone(processes: list[psutil.Process], timeout: float = 5) -> list[psutil.Process]:
    """Those of ``processes`` still running after ``timeout`` seconds."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [process for process in alive if process.status() != psutil.STATUS_ZOMBIE]


NO_KEYS: dict[str, str | None] = {"LIFTOFF_API_KEYS": None, "LIFTOFF_API_KEYS_FILE": None}


def _fake_backend(fake: FakeOllama) -> dict[str, str | None]:
    return {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": fake.url, "LIFTOFF_OLLAMA_PULL": "false",
            "LIFTOFF_MODEL": None, **NO_KEYS}  # fmt: skip


@pytest.mark.model
def test_up_serves_the_embedded_model_and_stops_cleanly_on_ctrl_c(
    gguf_path: Path, tmp_path: Path
) -> None:
    with liftoff_up(
        tmp_path, LIFTOFF_CACHE_DIR=str(gguf_path.parent), LIFTOFF_MODEL=None, **NO_KEYS
    ) as stack:
        output = stack.output()
        assert stack.api in output and stack.evaluation in output
        assert "base (pretrained) model" in output
        assert "Authorization" not in output  # no keys: the printed curl needs none
        assert _printed_curl(output, None)["choices"]
        # Logs read as text at a terminal, not JSON.
        served = "gemma-3-270m-q4_k_m, all-minilm-l6-v2"
        assert f"INFO     api: serving {served} via the llamacpp backend" in output
        answer = httpx.post(
            f"{stack.api}/v1/chat/completions",
            json={"model": "gemma-3-270m-q4_k_m", "max_tokens": 5,
                  "messages": [{"role": "user", "content": "Hello"}]},
            timeout=60,
        )  # fmt: skip
        assert answer.status_code == 200
        assert answer.json()["choices"][0]["message"]["content"]
        tree = stack.tree()
        assert set(stack.services()) == set(APPS)
        assert stack.retrieval in output and stack.ui in output
        assert httpx.get(f"{stack.retrieval}/readyz", timeout=30).status_code == 200
        ui = httpx.get(f"{stack.ui}/readyz", timeout=10)
        assert ui.status_code == 200 and ui.json()["service"] == "liftoff-ui"
        assert stack.ctrl_c() == 0
    assert "Stopping..." in stack.output()
    assert _gone(tree) == []  # the services, their scoring workers: nothing outlives up
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{stack.api}/healthz", timeout=1)


def _write_keys_file(tmp_path: Path) -> dict[str, str | None]:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# gateway keys\n{KEY}\nsk-demo-2\n")
    return {"LIFTOFF_API_KEYS": None, "LIFTOFF_API_KEYS_FILE": str(keys)}


@pytest.mark.model
@pytest.mark.parametrize("source", ["LIFTOFF_API_KEYS", "LIFTOFF_API_KEYS_FILE"])
def test_up_with_keys_stays_up_and_its_evaluation_service_runs_against_the_gateway(
    gguf_path: Path, tmp_path: Path, source: str
) -> None:
    """Was: ``KeyError: 'data'`` once ready (``up`` asked its gateway for models without a
    key), and evaluation runs failed with "target refused the API key (401)"."""
    keys: dict[str, str | None] = (
        {"LIFTOFF_API_KEYS": KEY, "LIFTOFF_API_KEYS_FILE": None}
        if source == "LIFTOFF_API_KEYS"
        else _write_keys_file(tmp_path)
    )
    with liftoff_up(tmp_path, LIFTOFF_MODEL=str(gguf_path), **keys) as stack:
        output = stack.output()
        assert "curl " in output and '-H "Authorization: Bearer $LIFTOFF_API_KEY"' in output
        assert httpx.get(f"{stack.api}/v1/models").status_code == 401
        auth = {"Authorization": f"Bearer {KEY}"}
        listed = httpx.get(f"{stack.api}/v1/models", headers=auth).json()
        assert listed["data"][0]["id"] == "gemma-3-270m-q4_k_m"
        # A run with no target: the default is this stack's gateway, with its key.
        row = {"id": "q1", "prompt": "Q: What is 2 plus 2?\nA:", "references": ["4"]}
        body = {"dataset": [row], "generation": {"max_tokens": 4}, "metrics": ["bleu"]}
        created = httpx.post(f"{stack.evaluation}/v1/runs", json=body, timeout=30)
        assert created.status_code in (200, 201, 202), created.text
        run = _wait_for_run(stack.evaluation, created.json()["id"])
        assert run["status"] == "completed", run
        assert stack.up.poll() is None  # still up
        assert stack.ctrl_c() == 0
    assert KEY not in stack.output() and "sk-demo-2" not in stack.output()


def _wait_for_run(url: str, run_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run: dict[str, object] = httpx.get(f"{url}/v1/runs/{run_id}", timeout=10).json()
        if run["status"] in ("completed", "failed"):
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish: {run}")


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(lambda stack: os.killpg(stack.up.pid, signal.SIGINT), id="ctrl-c"),
        pytest.param(lambda stack: os.kill(stack.up.pid, signal.SIGTERM), id="sigterm"),
        pytest.param(lambda stack: os.killpg(stack.up.pid, signal.SIGHUP), id="terminal-closed"),
    ],
)
def test_up_stops_every_service_it_started_whatever_stops_it(
    shared_fake_ollama: FakeOllama, tmp_path: Path, stop: object
) -> None:
    with liftoff_up(tmp_path, **_fake_backend(shared_fake_ollama)) as stack:
        tree = stack.tree()
        assert set(stack.services()) == set(APPS)
        assert len(tree) >= 3  # two services and at least one scoring worker
        stop(stack)  # type: ignore[operator]
        assert stack.up.process.wait(timeout=60) == 0  # type: ignore[union-attr]
    assert "Stopping..." in stack.output()
    assert _gone(tree) == []


def test_up_stops_the_stack_when_one_service_dies(
    shared_fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    with liftoff_up(tmp_path, **_fake_backend(shared_fake_ollama)) as stack:
        tree = stack.tree()
        stack.services()["liftoff.evaluation.main:app"].kill()
        assert stack.up.process.wait(timeout=60) == 1  # type: ignore[union-attr]
    assert "stopped: evaluation exited" in stack.output()
    assert _gone(tree) == []


def test_up_says_which_service_failed_to_start_and_stops_the_others(
    shared_fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    api_port = free_port()
    with socket.socket() as holder:  # something else already listens on the evaluation port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        store = str(tmp_path / "evaluation.sqlite3")
        fake = _fake_backend(shared_fake_ollama)
        env = environment(COLUMNS="200", LIFTOFF_EVAL_STORE=store, **fake)
        command = [sys.executable, "-m", "liftoff", "up", "--api-port", str(api_port),
                   "--evaluation-port", str(holder.getsockname()[1])]  # fmt: skip
        result = subprocess.run(
            command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    failed = r"evaluation exited with code \d+ before it was ready; see its log above"
    assert re.search(failed, output)
    assert "address already in use" in output.lower()
    with pytest.raises(httpx.TransportError):  # the gateway, which did start, is stopped
        httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=1)
