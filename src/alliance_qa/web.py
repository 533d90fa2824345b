"""The web chat: a Gradio ``ChatInterface`` with a sources panel, served on loopback by default.

Only :func:`serve` (and the ``alliance-qa serve`` command) import this module, so
``ask``, ``search`` and ``build`` never pay for ``import gradio``.

* ``/chat`` is the one public endpoint: ``Client(url).predict(question, api_name="/chat")``
  returns ``(answer_markdown, sources_html)``.  Gradio's internal events stay callable
  by the page but are left out of the API docs; monitoring, MCP, run history and
  share links are off.
* Everything shown that is not our own Markdown is HTML-escaped here: the sources
  panel is built from escaped corpus text, with ``<mark>`` added around the quoted
  sentences only after escaping.  The chat itself renders Markdown with Gradio's
  sanitizer on, and answer quotes are Markdown-escaped by :mod:`alliance_qa.answer`.
* The server warms up (model, index, building it if missing or stale) before it
  listens, then switches the assistant to ``auto_build=False``: a newer build on
  disk is swapped in before the next question, and a corpus edited but not
  rebuilt is served from the last build with a visible note, never rebuilt
  inside a request.
"""

from __future__ import annotations

import html
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from .answer import Answer, Citation
from .assistant import Assistant
from .errors import AllianceQAError

log = logging.getLogger(__name__)

ARTICLE_TITLE = "10 Things North Korea and Russia Want from Each Other"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Questions answered at the same time (the work is CPU-bound; this machine class has 2 cores).
CONCURRENCY_LIMIT = 2
#: Events waiting in the queue before new ones are turned away with "queue full".
QUEUE_MAX_SIZE = 512

HEADER = (
    f"Ask anything about the article **“{ARTICLE_TITLE}”**: every answer quotes the article "
    "and cites the interest area (1–10) each quote comes from."
)

#: Shown in the empty chat; clicking one asks it.
STARTER_EXAMPLES = [
    "What does North Korea want from Russia in energy?",
    "How do they cooperate militarily?",
    "What technology could Russia share?",
    "What about denuclearization talks?",
]

#: Shown under the chat at all times; clicking one puts it in the textbox.  The first two are a
#: follow-up pair ("that" refers to the ports); the last shows how the chat declines.
EXAMPLES = [
    ("Which ports matter for trade?", "Which ports matter for trade?"),
    ("Why would that boost trade?", "↳ then: Why would that boost trade?"),
    ("What role does China play?", "What role does China play?"),
    ("What diplomatic support do they give each other?", "What diplomatic support do they give each other?"),
    ("What is the capital of France?", "Off-topic: What is the capital of France?"),
]

SOURCES_EMPTY = (
    '<p class="aqa-hint">The sections an answer quotes appear here, with the quoted sentences highlighted.</p>'
)
SOURCES_DECLINED = '<p class="aqa-hint">No sources: the article does not cover this question.</p>'
SOURCES_NONE = '<p class="aqa-hint">No sources for this reply.</p>'

SERVER_ERROR = "Sorry, something went wrong while answering. Please try again; the server log has the details."

CSS = """
#aqa-header { text-align: center; max-width: 52rem; margin: 0 auto; }
#aqa-header h1 { margin-bottom: .25rem; font-weight: 700; }
#aqa-header p { font-size: 1.05rem; color: var(--body-text-color); }
#aqa-sources-col { max-height: 80vh; overflow-y: auto; }
.aqa-source { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: .75rem 1rem;
  margin-bottom: .75rem; background: var(--background-fill-secondary); }
.aqa-source header { display: flex; align-items: baseline; gap: .5rem; margin-bottom: .4rem; }
.aqa-num { background: var(--color-accent); color: white; border-radius: 999px; min-width: 1.7rem;
  padding: 0 .45rem; text-align: center; font-weight: 700; font-size: .9rem; }
.aqa-title { font-weight: 700; flex: 1; }
.aqa-score { color: var(--body-text-color-subdued); font-size: .85rem; white-space: nowrap; }
.aqa-source p { margin: .3rem 0; line-height: 1.5; }
.aqa-source mark { background: #fde68a; color: #1f2937; padding: 0 .1rem; border-radius: 3px; }
.aqa-hint { color: var(--body-text-color-subdued); font-style: italic; border: 1px dashed var(--border-color-primary);
  border-radius: 10px; padding: .75rem 1rem; }
.aqa-notice { border-left: 4px solid #f59e0b; padding: .4rem .75rem; margin-bottom: .75rem;
  background: rgba(245, 158, 11, .1); }
"""


#: Gradio's Soft theme with the bundled IBM Plex Sans (no font is fetched from the network).
THEME = gr.themes.Soft(
    primary_hue="indigo",
    font=[gr.themes.LocalFont("IBM Plex Sans", weights=(400, 600, 700)), "ui-sans-serif", "system-ui", "sans-serif"],
)


# ---------------------------------------------------------------------------- rendering


def _quote_spans(text: str, quotes: Sequence[str]) -> list[tuple[int, int]]:
    """Where each quote occurs in ``text`` (whitespace-tolerant), merged and sorted."""
    spans: list[tuple[int, int]] = []
    for quote in quotes:
        words = quote.split()
        if not words:
            continue
        match = re.search(r"\s+".join(re.escape(w) for w in words), text)
        if match:
            spans.append(match.span())
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, quotes: Sequence[str]) -> str:
    """``text`` as HTML paragraphs with ``quotes`` in ``<mark>``; everything from ``text`` is escaped."""
    spans = _quote_spans(text, quotes)
    pieces: list[str] = []
    pos = 0
    for start, end in spans:
        pieces.append(html.escape(text[pos:start]))
        pieces.append("<mark>" + html.escape(text[start:end]) + "</mark>")
        pos = end
    pieces.append(html.escape(text[pos:]))
    marked = "".join(pieces)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", marked) if p.strip()]
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def source_card(citation: Citation) -> str:
    """One cited section as an HTML card: number, title, score and highlighted full text."""
    number = "intro" if citation.number is None else str(citation.number)
    return (
        f'<article class="aqa-source" data-area="{html.escape(number)}">'
        "<header>"
        f'<span class="aqa-num">{html.escape(number)}</span>'
        f'<span class="aqa-title">{html.escape(citation.title)}</span>'
        f'<span class="aqa-score" title="similarity to your question">score {citation.score:.2f}</span>'
        "</header>"
        f"{highlight(citation.section_text, citation.quotes)}"
        "</article>"
    )


def sources_html(answer: Answer) -> str:
    """The sources panel for ``answer``: one card per cited area, or a hint when it declined."""
    notice = f'<div class="aqa-notice">{html.escape(answer.notice)}</div>' if answer.notice else ""
    if answer.abstained:
        return notice + SOURCES_DECLINED
    if not answer.citations:
        return notice + SOURCES_NONE
    return notice + '<div class="aqa-sources">' + "".join(source_card(c) for c in answer.citations) + "</div>"


def no_tags(markdown: str) -> str:
    """``markdown`` with every ``<`` (escaped or not) as ``&lt;``: it renders the same, and no HTML tag can form.

    ``>`` stays, as it starts block quotes; ``\\>`` becomes ``&gt;``.
    """
    return markdown.replace("\\<", "&lt;").replace("\\>", "&gt;").replace("<", "&lt;")


def reply_markdown(answer: Answer) -> str:
    """The chat reply: the answer's Markdown, plus the stale-corpus note when there is one; never an HTML tag."""
    text = answer.text
    if answer.notice:
        text += f"\n\n*Note: {answer.notice}*"
    return no_tags(text)


def respond(assistant: Assistant, message: object, history: Sequence[Any] | None) -> tuple[str, str]:
    """Answer one chat turn: ``(reply Markdown, sources HTML)``; user mistakes become friendly replies."""
    from .assistant import message_text

    question = message_text(message)
    started = time.perf_counter()
    try:
        answer = assistant.ask(question, history=list(history or []))
    except AllianceQAError as exc:
        return no_tags(str(exc)), SOURCES_NONE
    except Exception:
        log.exception("answering a %d-character question failed", len(question))
        return SERVER_ERROR, SOURCES_NONE
    log.info(
        "answered in %.0f ms: %s",
        (time.perf_counter() - started) * 1000,
        "declined" if answer.abstained else ", ".join(c.label for c in answer.citations),
    )
    return reply_markdown(answer), sources_html(answer)


# ---------------------------------------------------------------------------- the app


def build_app(assistant: Assistant) -> gr.Blocks:
    """The Gradio app answering from ``assistant``: header, chat, sources panel and examples."""

    def chat(message: str, history: list[dict[str, Any]]) -> tuple[str, str]:
        """Answer a question about the article with quotes and cited interest areas."""
        return respond(assistant, message, history)

    with gr.Blocks(title=f"alliance-qa: {ARTICLE_TITLE}", fill_width=False) as demo:
        gr.Markdown(f"# alliance-qa\n\n{HEADER}", elem_id="aqa-header")
        sources = gr.HTML(SOURCES_EMPTY, elem_id="aqa-sources", js_on_load=None, render=False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                textbox = gr.Textbox(
                    placeholder="Ask about the article, e.g. “Which ports matter for trade?”, and press Enter",
                    elem_id="aqa-question",
                    show_label=False,
                    lines=1,
                    max_lines=6,
                    submit_btn=True,
                    autofocus=True,
                )
                interface = gr.ChatInterface(
                    chat,
                    chatbot=gr.Chatbot(
                        elem_id="aqa-chat",
                        height=460,
                        sanitize_html=True,
                        buttons=["copy", "copy_all"],  # no "share": it posts to Hugging Face
                        show_label=False,
                        placeholder="**Ask a question** or pick one of these to start:",
                    ),
                    textbox=textbox,
                    additional_outputs=[sources],
                    examples=STARTER_EXAMPLES,
                    run_examples_on_click=True,
                    cache_examples=False,
                    api_name="chat",
                    api_description="Answer a question about the article: returns the Markdown answer and "
                    "the sources panel HTML.",
                    concurrency_limit=CONCURRENCY_LIMIT,
                    fill_height=False,
                    flagging_mode="never",
                    save_history=False,
                )
                gr.Examples(
                    examples=[[question] for question, _ in EXAMPLES],
                    example_labels=[label for _, label in EXAMPLES],
                    inputs=[interface.textbox],
                    label="More questions: click one, then press Enter",
                    examples_per_page=len(EXAMPLES),
                    elem_id="aqa-examples",
                    api_visibility="private",
                )
            with gr.Column(scale=2, min_width=300, elem_id="aqa-sources-col"):
                gr.Markdown("### Sources")
                sources.render()
    return demo


# ---------------------------------------------------------------------------- serving


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:pass"`` -> ``("user", "pass")`` (the password may contain ``:``); empty -> ``None``."""
    if value is None or not value.strip():
        return None
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise AllianceQAError(
            "--auth (or ALLIANCE_QA_AUTH) must look like user:password, with both parts non-empty; "
            f"got a value of {len(value)} characters without that shape"
        )
    return user.strip(), password


def warm_up(assistant: Assistant) -> None:
    """Load the model and the index (building it if missing or stale), then stop auto-building.

    After this, a newer build on disk is swapped in before the next question, and
    an edited but unbuilt corpus is served from the last build with a visible note.
    """
    assistant.search("Which ports matter for trade?", k=1)
    assistant.auto_build = False


def launch(
    assistant: Assistant,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    auth: tuple[str, str] | None = None,
) -> tuple[gr.Blocks, str]:
    """Warm up, then start the chat server in background threads; return the app and its local URL."""
    warm_up(assistant)
    demo = build_app(assistant)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=CONCURRENCY_LIMIT, api_open=False)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            auth=auth,
            auth_message="alliance-qa: please log in." if auth else None,
            share=False,
            inbrowser=False,
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,
            footer_links=["api"],
            run_history=False,
            enable_monitoring=False,
            mcp_server=False,
            ssr_mode=False,
            pwa=False,
            css=CSS,
            theme=THEME,
        )
    except OSError as exc:
        raise AllianceQAError(
            f"cannot listen on {host}:{port} ({exc}): pick another port with --port or ALLIANCE_QA_PORT"
        ) from exc
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown_host}:{demo.server_port}/"
    log.info("serving the chat at %s%s", url, " (login required)" if auth else "")
    return demo, url


def serve(
    assistant: Assistant | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    auth: tuple[str, str] | None = None,
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the chat until Ctrl-C; ``announce`` is called with the URL once the server listens."""
    demo, url = launch(assistant or Assistant(), host, port, auth)
    if announce is not None:
        announce(url)
    try:
        while demo.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        log.info("interrupted: stopping the chat server")
    finally:
        demo.close()
