"""The UI process over HTTP: health checks, the exposure rule, logins, the same-origin rule."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import REPO, ServerProcess, free_port
from tests.ui.conftest import ui_env

USERS = "ana:correct-horse,bo:battery-staple"
SECRET = "a-stable-cookie-signing-secret-for-the-test"
GATEWAY_KEY = "sk-gateway-key-that-must-stay-on-the-server"


@pytest.fixture(scope="module")
def open_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = ui_env(tmp_path_factory.mktemp("ui"), f"http://127.0.0.1:{free_port()}/v1",
                 LIFTOFF_UI_GATEWAY_API_KEY=GATEWAY_KEY)  # fmt: skip
    with ServerProcess("liftoff.ui.main:app", env) as server:
        yield server


@pytest.fixture(scope="module")
def login_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = ui_env(tmp_path_factory.mktemp("ui"), f"http://127.0.0.1:{free_port()}/v1",
                 LIFTOFF_UI_USERS=USERS, LIFTOFF_UI_AUTH_SECRET=SECRET)  # fmt: skip
    with ServerProcess("liftoff.ui.main:app", env) as server:
        yield server


def test_health_checks_answer_and_say_whether_a_login_is_required(
    open_ui: ServerProcess, login_ui: ServerProcess
) -> None:
    for path, status in (("/healthz", "ok"), ("/readyz", "ready")):
        answer = httpx.get(open_ui.url + path)
        assert answer.status_code == 200
        assert answer.json() == {"status": status, "service": "liftoff-ui", "login": "off"}
    assert httpx.get(login_ui.url + "/healthz").json()["login"] == "password"


def test_the_page_is_served_and_asks_no_login_on_loopback(open_ui: ServerProcess) -> None:
    page = httpx.get(open_ui.url + "/")
    assert page.status_code == 200 and "<title>Liftoff</title>" in page.text
    assert not httpx.get(open_ui.url + "/auth/config").json()["requireLogin"]


def test_with_users_the_page_requires_a_login_and_only_the_right_password_passes(
    login_ui: ServerProcess,
) -> None:
    config = httpx.get(login_ui.url + "/auth/config").json()
    assert config["requireLogin"] is True and config["passwordAuth"] is True
    assert httpx.get(login_ui.url + "/user").status_code == 401
    for user, password in (
        ("ana", "battery-staple"),
        ("ana", "correct-hors"),
        ("eve", "correct-horse"),
    ):
        refused = httpx.post(login_ui.url + "/login", data={"username": user, "password": password})
        assert refused.status_code == 401, (user, password)
        assert "set-cookie" not in refused.headers
    with httpx.Client(base_url=login_ui.url) as browser:
        accepted = browser.post("/login", data={"username": "bo", "password": "battery-staple"})
        assert accepted.status_code == 200
        assert browser.get("/user").json()["identifier"] == "bo"
    assert SECRET not in accepted.text and "battery-staple" not in accepted.text


def test_socket_requests_from_another_site_are_refused(open_ui: ServerProcess) -> None:
    handshake = open_ui.url + "/ws/socket.io/?EIO=4&transport=polling"
    own = httpx.get(handshake, headers={"Origin": open_ui.url})
    assert own.status_code == 200 and '"sid"' in own.text
    assert httpx.get(handshake).status_code == 200  # not a browser: no Origin
    other = httpx.get(handshake, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
    assert "cross-origin requests are refused" in other.json()["error"]


def test_exposed_without_a_login_the_ui_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, **ui_env(tmp_path, "http://127.0.0.1:9/v1"),
           "LIFTOFF_UI_HOST": "0.0.0.0", "LIFTOFF_UI_PORT": str(free_port())}  # fmt: skip
    started = subprocess.run(
        [sys.executable, "-m", "liftoff.ui"], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode != 0
    assert "the UI binds 0.0.0.0, beyond this machine, so it needs a login" in started.stderr


def test_the_browser_never_receives_the_gateway_key(open_ui: ServerProcess) -> None:
    for path in ("/", "/auth/config", "/project/settings?language=en-US", "/readyz"):
        answer = httpx.get(open_ui.url + path)
        assert answer.status_code == 200, path
        assert GATEWAY_KEY not in answer.text, path
    assert GATEWAY_KEY not in open_ui.output()


def test_repeated_failed_logins_are_throttled_even_for_the_right_password(
    login_ui: ServerProcess,
) -> None:
    """Ten failures a minute per address (this module's earlier test spent a few)."""
    refused = 0
    for _ in range(11):
        answer = httpx.post(
            login_ui.url + "/login", data={"username": "ana", "password": "guess-123"}
        )
        if answer.status_code == 429:
            break
        assert answer.status_code == 401
        refused += 1
    assert 1 <= refused <= 10 and answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 61
    right = httpx.post(
        login_ui.url + "/login", data={"username": "ana", "password": "correct-horse"}
    )
    assert right.status_code == 429 and "set-cookie" not in right.headers
