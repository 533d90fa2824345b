"""The web chat in a real headless Chromium (Debian's, driven by the pip package playwright).

Never ``playwright install``: ``make test`` installs Debian's chromium through
``scripts/ensure-chromium.sh``.  Without it these tests are skipped, and the skip
reason says so in pytest's summary.  Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serverutil import PROBE_QUESTION, REPO, XSS_IMG, XSS_SCRIPT, ServerProcess

CHROMIUM = Path(os.environ.get("ALLIANCE_QA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts"
#: Milliseconds any one wait in the page may take (the server answers in well under a second).
WAIT_MS = 60_000


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return (
            f"BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}. Install Debian's with "
            "`sudo bash scripts/ensure-chromium.sh` (apt-get install chromium), or set ALLIANCE_QA_CHROMIUM"
        )
    if importlib.util.find_spec("playwright") is None:
        return "BROWSER TESTS SKIPPED: the pip package playwright is missing: pip install -r requirements-dev.lock"
    return None


SKIP_REASON = _skip_reason()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.server,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, launched once for this module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class ChatPage:
    """One browser tab on the chat, recording every JavaScript dialog (alert/confirm/prompt) that fires."""

    def __init__(self, browser: Any, server: ServerProcess) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.set_default_timeout(WAIT_MS)
        self.dialogs: list[str] = []
        self.page.on("dialog", self._on_dialog)
        self.page.goto(server.url, wait_until="domcontentloaded")
        self.textbox = self.page.locator("#aqa-question textarea")
        self.textbox.wait_for(state="visible")
        self.replies = self.page.locator('#aqa-chat [data-testid="bot"]')
        self.sources = self.page.locator("#aqa-sources")

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def wait_for_reply(self, count: int) -> str:
        """Wait until there are ``count`` replies and the textbox is editable again; the last reply's text."""
        from playwright.sync_api import expect

        expect(self.replies).to_have_count(count, timeout=WAIT_MS)
        expect(self.textbox).to_be_editable(timeout=WAIT_MS)
        return str(self.replies.last.inner_text())

    def expect_question(self, question: str) -> None:
        """Wait until the textbox holds ``question`` (clicking an example fills it)."""
        from playwright.sync_api import expect

        expect(self.textbox).to_have_value(question, timeout=WAIT_MS)

    def send(self, question: str) -> str:
        """Type ``question``, press Enter, and return the reply once the textbox is editable again."""
        count = self.replies.count()
        self.textbox.fill(question)
        self.textbox.press("Enter")
        return self.wait_for_reply(count + 1)

    def source_areas(self) -> list[str]:
        """The area numbers of the cards in the sources panel."""
        return [str(a) for a in self.sources.locator("article.aqa-source").evaluate_all(
            "cards => cards.map(c => c.dataset.area)"
        )]  # fmt: skip

    def screenshot(self, name: str) -> Path:
        """Save a full-page screenshot under test-artifacts/."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        """Close the tab."""
        self.page.close()


@pytest.fixture
def chat(browser: Any, chat_server: ServerProcess) -> Iterator[ChatPage]:
    """A fresh tab on the chat over the plain article."""
    tab = ChatPage(browser, chat_server)
    yield tab
    tab.close()


def test_ask_read_the_sources_and_use_an_example(chat: ChatPage) -> None:
    page = chat.page
    assert "10 Things North Korea and Russia Want from Each Other" in page.locator("#aqa-header").inner_text()
    assert page.locator("#aqa-chat button.example").count() >= 3, "no example questions in the empty chat"
    chat.screenshot("chat-first-visit.png")

    # 1-2. type a question, press Enter, read the reply and the sources panel
    reply = chat.send("Which ports matter for trade?")
    assert "[8]" in reply, reply
    assert chat.source_areas()[:1] == ["8"]
    assert "Access to Ports" in chat.sources.inner_text()
    assert chat.sources.locator("mark").count() >= 1, "the quoted sentences are not highlighted"
    chat.screenshot("chat-answer.png")

    # 3. click an example: it fills the textbox; Enter asks it
    page.locator("#aqa-examples button", has_text="What role does China play?").click()
    chat.expect_question("What role does China play?")
    chat.textbox.press("Enter")
    reply = chat.wait_for_reply(2)
    assert "[7]" in reply, reply
    assert chat.source_areas()[:1] == ["7"]

    # a decline: no citation, no source cards
    reply = chat.send("What is the capital of France?")
    assert reply.startswith("The article doesn't cover that"), reply
    assert not re.search(r"\[(\d+|intro)\]", reply)
    assert chat.source_areas() == []
    assert "does not cover" in chat.sources.inner_text()
    chat.screenshot("chat-decline.png")
    assert chat.dialogs == []


def test_an_example_in_the_empty_chat_asks_it(chat: ChatPage) -> None:
    chat.page.locator("#aqa-chat button.example", has_text="What about denuclearization talks?").click()
    reply = chat.wait_for_reply(1)
    assert "[10]" in reply, reply
    assert chat.source_areas()[:1] == ["10"]


def test_a_follow_up_from_the_browser_uses_the_history(chat: ChatPage) -> None:
    """From the browser, history ``content`` is a list of text parts, not a string."""
    assert "[8]" in chat.send("Which ports matter for trade?")
    chat.page.locator("#aqa-examples button", has_text="Why would that boost trade?").click()
    chat.expect_question("Why would that boost trade?")
    chat.textbox.press("Enter")
    reply = chat.wait_for_reply(2)
    assert "[8]" in reply, f"the follow-up did not resolve to area 8: {reply!r}"


def test_no_script_runs_from_a_question_or_the_corpus(browser: Any, probe_server: ServerProcess) -> None:
    chat = ChatPage(browser, probe_server)
    try:
        chat.send(XSS_IMG)
        chat.send(XSS_SCRIPT)
        reply = chat.send(PROBE_QUESTION)
        assert "[11]" in reply, f"the probe section was not cited: {reply!r}"
        assert chat.source_areas()[:1] == ["11"]
        shown = chat.sources.inner_text()
        assert XSS_IMG in shown and XSS_SCRIPT in shown, "corpus markup should show as text, escaped"
        assert "${alert(3)}" in shown, "template syntax in corpus text was evaluated"
        assert XSS_IMG in reply, "the reply should show the title's markup as text"
        chat.page.wait_for_timeout(500)  # give a broken <img> time to fire onerror
        page = chat.page
        assert page.locator("img[onerror]").count() == 0
        assert page.locator("#aqa-chat script, #aqa-sources script").count() == 0
        assert page.locator('#aqa-sources a, #aqa-chat a[href^="javascript"]').count() == 0
        chat.screenshot("chat-xss-probe.png")
        assert chat.dialogs == [], f"script ran in the page: {chat.dialogs}"
    finally:
        chat.close()
