"""The web chat in a real headless Chromium (Debian's, driven by the pip package playwright).

Never ``playwright install``: ``make test`` installs Debian's chromium through
``scripts/ensure-chromium.sh``.  Without it these tests are skipped, and the skip
reason says so in pytest's summary.  Screenshots go to ``test-artifacts/`` (git-ignored).
Accessibility is checked with axe-core, vendored in ``tests/axe-core/`` (from the npm
package, with its licence): no critical or serious violation is allowed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alliance_qa.assistant import Assistant
from alliance_qa.config import MAX_QUESTION_CHARS
from alliance_qa.embed import SentenceTransformerEmbedder
from fakeembed import NAME as FAKE_MODEL
from fakeembed import HashEmbedder
from serverutil import PROBE_QUESTION, REPO, XSS_IMG, XSS_SCRIPT, Server, copy_article, serving

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
AXE = Path(__file__).with_name("axe-core") / "axe.min.js"
#: Milliseconds any one wait in the page may take (the server answers in well under a second).
WAIT_MS = 60_000
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
TITLE = "10 Things North Korea and Russia Want from Each Other"
PORTS = "Which ports matter for trade?"
OVERVIEW = "What is this article about?"
OFF_TOPIC = "What is the capital of France?"
#: JavaScript: the saved conversations as the browser keeps them (Gradio's ``_saved_conversations_*`` keys).
SAVED_JS = (
    "Object.keys(localStorage).filter(k => k.includes('_saved_conversations')).sort()"
    ".map(k => localStorage.getItem(k)).join('\\n')"
)


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


def axe_violations(page: Any) -> list[str]:
    """axe-core's critical and serious violations on the page as it is now: ``["rule: target", ...]``."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'critical' || v.impact === 'serious')
            .flatMap(v => v.nodes.map(n => `${v.id} (${v.impact}): ${n.target.join(' ')}`))"""
    )
    return [str(v) for v in found]


class ChatPage:
    """One browser tab (its own storage) on the chat, recording every JavaScript dialog that fires."""

    def __init__(self, browser: Any, server: Server, viewport: dict[str, int] | None = None,
                 query: str = "", **context: Any) -> None:  # fmt: skip
        # Reduced motion (the page's CSS honours it): Gradio's status tracker fades in over 0.1 s, and axe run
        # inside that fade measures its text at 1.16:1 against the background (at rest it is 15:1).
        context.setdefault("reduced_motion", "reduce")
        self.context = browser.new_context(viewport=viewport or DESKTOP, accept_downloads=True, **context)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.dialogs: list[str] = []
        self.page.on("dialog", self._on_dialog)
        self.url = server.url + query
        self.page.goto(self.url, wait_until="domcontentloaded")
        self.textbox = self.page.locator("#aqa-question textarea")
        self.textbox.wait_for(state="visible")
        self.replies = self.page.locator('#aqa-chat [data-testid="bot"]')
        self.questions = self.page.locator('#aqa-chat [data-testid="user"]')
        self.sources = self.page.locator("#aqa-sources")

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def wait_for_reply(self, count: int) -> str:
        """Wait for ``count`` replies, the box editable and focused again; the last reply's answer text."""
        from playwright.sync_api import expect

        expect(self.replies).to_have_count(count, timeout=WAIT_MS)
        expect(self.textbox).to_be_editable(timeout=WAIT_MS)
        expect(self.textbox).to_be_focused(timeout=WAIT_MS)
        return self.answer_text(self.replies.last)

    @staticmethod
    def answer_text(reply: Any) -> str:
        """A reply's text without its sources block."""
        return str(reply.evaluate(
            """m => Array.from((m.querySelector('.md') || m).childNodes)
                 .filter(n => !(n.nodeType === 1 && n.matches('details.aqa-inline')))
                 .map(n => n.textContent).join(' ').replace(/\\s+/g, ' ').trim()"""
        ))  # fmt: skip

    def saved(self) -> str:
        """What the browser keeps of the saved conversations now (Gradio's ``_saved_conversations_*`` key)."""
        return str(self.page.evaluate(f"() => {SAVED_JS}"))

    def send(self, question: str) -> str:
        """Type ``question``, press Enter, and return the reply once it is shown, the box back in focus and the
        conversation saved in the browser.

        Gradio saves the conversation in a last step after the box is enabled again; a reload, or a scroll the
        page must answer to, that lands before that step races it.
        """
        count = self.replies.count()
        before = self.saved()
        self.textbox.fill(question)
        self.textbox.press("Enter")
        reply = self.wait_for_reply(count + 1)
        self.page.wait_for_function(f"before => {SAVED_JS} !== before", arg=before, timeout=WAIT_MS)
        return reply

    def panel_marks(self) -> list[str]:
        """The marks (``[8]``) of the cards in the sources panel, in order."""
        return [str(m) for m in self.sources.locator("article.aqa-source .aqa-mark").all_inner_texts()]

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        """Save a screenshot under test-artifacts/."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self) -> None:
        """Close the tab and its storage."""
        self.context.close()


def wait_for_images(page: Any) -> None:
    """Wait until every image in the page has loaded or failed (so its onload/onerror has run)."""
    page.wait_for_function("Array.from(document.images).every(img => img.complete)", timeout=WAIT_MS)


@pytest.fixture
def chat(browser: Any, chat_server: Server) -> Iterator[ChatPage]:
    """A fresh tab (empty storage) at 1366x768 on the chat over the plain article."""
    tab = ChatPage(browser, chat_server)
    yield tab
    tab.close()


def test_ask_read_the_sources_decline_and_follow_a_suggestion(chat: ChatPage) -> None:
    from playwright.sync_api import expect

    page = chat.page
    assert TITLE in page.locator("#aqa-header").inner_text()
    assert TITLE in page.title()
    assert page.locator("#aqa-chat button.example").count() >= 3, "no example questions in the empty chat"
    assert axe_violations(page) == []
    chat.screenshot("chat-first-visit-1366x768.png")

    reply = chat.send(PORTS)
    assert "[8]" in reply, reply
    assert chat.panel_marks()[:1] == ["[8]"]
    assert "Access to Ports" in chat.sources.inner_text()
    assert chat.sources.locator("mark").count() >= 1, "the quoted sentences are not highlighted"
    assert "(8)" not in reply, f"one notation for citations: {reply!r}"

    reply = chat.send(OFF_TOPIC)
    assert reply.startswith("The documents don't cover that"), reply
    assert not re.search(r"\[(\d+|intro)\]", reply)
    assert chat.panel_marks() == []
    expect(chat.sources).to_contain_text("No sources")
    suggestion = chat.replies.last.locator("button.aqa-ask").first
    asked = suggestion.inner_text()
    suggestion.click()
    chat.wait_for_reply(3)
    expect(chat.questions.last).to_have_text(asked)
    assert chat.panel_marks(), "the suggested question was not answered from the documents"
    assert axe_violations(page) == []
    assert chat.dialogs == []


def test_an_example_in_the_empty_chat_asks_it(chat: ChatPage) -> None:
    example = chat.page.locator("#aqa-chat button.example").first
    asked = example.inner_text().strip()
    example.click()
    reply = chat.wait_for_reply(1)
    assert re.search(r"\[\d+\]", reply), reply
    assert chat.panel_marks(), f"no sources for the example {asked!r}"


def test_a_follow_up_from_the_browser_uses_the_history(chat: ChatPage) -> None:
    """From the browser, history ``content`` is a list of text parts, not a string."""
    assert "[8]" in chat.send(PORTS)
    reply = chat.send("Why would that boost trade?")
    assert "[8]" in reply, f"the follow-up did not resolve to area 8: {reply!r}"


def test_many_cards_stay_on_screen_and_each_answer_keeps_its_own(chat: ChatPage) -> None:
    from playwright.sync_api import expect

    page = chat.page
    chat.send(OVERVIEW)
    cards = chat.sources.locator("article.aqa-source")
    assert cards.count() >= 10, chat.panel_marks()
    right = page.evaluate("() => innerWidth")
    boxes = cards.evaluate_all("cs => cs.map(c => c.getBoundingClientRect()).map(r => [r.left, r.right])")
    assert all(left >= 0 and end <= right for left, end in boxes), f"a card is off screen: {boxes}"
    assert page.evaluate("() => { const p = document.getElementById('aqa-sources');"
                         " return p.scrollHeight > p.clientHeight && getComputedStyle(p).overflowY === 'auto'; }")
    cards.last.scroll_into_view_if_needed()
    expect(cards.last).to_be_in_viewport()

    chat.send(PORTS)
    assert chat.panel_marks() == ["[8]"], "the panel shows the latest answer's sources"
    chat.replies.last.hover()
    page.mouse.wheel(0, -5000)  # scrolling back up to the first answer shows its cards
    expect(cards).to_have_count(len(boxes))

    # a mark in the earlier answer brings back that answer's card for it, quote highlighted
    chat.replies.first.locator("button.aqa-cite", has_text="[8]").click()
    flashed = chat.sources.locator("article.aqa-flash")
    expect(flashed).to_have_count(1)
    expect(flashed.locator(".aqa-title")).to_have_text("Access to Ports")
    expect(flashed.locator("mark").first).to_be_in_viewport()
    assert cards.count() >= 10
    page.evaluate("() => window.scrollTo(0, 0)")
    expect(flashed.locator("mark").first).to_be_in_viewport()
    chat.screenshot("chat-citation-1366x768.png")

    chat.replies.last.locator("blockquote").first.click()
    expect(chat.sources.locator("article.aqa-source")).to_have_count(1)

    # Undo removes the last answer and its cards; the question goes back to the box as typed
    chat.page.locator("#aqa-chat").get_by_role("button", name="Undo").click()
    expect(chat.replies).to_have_count(1)
    expect(chat.textbox).to_have_value(PORTS)
    expect(cards).to_have_count(len(boxes))
    page.locator("#aqa-chat").get_by_role("button", name="Clear").click()
    expect(chat.replies).to_have_count(0)
    expect(cards).to_have_count(0)
    assert chat.dialogs == []


def test_the_conversation_survives_a_reload_with_new_chat_and_earlier_chats(chat: ChatPage) -> None:
    from playwright.sync_api import expect

    page = chat.page
    chat.send(PORTS)
    page.reload(wait_until="domcontentloaded")
    expect(chat.replies).to_have_count(1)
    expect(chat.questions.first).to_have_text(PORTS)
    expect(chat.sources.locator(".aqa-mark").first).to_have_text("[8]")
    assert "_saved_conversations" in page.evaluate("() => Object.keys(localStorage).join(' ')")

    page.locator("#aqa-new-chat").click()
    expect(chat.replies).to_have_count(0)
    chat.send(OFF_TOPIC)
    # the list is by position: wait until the new chat is saved at the top before picking the older one
    expect(page.locator("#aqa-history").get_by_text(OFF_TOPIC)).to_have_count(1)
    earlier = page.locator("#aqa-history").get_by_text(PORTS)
    expect(earlier).to_have_count(1)
    earlier.click()
    expect(chat.questions.first).to_have_text(PORTS)
    expect(chat.replies).to_have_count(1)


def test_phone_layout_sources_under_the_answer_one_scrolling_area(browser: Any, chat_server: Server) -> None:
    from playwright.sync_api import expect

    chat = ChatPage(browser, chat_server, PHONE, is_mobile=True, has_touch=True)
    try:
        page = chat.page
        chat.send(PORTS)
        block = chat.replies.last.locator("details.aqa-inline")
        first = block.locator("article.aqa-source").first
        expect(first).to_be_visible()
        expect(first.locator(".aqa-mark")).to_have_text("[8]")
        gap = page.evaluate(
            """() => { const m = [...document.querySelectorAll('#aqa-chat [data-testid="bot"]')].pop();
                 const q = m.querySelector('blockquote'); const c = m.querySelector('details.aqa-inline article');
                 return c.getBoundingClientRect().top - q.getBoundingClientRect().bottom; }"""
        )
        assert 0 <= gap < 120, f"the first source is {gap:.0f} px under the answer"
        chat.replies.last.locator("button.aqa-cite", has_text="[8]").first.click()
        expect(block.locator("article.aqa-flash")).to_have_count(1)
        chat.screenshot("chat-phone-390x844.png")

        chat.send(OVERVIEW)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], "sideways scrolling"
        scrollers = page.evaluate(
            """() => [...document.querySelectorAll('body *')].filter(e => e.tagName !== 'TEXTAREA'
                 && e.scrollHeight > e.clientHeight + 2 && /(auto|scroll)/.test(getComputedStyle(e).overflowY))
                 .map(e => e.tagName + '#' + e.id)"""
        )
        assert scrollers == [], f"scrolling areas inside the page: {scrollers}"
        expect(page.locator("#aqa-sources-col")).to_be_hidden()
        chat.screenshot("chat-phone-390x844-full.png", full_page=True)
        assert axe_violations(page) == []
    finally:
        chat.close()


@pytest.mark.parametrize("size", [DESKTOP, {"width": 1920, "height": 1080}], ids=["1366", "1920"])
def test_dark_theme_and_desktop_sizes_pass_axe(browser: Any, chat_server: Server, size: dict[str, int]) -> None:
    chat = ChatPage(browser, chat_server, size, query="?__theme=dark")
    try:
        assert chat.page.evaluate("() => document.body.classList.contains('dark')")
        assert axe_violations(chat.page) == []
        chat.send(OVERVIEW)
        chat.send(OFF_TOPIC)
        assert axe_violations(chat.page) == []
        moving = chat.page.evaluate(
            """() => [...document.querySelectorAll('[data-testid="status-tracker"]')]
                 .filter(e => getComputedStyle(e).transitionDuration !== '0s').length"""
        )
        assert moving == 0, "the status tracker still fades in although the reader asked for reduced motion"
        chat.replies.first.locator("button.aqa-cite").nth(1).click()
        chat.screenshot(f"chat-dark-{size['width']}x{size['height']}.png")
    finally:
        chat.close()


def test_light_screenshot_at_1920(browser: Any, chat_server: Server) -> None:
    chat = ChatPage(browser, chat_server, {"width": 1920, "height": 1080})
    try:
        chat.send(PORTS)
        chat.send("Does Pyongyang want help with its space program?")
        assert len(chat.panel_marks()) >= 1
        chat.screenshot("chat-1920x1080.png")
    finally:
        chat.close()


def test_a_question_shows_as_typed_and_the_box_holds_at_most_the_limit(chat: ChatPage) -> None:
    from playwright.sync_api import expect

    typed = "<b>bold</b> *star* <img src=x onerror=alert(1)> ports?"
    chat.send(typed)
    expect(chat.questions.last).to_have_text(typed)
    assert chat.questions.last.locator("b, img, em").count() == 0

    assert chat.page.locator("#aqa-live").inner_text().startswith("Answer: "), "replies are announced as text"
    assert chat.textbox.evaluate("t => getComputedStyle(t).outlineWidth") == "3px", "no visible focus ring"
    small = chat.page.locator("button:visible").evaluate_all(
        "bs => bs.map(b => [b.getAttribute('aria-label') || b.textContent.trim(), b.getBoundingClientRect()])"
        ".filter(([, r]) => r.width < 24 || r.height < 24).map(([n, r]) => `${n} ${r.width}x${r.height}`)"
    )
    assert small == [], f"targets under 24x24 px: {small}"

    assert chat.textbox.get_attribute("maxlength") == str(MAX_QUESTION_CHARS)
    chat.textbox.fill("x" * (MAX_QUESTION_CHARS - 3))
    chat.textbox.press_sequentially("abcdef")
    expect(chat.textbox).to_have_value("x" * (MAX_QUESTION_CHARS - 3) + "abc")
    counter = chat.page.locator("#aqa-counter")
    expect(counter).to_contain_text(f"{MAX_QUESTION_CHARS:,} / {MAX_QUESTION_CHARS:,}")
    expect(counter).to_contain_text(f"at most {MAX_QUESTION_CHARS:,} characters")
    assert chat.dialogs == []


def test_copy_gives_the_shown_text_and_sources_not_html(browser: Any, chat_server: Server) -> None:
    chat = ChatPage(browser, chat_server, permissions=["clipboard-read", "clipboard-write"])
    try:
        typed = "Which <b>ports</b> matter for trade?"
        chat.send(typed)
        chat.page.locator("#aqa-chat").get_by_role("button", name="Copy conversation").click()
        chat.page.wait_for_function("() => document.getElementById('aqa-live').textContent === 'Copied.'")
        copied = str(chat.page.evaluate("() => navigator.clipboard.readText()"))
        assert copied.startswith(f"Q: {typed}\n\nAccess to Ports [8]\n"), copied
        assert "\n\nSources:\n- [8] Access to Ports: “" in copied and "<button" not in copied, copied
    finally:
        chat.close()


@pytest.fixture(scope="module")
def feedback_server(
    tmp_path_factory: pytest.TempPathFactory, shared_assistant: Assistant, embedder: SentenceTransformerEmbedder
) -> Iterator[tuple[Server, Path]]:
    """A chat server (in this process, over the shared article index) whose operator turned feedback on:
    ``(server, feedback folder)``."""
    votes = tmp_path_factory.mktemp("feedback-server") / "votes"
    settings = shared_assistant.settings
    with serving(Assistant(settings.corpus_dir, settings.index_dir, embedder=embedder), feedback_dir=votes) as server:
        yield server, votes


def test_votes_are_recorded_when_enabled_and_the_chat_downloads(
    browser: Any, feedback_server: tuple[Server, Path]
) -> None:
    from playwright.sync_api import expect

    server, votes = feedback_server
    chat = ChatPage(browser, server)
    try:
        chat.send(PORTS)
        chat.page.locator("#aqa-chat").get_by_role("button", name="Like", exact=True).last.click()
        expect(chat.page.locator("#aqa-status")).to_contain_text("saved")
        records = [json.loads(line) for line in (votes / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(records) == 1 and records[0]["vote"] == "up" and records[0]["question"] == PORTS
        assert "[8]" in records[0]["answer"] and records[0]["citations"][0]["marker"] == "[8]"
        assert records[0]["citations"][0]["quotes"], records[0]

        with chat.page.expect_download() as download:
            chat.page.locator("#aqa-download").click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert text.startswith(f"# {TITLE}") and f"## {PORTS}" in text
        assert "- [8] Access to Ports: “" in text, text
    finally:
        chat.close()


def test_without_a_feedback_folder_the_thumbs_say_nothing_is_recorded(chat: ChatPage) -> None:
    from playwright.sync_api import expect

    chat.send(PORTS)
    chat.page.locator("#aqa-chat").get_by_role("button", name="Dislike").last.click()
    expect(chat.page.locator("#aqa-status")).to_contain_text("does not record")


def test_the_login_page_is_accessible_and_keeps_the_user_name(
    browser: Any, tmp_path: Path, fake_embedder: HashEmbedder
) -> None:
    from playwright.sync_api import expect

    corpus = copy_article(tmp_path / "corpus")
    qa = Assistant(corpus, tmp_path / "index", FAKE_MODEL, embedder=fake_embedder)  # the login page, not retrieval
    qa.build()
    with serving(qa, auth=("reader", "s3cret")) as server:
        context = browser.new_context(viewport=DESKTOP)
        try:
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(server.url, wait_until="domcontentloaded")
            name = page.locator('input[data-testid="textbox"]')
            expect(name).to_be_focused()
            expect(page.locator('h1, [role="heading"][aria-level="1"]')).to_have_count(1)
            expect(page.get_by_role("main")).to_have_count(1)
            assert TITLE in page.title()
            assert axe_violations(page) == []
            name.fill("reader")
            page.locator('input[type="password"]').fill("wrong")
            page.get_by_role("button", name="Login").click()
            expect(page.get_by_text(re.compile("incorrect", re.IGNORECASE))).to_be_visible()
            expect(name).to_have_value("reader")
            page.locator('input[type="password"]').fill("s3cret")
            page.get_by_role("button", name="Login").click()
            page.locator("#aqa-question textarea").wait_for()
            expect(page.locator("#aqa-logout")).to_be_visible()
            assert axe_violations(page) == []
        finally:
            context.close()


def test_no_script_runs_from_a_question_or_the_corpus(browser: Any, probe_server: Server) -> None:
    chat = ChatPage(browser, probe_server)
    try:
        chat.send(XSS_IMG)
        chat.send(XSS_SCRIPT)
        reply = chat.send(PROBE_QUESTION)
        probe_mark = re.compile(r"\[(zz-probe\.md )?11\]")  # two documents: the mark may name the document
        assert probe_mark.search(reply), f"the probe section was not cited: {reply!r}"
        assert probe_mark.fullmatch((chat.panel_marks() or [""])[0]), chat.panel_marks()
        shown = chat.sources.inner_text()
        assert XSS_IMG in shown and XSS_SCRIPT in shown, "corpus markup should show as text, escaped"
        assert "${alert(3)}" in shown, "template syntax in corpus text was evaluated"
        assert XSS_IMG in reply, "the reply should show the title's markup as text"
        assert chat.questions.first.inner_text() == XSS_IMG, "the question should show as typed"
        wait_for_images(chat.page)  # a broken <img> has fired any onerror once it is complete
        page = chat.page
        assert page.locator("img[onerror]").count() == 0
        assert page.locator("#aqa-chat script, #aqa-sources script").count() == 0
        assert page.locator('#aqa-sources a, #aqa-chat a[href^="javascript"]').count() == 0
        chat.screenshot("chat-xss-probe.png")
        assert chat.dialogs == [], f"script ran in the page: {chat.dialogs}"
    finally:
        chat.close()


@contextlib.contextmanager
def stub_page(browser: Any, assistant: Any) -> Iterator[Any]:
    """A page on the real app (in this process) over a stand-in ``assistant`` (``profile`` and ``ask``)."""
    from alliance_qa.web import STATIC, THEME, build_app, page_head
    from serverutil import HOST, free_port

    demo = build_app(assistant)
    demo.queue()
    demo.launch(server_name=HOST, server_port=free_port(), prevent_thread_lock=True, quiet=True, share=False,
                css_paths=[STATIC / "web.css"], head=page_head(), theme=THEME)  # fmt: skip
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"http://{HOST}:{demo.server_port}/", wait_until="domcontentloaded")
        yield page
    finally:
        context.close()
        demo.close()


def test_the_page_comes_from_the_corpus_profile_and_more_questions_send(browser: Any) -> None:
    """A served profile names the page and gives its examples: the first four start the chat, the rest sit
    under it, and clicking one asks it (an in-process app over a stand-in assistant)."""
    from types import SimpleNamespace

    from playwright.sync_api import expect

    from alliance_qa.answer import Answer

    examples = tuple(f"How does step {n} work?" for n in range(1, 7))
    asked: list[str] = []

    class Stub:
        profile = SimpleNamespace(title="Workshop <Handbook>", examples=examples, section_word="chapter", documents=(1,))

        def ask(self, question: str, history: list[Any]) -> Answer:
            asked.append(question)
            return Answer(f"You asked: {question}")

    with stub_page(browser, Stub()) as page:
        expect(page.locator("#aqa-header h1")).to_have_text("Workshop <Handbook>")
        assert "Workshop <Handbook>" in page.title() and "chapter" in page.locator("#aqa-header").inner_text()
        expect(page.locator("#aqa-chat button.example")).to_have_count(4)
        more = page.locator("#aqa-more button.aqa-ask")
        expect(more).to_have_text(list(examples[4:]))
        more.last.click()
        expect(page.locator('#aqa-chat [data-testid="bot"]')).to_have_text(f"You asked: {examples[-1]}")
        assert asked == [examples[-1]]
        expect(page.locator("#aqa-question textarea")).to_be_focused()
        assert axe_violations(page) == []


def test_a_source_card_keeps_a_long_mark_s_title_readable_and_a_code_quote_s_lines(browser: Any) -> None:
    """With several documents a mark names its document ("[quickstart.md Sending JSON Encoded Data]"): the card's
    title wraps below it instead of being squeezed to a letter a line; a quoted code block keeps its lines."""
    from types import SimpleNamespace

    from playwright.sync_api import expect

    from alliance_qa.answer import Answer
    from alliance_qa.render import area
    from alliance_qa.types import Citation

    code = "```\n>>> r = httpx.post(url, json=data)\n>>> r.status_code\n200\n```"
    cite = Citation(number=None, title="Sending JSON Encoded Data", score=1.2, quote=code, quotes=(code,),
                    section_id="quickstart.md#sending-json-encoded-data", section_text=f"Use json=.\n\n{code}",
                    document="quickstart.md", document_title="QuickStart", scope="quickstart.md")

    class Stub:
        profile = SimpleNamespace(title="Docs", examples=("How do I post JSON?",), section_word="section", documents=(1, 2))

        def ask(self, question: str, history: list[Any]) -> Answer:
            return Answer(area(cite, []), (cite,))  # as the product writes it

    with stub_page(browser, Stub()) as page:
        box = page.locator("#aqa-question textarea")
        box.fill("How do I post JSON?")
        box.press("Enter")
        title = page.locator("#aqa-sources article.aqa-source .aqa-title").first
        expect(title).to_have_text("Sending JSON Encoded Data")
        size = title.bounding_box()
        assert size is not None and size["width"] > 150 and size["height"] < 60, size
        quoted = page.locator("#aqa-sources article.aqa-source mark").first
        size = quoted.bounding_box()
        assert size is not None and size["height"] > 3 * 18, f"the code quote's lines were run together: {size}"
