"""Both ways of scoring: with the accelerators, and through the libraries' public API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from liftoff.evaluation.metrics import accelerators

PATHS = ["accelerated", "library"]


def enter(path: str) -> Iterator[str]:
    """Score on ``path`` for the duration of a fixture."""
    if path == "library":
        with accelerators.disabled():
            yield path
        return
    inactive = [u for u in accelerators.UPSTREAMS if not u.active()]
    if inactive:
        pytest.fail(
            "installed versions differ from the accelerators' pins, so the accelerated path "
            f"cannot be tested: {inactive} (re-verify the mirrors, then move the pins)"
        )
    yield path


@pytest.fixture(params=PATHS)
def scoring_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test once with the accelerators and once with the public API only."""
    yield from enter(request.param)
