"""``liftoff tunnel``: only a keyed gateway goes public, ngrok's gate reaches ngrok, Ctrl-C closes.

The command runs as a user runs it (``python -m liftoff tunnel``) against a real gateway
process; pyngrok is real too and launches the FAKE ngrok agent (tests/fakes/ngrok_agent.py),
which records what would have gone to ngrok.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from liftoff.cli import app
from tests.fakes.ngrok_agent import FakeNgrokAgent
from tests.fakes.ollama_server import FakeOllama
from tests.servers import REPO, ServerProcess, free_port

KEY = "sk-tunnel-test-key-0123456789"
TOKEN = "2fake_ngrok_authtoken_abcdefghijklmnop"
PUBLIC_URL = re.compile(r"https://[0-9a-f]{8}\.ngrok-free\.app")
READY = "Press Ctrl-C to close the tunnel."


@pytest.fixture
def fake_ngrok(tmp_path: Path) -> Iterator[FakeNgrokAgent]:
    fake = FakeNgrokAgent.install(tmp_path / "fake-ngrok")
    yield fake
    for pid in fake.started_pids():  # a failed test must not leave its agent running
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def gateway(shared_fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    """The gateway with API keys, on the fake Ollama backend."""
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_API_KEYS": KEY}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


@pytest.fixture(scope="module")
def open_gateway(shared_fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    """The gateway on loopback without keys: authentication is off."""
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_API_KEYS": ""}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


def _env(fake: FakeNgrokAgent, **extra: str) -> dict[str, str]:
    # The demo-giver's shell: the gateway's keys are in it too, and must never be printed.
    return {**os.environ, **fake.env(), "NGROK_AUTHTOKEN": TOKEN, "LIFTOFF_API_KEYS": KEY,
            "COLUMNS": "200", **extra}  # fmt: skip


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liftoff", "tunnel", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


class Tunnel:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def public_url(self) -> str:
        found = PUBLIC_URL.search(self.output())
        assert found, self.output()
        return found.group(0)

    def stop(self, signum: signal.Signals = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=30)


@contextlib.contextmanager
def _tunnel(args: list[str], env: dict[str, str], log: Path) -> Iterator[Tunnel]:
    """``liftoff tunnel`` running until it prints the ready line; stopped with Ctrl-C after."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "liftoff", "tunnel", *args],
            cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    tunnel = Tunnel(process, log)
    try:
        deadline = time.monotonic() + 60
        while READY not in tunnel.output():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"liftoff tunnel did not open:\n{tunnel.output()}")
            time.sleep(0.1)
        yield tunnel
    finally:
        tunnel.stop()


def _snippet(output: str, heading: str) -> str:
    """The lines printed under ``heading``, up to the next blank line."""
    after = output.split(f"{heading}\n", 1)[1]
    return after.split("\n\n", 1)[0]


def _posted(fake: FakeNgrokAgent) -> list[dict[str, Any]]:
    return [r["body"] for r in fake.requests("POST")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_publishes_the_gateway_with_authtoken_and_nothing_else_sent_to_ngrok(
    gateway: ServerProcess, fake_ngrok: FakeNgrokAgent
) -> None:
    with _tunnel(
        ["--url", gateway.url], _env(fake_ngrok), fake_ngrok.directory / "liftoff.log"
    ) as tunnel:
        [start] = fake_ngrok.events("start")
        assert start["authtoken"] == TOKEN
        assert start["argv"][:2] == ["start", "--none"]
        # The agent leads its own session: a terminal's Ctrl-C reaches liftoff, which
        # closes the endpoint before stopping the agent.
        assert start["session_leader"] is True
        assert _posted(fake_ngrok) == [
            {"name": "liftoff-gateway", "upstream": {"url": gateway.url}}
        ]
        output = tunnel.output()
        assert f"Tunnel open  {tunnel.public_url()}  ->  {gateway.url}" in output
    assert KEY not in output
    assert TOKEN not in output


def test_printed_curl_and_sdk_snippets_work_against_the_gateway(
    gateway: ServerProcess, fake_ngrok: FakeNgrokAgent
) -> None:
    with _tunnel(
        ["--url", gateway.url], _env(fake_ngrok), fake_ngrok.directory / "liftoff.log"
    ) as tunnel:
        output, public_url = tunnel.output(), tunnel.public_url()
    curl = _snippet(output, "# curl")
    assert curl == f'curl {public_url}/v1/models -H "Authorization: Bearer $LIFTOFF_API_KEY"'
    sdk = _snippet(output, "# OpenAI SDK (Python)")
    assert "api_key=key" in sdk and KEY not in sdk
    # ngrok's edge cannot be reached from here: the snippets run against the gateway itself.
    env = {**os.environ, "LIFTOFF_API_KEY": KEY}
    reply = subprocess.run(
        [sys.executable, "-c", sdk.replace(public_url, gateway.url)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout.strip()
    if shutil.which("curl"):
        listed = subprocess.run(
            ["bash", "-c", curl.replace(public_url, gateway.url) + " --fail -s"],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert '"llama3.1:8b"' in listed.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopping_deletes_the_endpoint_and_kills_the_agent(
    gateway: ServerProcess, fake_ngrok: FakeNgrokAgent, signum: signal.Signals
) -> None:
    with _tunnel(
        ["--url", gateway.url], _env(fake_ngrok), fake_ngrok.directory / "liftoff.log"
    ) as tunnel:
        [pid] = fake_ngrok.started_pids()
        assert _alive(pid)
        code = tunnel.stop(signum)
    assert code == 0, tunnel.output()
    assert "Tunnel closed." in tunnel.output()
    deletes = [r["path"] for r in fake_ngrok.requests("DELETE")]
    assert deletes == ["/api/endpoints/liftoff-gateway"]
    assert not _alive(pid)


def test_basic_auth_reaches_ngrok_as_a_traffic_policy(
    gateway: ServerProcess, fake_ngrok: FakeNgrokAgent
) -> None:
    args = ["--url", gateway.url, "--domain", "liftoff-demo.ngrok.app",
            "--basic-auth", "demo:correct-horse",
            "--basic-auth", "guest:battery-staple"]  # fmt: skip
    with _tunnel(args, _env(fake_ngrok), fake_ngrok.directory / "liftoff.log") as tunnel:
        output = tunnel.output()
    credentials = ["demo:correct-horse", "guest:battery-staple"]
    assert _posted(fake_ngrok) == [
        {
            "name": "liftoff-gateway",
            "upstream": {"url": gateway.url},
            "url": "https://liftoff-demo.ngrok.app",
            "traffic_policy": {
                "on_http_request": [
                    {"actions": [{"type": "basic-auth", "config": {"credentials": credentials}}]}
                ]
            },
        }
    ]
    assert "Tunnel open  https://liftoff-demo.ngrok.app  ->" in output
    assert "users: demo, guest" in output
    assert "correct-horse" not in output and "battery-staple" not in output
    # ngrok's login takes the Authorization header, so the gateway key travels as x-api-key.
    curl = _snippet(output, "# curl")
    assert curl.endswith('-u "$NGROK_BASIC_AUTH" -H "x-api-key: $LIFTOFF_API_KEY"')
    sdk = _snippet(output, "# OpenAI SDK (Python)")
    env = {**os.environ, "LIFTOFF_API_KEY": KEY, "NGROK_BASIC_AUTH": credentials[0]}
    reply = subprocess.run(
        [sys.executable, "-c", sdk.replace("https://liftoff-demo.ngrok.app", gateway.url)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert reply.returncode == 0, reply.stderr


def test_oauth_with_allow_lists_reaches_ngrok_as_oauth_then_deny(
    gateway: ServerProcess, fake_ngrok: FakeNgrokAgent
) -> None:
    args = ["--url", gateway.url, "--oauth", "google",
            "--oauth-allow-email", "ana@example.com", "--oauth-allow-email", "bo@example.org",
            "--oauth-allow-domain", "acme.dev"]  # fmt: skip
    with _tunnel(args, _env(fake_ngrok), fake_ngrok.directory / "liftoff.log") as tunnel:
        output, public_url = tunnel.output(), tunnel.public_url()
    email = "actions.ngrok.oauth.identity.email"
    expression = (
        f"!({email} in ['ana@example.com', 'bo@example.org'] || {email}.endsWith('@acme.dev'))"
    )
    [body] = _posted(fake_ngrok)
    assert body["traffic_policy"] == {
        "on_http_request": [
            {"actions": [{"type": "oauth", "config": {"provider": "google"}}]},
            {"expressions": [expression], "actions": [{"type": "deny"}]},
        ]
    }
    # A browser logs in on an open path, then calls with the key from its console.
    assert f"Open {public_url}/healthz in a browser" in output
    assert 'fetch("/v1/models", {headers: {Authorization: "Bearer " + prompt(' in output
    assert "ana@example.com, bo@example.org, *@acme.dev" in output
    assert "# curl" not in output  # an API client cannot pass a browser login


def test_refuses_while_gateway_auth_is_off(
    open_gateway: ServerProcess, fake_ngrok: FakeNgrokAgent
) -> None:
    result = _run(["--url", open_gateway.url], _env(fake_ngrok))
    assert result.returncode == 2, result.stdout
    assert "answers without an API key" in result.stdout
    assert "LIFTOFF_API_KEYS=" in result.stdout
    assert fake_ngrok.events() == []  # no agent started, nothing sent to ngrok


def test_refuses_ollamas_port_outright(fake_ngrok: FakeNgrokAgent) -> None:
    result = _run(["--url", "http://127.0.0.1:11434"], _env(fake_ngrok))
    assert result.returncode == 2, result.stdout
    assert "Ollama's port" in result.stdout
    assert fake_ngrok.events() == []


def test_refuses_a_raw_ollama_server_on_any_port(
    fake_ollama: FakeOllama, fake_ngrok: FakeNgrokAgent
) -> None:
    result = _run(["--url", fake_ollama.url], _env(fake_ngrok))
    assert result.returncode == 2, result.stdout
    assert "raw Ollama server" in result.stdout
    assert fake_ngrok.events() == []
    # It asked Ollama the way anyone on the internet could: without a key.
    assert [r.authorization for r in fake_ollama.requests if r.path == "/api/tags"] == [None]


def test_refuses_without_ngrok_authtoken(
    gateway: ServerProcess, fake_ngrok: FakeNgrokAgent
) -> None:
    env = _env(fake_ngrok)
    del env["NGROK_AUTHTOKEN"]
    result = _run(["--url", gateway.url], env)
    assert result.returncode == 2, result.stdout
    assert "NGROK_AUTHTOKEN is not set" in result.stdout
    assert "dashboard.ngrok.com" in result.stdout
    assert fake_ngrok.events() == []


def test_says_to_start_the_gateway_when_nothing_answers(fake_ngrok: FakeNgrokAgent) -> None:
    result = _run(["--url", f"http://127.0.0.1:{free_port()}"], _env(fake_ngrok))
    assert result.returncode == 1, result.stdout
    assert "make run" in result.stdout and "liftoff up" in result.stdout
    assert fake_ngrok.events() == []


def test_default_target_is_the_gateway_port_from_the_settings(
    gateway: ServerProcess, fake_ngrok: FakeNgrokAgent
) -> None:
    env = _env(fake_ngrok, PORT=str(gateway.port))
    with _tunnel([], env, fake_ngrok.directory / "liftoff.log"):
        [body] = _posted(fake_ngrok)
    assert body["upstream"] == {"url": f"http://127.0.0.1:{gateway.port}"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--basic-auth", "demo:short"], "8-128"),
        (["--basic-auth", "no-colon-here"], "USER:PASSWORD"),
        ([f"--basic-auth=u{i}:password{i}" for i in range(11)], "at most 10"),
        (["--basic-auth", "demo:correct-horse", "--oauth", "google"], "not both"),
        (["--oauth-allow-email", "ana@example.com"], "need --oauth"),
        (["--oauth", "google", "--oauth-allow-email", "x' || true || '"], "not an email"),
        (["--oauth", "google", "--oauth-allow-domain", "acme.dev')"], "not a domain"),
        (["--domain", "not a domain"], "not a domain"),
        (["--url", "ftp://127.0.0.1:8000"], "http(s)://host:port"),
        (["--url", "http://127.0.0.1:8000/v1"], "without a path"),
    ],
)
def test_invalid_gate_options_are_refused_before_anything_starts(
    fake_ngrok: FakeNgrokAgent, args: list[str], message: str
) -> None:
    # In-process (typer's runner): the options are checked before any network or agent.
    result = CliRunner().invoke(app, ["tunnel", *args], env=_env(fake_ngrok))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert fake_ngrok.events() == []


def test_agent_dying_ends_the_command_with_an_error(
    gateway: ServerProcess, fake_ngrok: FakeNgrokAgent
) -> None:
    with _tunnel(
        ["--url", gateway.url], _env(fake_ngrok), fake_ngrok.directory / "liftoff.log"
    ) as tunnel:
        [pid] = fake_ngrok.started_pids()
        os.kill(pid, signal.SIGKILL)
        code = tunnel.process.wait(timeout=30)
    assert code == 1
    assert "the ngrok agent exited" in tunnel.output()


# --ui: the chat UI goes public only with its own password login on.

UI_LOGIN = "ana:correct-horse"


def _ui(tmp: Path, **extra: str) -> ServerProcess:
    from tests.ui.conftest import ui_env

    return ServerProcess(
        "liftoff.ui.main:app", ui_env(tmp, f"http://127.0.0.1:{free_port()}/v1", **extra)
    )


def test_ui_with_a_password_login_is_published_under_its_own_endpoint(
    fake_ngrok: FakeNgrokAgent, tmp_path: Path
) -> None:
    with _ui(tmp_path / "ui", LIFTOFF_UI_USERS=UI_LOGIN) as ui:
        env = _env(fake_ngrok, LIFTOFF_UI_USERS=UI_LOGIN)
        with _tunnel(["--ui", "--url", ui.url], env, fake_ngrok.directory / "ui.log") as tunnel:
            assert _posted(fake_ngrok) == [{"name": "liftoff-ui", "upstream": {"url": ui.url}}]
            output = tunnel.output()
    assert f"Tunnel open  {tunnel.public_url()}  ->  {ui.url}" in output
    assert f"Open {tunnel.public_url()} in a browser and log in." in output
    assert "Visitors need: a login of LIFTOFF_UI_USERS." in output
    assert "correct-horse" not in output and KEY not in output and TOKEN not in output


@pytest.mark.parametrize(
    ("login", "message"),
    [
        ({}, "asks for no login"),
        ({"LIFTOFF_UI_USERS": UI_LOGIN, "LIFTOFF_UI_AUTH_HEADER": "X-Forwarded-Email"},
         "accepts a header login"),
    ],
    ids=["no-login", "header-login"],
)  # fmt: skip
def test_ui_without_a_password_only_login_is_refused(
    fake_ngrok: FakeNgrokAgent, tmp_path: Path, login: dict[str, str], message: str
) -> None:
    with _ui(tmp_path / "ui", **login) as ui:
        result = _run(["--ui", "--url", ui.url], _env(fake_ngrok))
    assert result.returncode == 2, result.stdout
    assert message in result.stdout and "LIFTOFF_UI_USERS=" in result.stdout
    assert fake_ngrok.events() == []


def test_ui_flag_refuses_a_target_that_is_not_the_chat_ui(
    gateway: ServerProcess, fake_ngrok: FakeNgrokAgent
) -> None:
    result = _run(["--ui", "--url", gateway.url], _env(fake_ngrok))
    assert result.returncode == 2, result.stdout
    assert "does not answer like the Liftoff chat UI" in result.stdout
    assert fake_ngrok.events() == []
