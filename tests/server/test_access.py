"""The exposure rule every service shares: when keys are required, and what a service
without keys answers."""

from __future__ import annotations

import pytest

from liftoff.server.access import Exposure, is_loopback_name


@pytest.mark.parametrize("host", [
    "localhost", "LOCALHOST", "app.localhost", "localhost.", "127.0.0.1", "127.1.2.3", "::1",
    "[::1]",
])  # fmt: skip
def test_loopback_names(host: str) -> None:
    assert is_loopback_name(host)


@pytest.mark.parametrize("host", [
    "0.0.0.0", "::", "", "192.0.2.2", "evil.example", "localhost.evil.example",
    "127.0.0.1.nip.io", "::ffff:8.8.8.8", "169.254.169.254",
])  # fmt: skip
def test_everything_else_is_beyond_loopback(host: str) -> None:
    assert not is_loopback_name(host)


def _exposure(host: str, auth: str = "auto", has_keys: bool = False) -> Exposure:
    return Exposure(service="the demo", host=host, auth=auth, has_keys=has_keys,  # type: ignore[arg-type]
                    keys_variable="DEMO_API_KEYS", auth_variable="DEMO_AUTH")  # fmt: skip


def test_keys_are_required_beyond_loopback_or_when_configured() -> None:
    assert not _exposure("127.0.0.1").keys_required
    assert _exposure("127.0.0.1", has_keys=True).keys_required
    assert _exposure("0.0.0.0", has_keys=True).keys_required
    assert not _exposure("0.0.0.0", auth="off").keys_required
    assert _exposure("127.0.0.1", auth="on", has_keys=True).keys_required


def test_exposed_without_keys_is_a_problem_that_names_the_fix() -> None:
    problem = _exposure("0.0.0.0").problem()
    assert problem is not None
    assert "binds 0.0.0.0" in problem and "DEMO_API_KEYS" in problem and "DEMO_AUTH=off" in problem
    assert "DEMO_AUTH=on needs API keys" in (_exposure("::1", auth="on").problem() or "")
    assert _exposure("127.0.0.1").problem() is None
    assert _exposure("0.0.0.0", has_keys=True).problem() is None
