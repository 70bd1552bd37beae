"""A Chromium page driven by Playwright, the way a person uses the chat: real keystrokes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.servers import REPO
from tests.ui.browser import LAUNCH_ARGS, BrowserUnavailable, ensure_chromium

ARTIFACTS = REPO / "build" / "test-artifacts"


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    try:
        executable = ensure_chromium(install=False)
    except BrowserUnavailable as exc:
        # `make test` installs it (python -m tests.ui.browser); never skip silently.
        pytest.fail(str(exc))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(LAUNCH_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def type_message(page: Page, text: str) -> None:
    """Click the message box and type ``text`` key by key, then Enter (Chainlit ignores
    ``fill()``)."""
    page.locator("#chat-input").click()
    page.keyboard.type(text, delay=15)
    page.keyboard.press("Enter")


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
