"""The web chat through its public API (gradio_client against the real server, in this process),
plus the pure rendering helpers and the ``serve`` command's options."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from alliance_qa.answer import DECLINE, Answer, Citation
from alliance_qa.assistant import Assistant
from alliance_qa.cli import main
from alliance_qa.config import MAX_QUESTION_CHARS
from alliance_qa.embed import SentenceTransformerEmbedder
from alliance_qa.errors import AllianceQAError
from fakeembed import NAME as FAKE_MODEL
from fakeembed import TESTS, HashEmbedder
from serverutil import (
    PROBE_QUESTION,
    XSS_IMG,
    XSS_SCRIPT,
    Server,
    copy_article,
    serving,
)

CITATION_MARK = re.compile(r"\[(\d+|intro)\]")


def cited_areas(reply: str) -> set[str]:
    """The citation marks in a reply: ``{"8", ...}``."""
    return set(CITATION_MARK.findall(reply))


def source_areas(sources: str) -> list[str]:
    """The area numbers of the source cards in the sources panel, in order."""
    return re.findall(r'<article class="aqa-source" data-area="([^"]+)"', sources)


def http_status(url: str) -> int:
    """The HTTP status of ``GET url`` (errors included)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# ---------------------------------------------------------------------------- the public API, real server



@pytest.mark.server
def test_ports_question_cites_area_8_and_returns_sources(chat_server: Server) -> None:
    reply, sources = chat_server.ask("Which ports matter for trade?")
    assert "8" in cited_areas(reply), f"no [8] citation in the reply: {reply!r}"
    assert source_areas(sources)[0] == "8", f"sources panel does not start with area 8: {sources[:300]!r}"
    assert "Access to Ports" in sources
    assert "<mark>" in sources, "the quoted sentences are not highlighted in the sources panel"
    assert re.search(r"score \d\.\d\d", sources)


@pytest.mark.server
def test_follow_up_is_answered_from_the_session_history(chat_server: Server) -> None:
    client = chat_server.client()  # one session: the server keeps its chat history
    first, _ = client.predict("Which ports matter for trade?", api_name="/chat")
    second, sources = client.predict("Why would that boost trade?", api_name="/chat")
    assert "8" in cited_areas(first)
    assert "8" in cited_areas(second), f"the follow-up did not resolve to area 8: {second!r}"
    assert "8" in source_areas(sources)


@pytest.mark.server
def test_off_topic_question_declines_without_citations(chat_server: Server) -> None:
    reply, sources = chat_server.ask("What is the capital of France?")
    assert reply.startswith(DECLINE), reply
    assert not cited_areas(reply), f"a decline must not cite: {reply!r}"
    assert source_areas(sources) == []
    assert "do not cover" in sources


@pytest.mark.server
def test_over_long_question_gets_the_friendly_message(chat_server: Server) -> None:
    question = "Which ports matter for trade? " * 50
    reply, sources = chat_server.ask(question)
    assert reply == (
        f"That question is {len(question.strip()):,} characters long; "
        f"please keep it under {MAX_QUESTION_CHARS:,} characters."
    )
    assert source_areas(sources) == []


@pytest.mark.server
def test_empty_question_gets_the_friendly_message(chat_server: Server) -> None:
    reply, _ = chat_server.ask("   ")
    assert reply.startswith("Please type a question about the documents"), reply


@pytest.mark.server
@pytest.mark.parametrize("payload", [XSS_IMG, XSS_SCRIPT, "<b>bold</b> [x](javascript:alert(1)) ports?"])
def test_markup_in_the_question_never_comes_back_raw(chat_server: Server, payload: str) -> None:
    reply, sources = chat_server.ask(payload)
    for raw in ("<img", "<script", "<b>", "javascript:"):
        assert raw not in reply.lower() and raw not in sources.lower(), (raw, reply, sources)
    assert chat_server.ask("Which ports matter for trade?")[0], "the server stopped answering"


@pytest.mark.server
def test_only_the_chat_endpoint_is_public(chat_server: Server) -> None:
    info = chat_server.client().view_api(print_info=False, return_format="dict")
    assert list(info["named_endpoints"]) == ["/chat"], info["named_endpoints"].keys()
    assert info["unnamed_endpoints"] == {}
    assert http_status(chat_server.url + "monitoring") in (403, 404)
    assert http_status(chat_server.url + "gradio_api/file=/etc/passwd") in (403, 404)


@pytest.mark.server
def test_corpus_markup_is_escaped_in_the_sources_panel(probe_server: Server) -> None:
    reply, sources = probe_server.ask(PROBE_QUESTION)
    # two documents: the mark may name the document ("[zz-probe.md 11]")
    assert re.fullmatch(r"(zz-probe\.md )?11", (source_areas(sources) or [""])[0]), f"probe not cited first: {reply!r}"
    assert "&lt;img src=x onerror=alert(1)&gt;" in sources
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in sources
    assert "<img" not in sources and "<script" not in sources and "<a " not in sources
    assert "<img" not in reply and "<script" not in reply


@pytest.mark.server
def test_a_rebuilt_index_is_served_without_restart(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    corpus = copy_article(tmp_path / "corpus")
    index = tmp_path / "index"
    Assistant(corpus, index, embedder=embedder).build()
    new_fact = "A new ferry line to the Zorvan harbour opened for grain shipments."
    question = "What opened at the Zorvan harbour for grain shipments?"
    with serving(Assistant(corpus, index, embedder=embedder)) as server:
        before, _ = server.ask(question)
        assert "Zorvan" not in before

        article = next(corpus.iterdir())
        text = article.read_text(encoding="utf-8")
        heading_9 = text.index("\n  9. ")
        article.write_text(text[:heading_9] + f"\n    {new_fact}\n" + text[heading_9:], encoding="utf-8")
        stale, _ = server.ask("Which ports matter for trade?")
        assert "alliance-qa build" in stale, f"no note that the corpus changed since the build: {stale!r}"

        report = Assistant(corpus, index, embedder=embedder).build()  # as `alliance-qa build` in another terminal
        assert report.sections_embedded == 1, report.summary()
        after, sources = server.ask(question)
        assert "Zorvan" in after and "8" in cited_areas(after), after
        assert "Zorvan" in sources
        assert "alliance-qa build" not in after, "the stale-corpus note stayed after the rebuild"
        assert server.alive()


@pytest.mark.server
def test_login_is_required_with_auth_and_the_password_is_never_logged(
    tmp_path: Path, fake_embedder: HashEmbedder
) -> None:
    corpus = copy_article(tmp_path / "corpus")
    qa = Assistant(corpus, tmp_path / "index", FAKE_MODEL, embedder=fake_embedder)  # the login, not retrieval
    qa.build()
    password = "Sekr1t:with-colon"
    with serving(qa, auth=("reader", password)) as server:
        assert http_status(server.url + "config") == 401
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises its own types
            server.client(auth=None).predict("Which ports matter for trade?", api_name="/chat")
        with pytest.raises(Exception):  # noqa: B017
            server.client(auth=("reader", "wrong")).predict("Which ports matter for trade?", api_name="/chat")
        reply, _ = server.client().predict("Which ports matter for trade?", api_name="/chat")
        assert "8" in cited_areas(reply)
        assert "login required" in server.log_text()
    assert password not in server.log_text()


def test_the_session_history_reaches_the_assistant() -> None:
    """The web layer passes the session's history on: a string per turn from the API."""
    from alliance_qa.assistant import message_text, previous_questions
    from alliance_qa.web import build_app
    from serverutil import HOST, free_port

    seen: list[list[str]] = []

    class Recorder:
        def ask(self, question: str, history: list[dict[str, Any]]) -> Answer:
            seen.append(previous_questions(history))
            return Answer(f"echo {len(history)}: {message_text(question)}")

    demo = build_app(Recorder())
    demo.queue()
    demo.launch(server_name=HOST, server_port=free_port(), prevent_thread_lock=True, quiet=True, share=False)
    try:
        from gradio_client import Client

        client = Client(f"http://{HOST}:{demo.server_port}/", verbose=False)
        assert client.predict("first?", api_name="/chat")[0] == "echo 0: first?"
        assert client.predict("second?", api_name="/chat")[0] == "echo 2: second?"
        assert seen == [[], ["first?"]]
    finally:
        demo.close()


# ---------------------------------------------------------------------------- the serve command, no server


def test_serve_defaults_to_loopback_and_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from alliance_qa import web

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        web, "serve", lambda qa, host, port, auth, announce, feedback_dir: calls.append((host, port, auth, feedback_dir))
    )
    unset: dict[str, str | None] = {
        "ALLIANCE_QA_HOST": None, "ALLIANCE_QA_PORT": None, "ALLIANCE_QA_AUTH": None, "ALLIANCE_QA_FEEDBACK_DIR": None,
    }  # fmt: skip
    result = CliRunner().invoke(main, ["serve"], env=unset)
    assert result.exit_code == 0, result.output
    assert calls[-1] == ("127.0.0.1", 7860, None, None)

    env = {"ALLIANCE_QA_HOST": "0.0.0.0", "ALLIANCE_QA_PORT": "8123", "ALLIANCE_QA_AUTH": "ann:pa:ss"}
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert calls[-1] == ("0.0.0.0", 8123, ("ann", "pa:ss"), None)
    assert "pa:ss" not in result.output

    result = CliRunner().invoke(main, ["serve", "--port", "9001", "--host", "127.0.0.2"], env=env)
    assert calls[-1][:2] == ("127.0.0.2", 9001)

    result = CliRunner().invoke(main, ["serve"], env={**unset, "ALLIANCE_QA_FEEDBACK_DIR": "/tmp/votes"})
    assert calls[-1][3] == "/tmp/votes"
    result = CliRunner().invoke(main, ["serve", "--feedback-dir", "/tmp/other"], env=unset)
    assert calls[-1][3] == "/tmp/other"


def test_a_malformed_auth_value_is_one_line_without_the_secret() -> None:
    result = CliRunner().invoke(main, ["serve", "--auth", "no-colon-secret"])
    assert result.exit_code == AllianceQAError.exit_code
    assert "user:password" in result.output and "no-colon-secret" not in result.output


def test_ask_does_not_import_gradio(tmp_path: Path, fake_embedder: HashEmbedder) -> None:
    """A child process on the fake embedder (no torch): the CLI's ``ask`` never imports gradio."""
    corpus = copy_article(tmp_path / "corpus")
    Assistant(corpus, tmp_path / "index", FAKE_MODEL, embedder=fake_embedder).build()
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import fakeembed\n"
        "fakeembed.install(fakeembed.HashEmbedder()); from alliance_qa.cli import main\n"
        f"args = ['--corpus', {str(corpus)!r}, '--index', {str(tmp_path / 'index')!r}, 'ask', '--json', 'ports?']\n"
        "try:\n    main(args)\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print('GRADIO-LOADED' if 'gradio' in sys.modules else 'NO-GRADIO', file=sys.stderr)\n"
    )
    env = {**os.environ, "ALLIANCE_QA_MODEL": FAKE_MODEL}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["citations"][0]["number"] == 8
    assert "NO-GRADIO" in done.stderr, done.stderr[-2000:]
    assert "GRADIO-LOADED" not in done.stderr


# ---------------------------------------------------------------------------- rendering helpers


def test_highlight_escapes_everything_and_marks_the_quotes() -> None:
    from alliance_qa.web import highlight

    text = "Intro <b>x</b> & more.  The <img src=x onerror=alert(1)> port\nmatters.\n\nSecond paragraph."
    out = highlight(text, ["The <img src=x onerror=alert(1)> port matters.", "not in the text"])
    assert "<b>" not in out and "<img" not in out
    assert "<mark>The &lt;img src=x onerror=alert(1)&gt; port\nmatters.</mark>" in out
    assert out.count("<mark>") == 1
    assert out.startswith("<p>Intro &lt;b&gt;x&lt;/b&gt; &amp; more.") and out.endswith("<p>Second paragraph.</p>")


def test_sources_panel_for_a_citation_and_for_a_decline() -> None:
    from alliance_qa.web import SOURCES_DECLINED, sources_html

    cite = Citation(8, 'Ports "<i>"', 0.61234, "Quote.", ("Quote.",), "doc-8", "Before. Quote. After.")
    panel = sources_html(Answer("text", (cite,), notice="edited <since>"))
    assert source_areas(panel) == ["8"]
    assert "Ports &quot;&lt;i&gt;&quot;" in panel and "score 0.61" in panel
    assert '<span class="aqa-mark">[8]</span>' in panel, "the card shows the same mark as the answer"
    assert "<mark>Quote.</mark>" in panel and "edited &lt;since&gt;" in panel
    assert sources_html(Answer("no", abstained=True)) == SOURCES_DECLINED


PORTS = Citation(8, "Access to Ports", 0.6, "Ports <b>matter</b>.", ("Ports <b>matter</b>.",), "doc-8",
                 "Intro. Ports <b>matter</b>. More.")  # fmt: skip
RIVAL = Citation(3, "Regional Influence", 0.5, "Influence.", ("Influence.",), "doc-3", "Influence. Text.")


def test_one_notation_marks_are_buttons_and_each_answer_carries_its_sources() -> None:
    from alliance_qa.answer import markdown_quote
    from alliance_qa.web_render import ChatReply, render

    text = (f"**{PORTS.label}**\n\n> {markdown_quote(PORTS.quote)} [8]\n\nSee also: {RIVAL.label}\n\n"
            "Literal \\[8\\] stays text.")  # fmt: skip
    reply, panel = render(Answer(text, (PORTS, RIVAL)))
    assert isinstance(reply, ChatReply)
    assert "Access to Ports [8]" in reply and "Regional Influence [3]" in reply, reply
    assert "(8)" not in reply and "(3)" not in reply, "one notation: [n] everywhere"
    assert "<b>" not in reply and "<" not in reply.replace("&lt;", ""), reply
    shown = reply.display
    assert shown.count('class="aqa-cite"') == 3, shown  # heading, quote, see-also
    assert "Literal \\[8\\] stays text." in shown
    inline = shown.split('<details class="aqa-inline" open>', 1)[1]
    assert inline.count('<article class="aqa-source"') == 2
    assert "<summary>Sources (2): [8] Access to Ports…</summary>" in inline
    assert "Ports &lt;b&gt;matter&lt;/b&gt;." in inline and "<b>" not in shown
    assert source_areas(panel) == ["8", "3"]


def test_suggested_questions_become_buttons_and_declines_have_no_sources_block() -> None:
    from alliance_qa.answer import decline
    from alliance_qa.web_render import render

    answer = decline([])
    reply, panel = render(answer)
    questions = [s for s in answer.suggestions if s.endswith("?")]
    assert questions, answer.suggestions
    for question in questions:
        assert f'<button type="button" class="aqa-ask">{question}</button>' in reply.display
        assert f"*{question}*" in reply, "the API reply keeps plain Markdown"
    assert "aqa-inline" not in reply.display and source_areas(panel) == []


@pytest.mark.parametrize(
    "typed", ["<b>bold</b> & <img src=x onerror=alert(1)>", "*not italic* _x_ [link](javascript:alert(1)) # h", "a\\b `c`"]
)
def test_a_question_is_shown_as_typed(typed: str) -> None:
    from alliance_qa.web_render import shown_question, typed_question

    shown = shown_question(typed)
    assert "<" not in shown and typed_question(shown) == typed
    assert not re.search(r"(?<!\\)[*_`\[\]#]", shown), shown


def test_feedback_is_off_by_default_and_appends_one_json_line_per_vote(tmp_path: Path) -> None:
    from alliance_qa.web_record import FEEDBACK_FILE, FeedbackLog, chat_markdown
    from alliance_qa.web_render import render, shown_question

    reply, _ = render(Answer(f"**{PORTS.label}**\n\n> Ports matter. [8]", (PORTS,)))
    history = [
        {"role": "user", "content": [{"type": "text", "text": shown_question("Which <ports> matter?")}]},
        {"role": "assistant", "content": [{"type": "text", "text": reply.display}]},
    ]
    assert FeedbackLog(None).record(True, 1, history) is None
    log = FeedbackLog(tmp_path / "votes")
    assert log.record(True, 1, history) is not None
    assert log.record(False, 1, history) is not None
    assert log.record(True, 0, history) is None, "only answers can be voted on"
    lines = [json.loads(x) for x in (tmp_path / "votes" / FEEDBACK_FILE).read_text(encoding="utf-8").splitlines()]
    assert [x["vote"] for x in lines] == ["up", "down"]
    assert lines[0]["question"] == "Which <ports> matter?"
    assert lines[0]["answer"] == "**Access to Ports [8]**\n\n> Ports matter. [8]", lines[0]["answer"]
    assert lines[0]["citations"] == [{"marker": "[8]", "title": "Access to Ports", "quotes": ["Ports <b>matter</b>."]}]

    markdown = chat_markdown(history, "My document")
    assert markdown.startswith("# My document\n")
    assert "## Which <ports> matter?" in markdown and "> Ports matter. [8]" in markdown
    assert "- [8] Access to Ports: “Ports <b>matter</b>.”" in markdown


def test_an_unwritable_feedback_folder_is_one_clear_error(tmp_path: Path) -> None:
    from alliance_qa.web_record import FeedbackLog

    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(AllianceQAError, match="--feedback-dir"):
        FeedbackLog(blocker / "votes")


def test_the_page_title_and_examples_come_from_the_corpus(shared_assistant: Assistant) -> None:
    from types import SimpleNamespace

    from alliance_qa.web import page_profile

    title, examples, word, documents = page_profile(shared_assistant)
    assert title == "10 Things North Korea and Russia Want from Each Other"
    assert examples and all(q.strip() and len(q) < 120 for q in examples) and word and documents == 1
    profile = SimpleNamespace(title="Handbook", examples=("How do I start?",), section_word="chapter", documents=(1, 2))
    assert page_profile(SimpleNamespace(profile=profile)) == ("Handbook", ("How do I start?",), "chapter", 2)


def test_web_modules_know_no_article() -> None:
    source = "".join(
        p.read_text(encoding="utf-8")
        for p in (Path(__file__).resolve().parents[1] / "src" / "alliance_qa").glob("**/*")
        if p.is_file() and (p.name.startswith("web") or p.parent.name == "static")
    )
    for name in ("North Korea", "Russia", "Pyongyang", "Moscow", "Kremlin", "Putin", "DPRK", "interest area", "ports"):
        assert not re.search(rf"\b{name}\b", source, re.IGNORECASE), name


def test_parse_auth() -> None:
    from alliance_qa.web import parse_auth

    assert parse_auth(None) is None and parse_auth("  ") is None
    assert parse_auth("ann:pa:ss") == ("ann", "pa:ss")
    for bad in ("ann", "ann:", ":pw"):
        with pytest.raises(AllianceQAError, match="user:password"):
            parse_auth(bad)


def test_a_shown_answer_stays_under_the_stored_message_limit() -> None:
    from alliance_qa.web_render import DISPLAY_BUDGET, render

    quote = "The key quote " + "goes on " * 80 + "and ends."
    long_text = "Filler sentence about nothing. " * 1000 + quote
    cites = tuple(Citation(n, f"Long {n}", 0.5, quote, (quote,), f"d-{n}", long_text) for n in range(1, 40))
    reply, panel = render(Answer("**Long 1 [1]**\n\n> The key quote. [1]", cites))
    assert len(reply.display) <= DISPLAY_BUDGET + 200, len(reply.display)
    assert f"<mark>{quote}</mark>" in reply.display and "Filler" not in reply.display
    assert "more sources are not shown" in reply.display
    assert reply.display.endswith("</details>")
    assert source_areas(panel) == [str(n) for n in range(1, 40)], "the API panel keeps every card"
