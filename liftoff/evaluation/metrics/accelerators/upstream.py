"""What an accelerator mirrors, and the switch that decides whether it may run."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
from collections.abc import Iterator
from dataclasses import dataclass

_forced_off = False


@dataclass(frozen=True)
class Upstream:
    """The exact library release an accelerator mirrors, and what of it."""

    distribution: str
    version: str
    mirrors: str

    def active(self) -> bool:
        """Whether the accelerator may run: the installed version is exactly ``version``
        (and :func:`disabled` is not in force)."""
        return not _forced_off and installed_version(self.distribution) == self.version


@functools.cache
def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, ``None`` when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Score through the libraries' public API only, as if every installed version differed
    from the mirrored ones (for tests, and for auditing a number). Worker processes forked
    inside the block inherit it."""
    global _forced_off
    previous, _forced_off = _forced_off, True
    try:
        yield
    finally:
        _forced_off = previous
