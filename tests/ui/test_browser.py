"""The chat UI in a real Chromium: a person types, reads streamed answers from the real
embedded model, switches model in the settings panel, and sees what went wrong when a
server is down. Screenshots are kept in build/test-artifacts/."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.ollama_server import FakeOllama
from tests.servers import ServerProcess
from tests.ui.chromium import chromium, screenshot, type_message
from tests.ui.conftest import ui_env

pytestmark = pytest.mark.model

GEMMA = "gemma-3-270m-q4_k_m"
LLAMA = "llama3.1:8b"  # the fake Ollama's model, behind the second gateway
ANSWERS = ".ai-message [role=article]"

# Every distinct text of the latest answer, recorded in the page as it changes.
RECORD_STREAM = f"""() => {{
  window.__texts = [];
  new MutationObserver(() => {{
    const answers = document.querySelectorAll({ANSWERS!r});
    const last = answers[answers.length - 1];
    const text = last ? last.textContent : "";
    if (text && window.__texts[window.__texts.length - 1] !== text) window.__texts.push(text);
  }}).observe(document.body, {{subtree: true, childList: true, characterData: true}});
}}"""


@pytest.fixture(scope="module")
def ui(
    gemma_gateway: ServerProcess,
    ollama_gateway: ServerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    env = ui_env(
        tmp_path_factory.mktemp("ui"),
        gemma_gateway.url + "/v1",
        LIFTOFF_UI_RETRIEVAL_URL=ollama_gateway.url + "/v1",
        LIFTOFF_UI_DEFAULT_MAX_TOKENS="24",
        LIFTOFF_UI_DEFAULT_TEMPERATURE="0",
    )
    with ServerProcess("liftoff.ui.main:app", env) as server:
        yield server


def ask(page: Page, text: str) -> str:
    """Type ``text``, wait for the answer to finish streaming, return its text."""
    before = page.locator(ANSWERS).count()
    type_message(page, text)
    expect(page.locator(ANSWERS)).to_have_count(before + 1, timeout=60_000)
    expect(page.locator("#stop-button")).to_have_count(0, timeout=60_000)
    return page.locator(ANSWERS).nth(before).inner_text()


def pick_model(page: Page, model: str) -> None:
    page.locator("#chat-settings-open-modal").click()
    page.locator("#model").click()
    page.get_by_role("option", name=model, exact=True).click()
    page.locator("#confirm").click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_chat_streams_the_real_model_switches_model_and_keeps_the_history(
    ui: ServerProcess, shared_fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(ui.url)
        expect(page.locator("#chat-input")).to_be_visible(timeout=30_000)
        page.evaluate(RECORD_STREAM)

        gemma_answer = ask(page, "The capital of France is")
        streamed = page.evaluate("window.__texts")
        # Streamed: the answer grew in several steps, each one extending the last.
        assert len(streamed) >= 3, streamed
        assert all(b.startswith(a) for a, b in itertools.pairwise(streamed))
        assert gemma_answer.strip() and streamed[-1] == gemma_answer

        # The picker lists both servers' models; pick the second one.
        page.locator("#chat-settings-open-modal").click()
        page.locator("#model").click()
        options = page.get_by_role("option").all_inner_texts()
        assert options == [GEMMA, LLAMA]
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Cancel").click()
        pick_model(page, LLAMA)

        llama_answer = ask(page, "one two three four")
        assert llama_answer.startswith("four three two one")  # the fake's reversed words
        # The history went with it: the first question and Gemma's answer, then the new one.
        sent = shared_fake_ollama.bodies("/api/chat")[-1]
        assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
        assert sent["messages"][0]["content"] == "The capital of France is"
        assert sent["messages"][1]["content"].strip() == gemma_answer.strip()
        assert sent["options"]["num_predict"] == 24 and sent["options"]["temperature"] == 0

        path = screenshot(page, "ui-chat.png")
        with capsys.disabled():
            print(f"\nscreenshot: {path}")
        assert path.stat().st_size > 10_000


def test_a_server_that_goes_down_shows_an_error_naming_it_and_the_chat_goes_on(
    ollama_gateway: ServerProcess, shared_fake_ollama: FakeOllama, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    gateway = ServerProcess(
        "liftoff.api.main:app",
        {
            "LIFTOFF_BACKEND": "ollama",
            "OLLAMA_HOST": shared_fake_ollama.url,
            "LIFTOFF_API_KEYS": "",
        },
    )
    env = ui_env(tmp_path / "ui", gateway.url + "/v1")
    with ServerProcess("liftoff.ui.main:app", env) as ui, chromium() as browser:
        page = browser.new_page()
        page.goto(ui.url)
        # The gateway is not running yet: the page says so when the chat opens.
        down = f"Cannot reach the gateway at {gateway.url}/v1: is it running?"
        expect(page.get_by_text(down)).to_be_visible(timeout=30_000)
        path = screenshot(page, "ui-gateway-down.png")
        with capsys.disabled():
            print(f"\nscreenshot: {path}")
        # Once it runs, the next message lists the models again and gets its answer.
        with gateway:
            assert ask(page, "alpha beta gamma").startswith("gamma beta alpha")
        # It stopped: the next message gets the error instead of an answer.
        type_message(page, "still there?")
        expect(page.get_by_text(down)).to_have_count(2, timeout=30_000)


def test_with_users_a_person_logs_in_by_typing_and_a_wrong_password_is_refused(
    tmp_path: Path,
) -> None:
    env = ui_env(tmp_path / "ui", "http://127.0.0.1:9/v1", LIFTOFF_UI_USERS="ana:correct-horse")
    with ServerProcess("liftoff.ui.main:app", env) as ui, chromium() as browser:
        page = browser.new_page()
        page.goto(ui.url)
        expect(page.locator("#password")).to_be_visible(timeout=30_000)
        expect(page.locator("#chat-input")).to_have_count(0)  # nothing to chat with yet

        def log_in(user: str, password: str) -> None:
            page.locator("#email").click()
            page.keyboard.press("Control+A")
            page.keyboard.type(user, delay=15)
            page.locator("#password").click()
            page.keyboard.press("Control+A")
            page.keyboard.type(password, delay=15)
            page.keyboard.press("Enter")

        log_in("ana", "battery-staple")
        expect(page.get_by_role("alert")).to_contain_text(
            "sign in", ignore_case=True, timeout=30_000
        )
        expect(page.locator("#chat-input")).to_have_count(0)
        log_in("ana", "correct-horse")
        expect(page.locator("#chat-input")).to_be_visible(timeout=30_000)
        # Logged in, the chat opens and reports the (absent) gateway.
        expect(page.get_by_text("Cannot reach the gateway at http://127.0.0.1:9/v1")).to_be_visible(
            timeout=30_000
        )
