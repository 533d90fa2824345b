"""The web chat: a Gradio ``ChatInterface`` with sources per answer, served on loopback by default.

Only :func:`serve` (and the ``alliance-qa serve`` command) import this module, so
``ask``, ``search`` and ``build`` never pay for ``import gradio``.

* ``/chat`` is the one public endpoint: ``Client(url).predict(question, api_name="/chat")``
  returns ``(answer_markdown, sources_html)``.  Gradio's internal events stay callable
  by the page but are left out of the API docs; monitoring, MCP, run history and
  share links are off.
* In the page, each answer carries its own sources block (escaped cards, see
  :mod:`alliance_qa.web_render`); ``static/web.js`` shows the selected answer's cards in
  the side panel, turns marks into links to their cards, returns focus to the question box
  and keeps the counter.  Conversations are kept in the browser (``save_history``), never
  on the server; votes are written only when the operator chose a feedback folder
  (:mod:`alliance_qa.web_record`).
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
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from . import guard, web_login
from .assistant import Assistant
from .config import MAX_QUESTION_CHARS, env_count
from .errors import AllianceQAError
from .web_record import ENV_FEEDBACK_DIR, FeedbackLog, chat_markdown
from .web_render import (
    SOURCES_DECLINED,
    SOURCES_EMPTY,
    SOURCES_NONE,
    ChatReply,
    highlight,
    no_tags,
    plain_message,
    render,
    reply_markdown,
    shown_question,
    source_card,
    sources_html,
    typed_question,
)

__all__ = [
    "ENV_FEEDBACK_DIR", "SOURCES_DECLINED", "SOURCES_EMPTY", "SOURCES_NONE", "build_app", "highlight", "launch",
    "no_tags", "parse_auth", "reply_markdown", "respond", "serve", "source_card", "sources_html",
]  # fmt: skip

log = logging.getLogger(__name__)


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Questions answered at the same time. Their embeddings are merged into one model call (:mod:`.batch`), so
#: more at once means fewer, larger model calls; each question's work stays bounded (:mod:`.limits`).
CONCURRENCY_LIMIT = env_count("ALLIANCE_QA_CONCURRENCY", 8)
#: Threads torch (and FAISS, same OpenMP runtime) use while serving: one model call runs at a time, and
#: Gradio and the answers' Python work need the other cores.
MODEL_THREADS = env_count("ALLIANCE_QA_MODEL_THREADS", 1)
#: Gradio's queue summarizes the events it recorded (a pandas table of up to 10,000 of them) after every event,
#: for a monitoring page this server does not offer; at 32 clients that took about half of the server's CPU
#: time once a few hundred questions had been answered.  One event recorded, the summary never recomputed.
GRADIO_QUEUE_ENV = {"GRADIO_ANALYTICS_MAX_EVENTS": "1", "GRADIO_ANALYTICS_CACHE_FREQUENCY": str(2**62)}
#: Events waiting in the queue before new ones are turned away with "queue full".
QUEUE_MAX_SIZE = 512
#: Example questions shown in the empty chat (the rest go in the row under the chat).
STARTERS = 4
STATIC = Path(__file__).with_name("static")

SERVER_ERROR = "Sorry, something went wrong while answering. Please try again; the server log has the details."


def page_profile(assistant: Any) -> tuple[str, tuple[str, ...], str, int]:
    """``(title, example questions, section word, documents)`` for the page, from the corpus profile.

    Until a profile is served, a generic fallback: the first section's document title (or file
    name), questions about the first numbered sections' titles, "section", one document.
    """
    profile: Any = getattr(assistant, "profile", None)
    if profile is not None and profile.title:
        documents = len(getattr(profile, "documents", ()) or ()) or 1
        return profile.title, tuple(profile.examples), profile.section_word or "section", documents
    sections = list(getattr(getattr(assistant, "index", None), "sections", None) or [])
    if not sections:
        return "your documents", (), "section", 1
    first = sections[0]
    title = getattr(first, "document_title", "") or (first.title if getattr(first, "intro", first.number is None) else "")
    title = title or Path(first.source).stem.replace("-", " ").replace("_", " ")
    numbered = [s.title for s in sections if s.number is not None][:STARTERS]
    documents = len({s.source for s in sections})
    return title, tuple(f"What does it say about {t}?" for t in numbered), "section", documents


def respond(assistant: Any, message: object, history: Sequence[Any] | None) -> tuple[str, str]:
    """Answer one chat turn: ``(reply, sources HTML)``; user mistakes become friendly replies.

    The reply is a :class:`~alliance_qa.web_render.ChatReply` when answered: the Markdown,
    plus the HTML the page shows for it.
    """
    from .assistant import message_text

    question = message_text(message)
    earlier = [
        {**turn, "content": typed_question(plain_message(turn.get("content")))}
        if isinstance(turn, dict) and turn.get("role") == "user"
        else turn
        for turn in history or []
    ]
    started = time.perf_counter()
    try:
        answer = assistant.ask(question, history=earlier)
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
    return render(answer)


class _Chat(gr.ChatInterface):
    """``ChatInterface`` showing questions as typed and answers with their sources block."""

    def _render_history_area(self) -> None:
        with gr.Column(scale=1, min_width=160, elem_id="aqa-history"):
            self.new_chat_button = gr.Button("New chat", variant="primary", size="md", elem_id="aqa-new-chat")
            self.chat_history_dataset = gr.Dataset(
                components=[gr.Textbox(visible=False)], label="Earlier chats", layout="table", type="index"
            )

    def _append_message_to_history(self, message: Any, history: Any, role: Any = "user") -> Any:
        if isinstance(message, ChatReply):
            message = message.display
        elif role == "user" and isinstance(message, str):
            message = shown_question(message)
        elif role == "user" and isinstance(message, dict) and "content" not in message and message.get("text"):
            message = {**message, "text": shown_question(str(message["text"]))}
        return super()._append_message_to_history(message, history, role)

    def _clear_and_save_textbox(self, message: Any) -> Any:
        return gr.update(value="", interactive=False), message

    def _pop_last_user_message(self, history: Any) -> Any:
        history, text = super()._pop_last_user_message(history)
        return history, typed_question(text) if isinstance(text, str) else text

    def _generate_chat_title(self, conversation: Any) -> str:
        for message in conversation:
            if message.get("role") == "user":
                title = typed_question(plain_message(message.get("content"))).strip()
                return title if len(title) <= 40 else title[:40] + "…"
        return "Conversation"


def _header(title: str, section_word: str, documents: int) -> str:
    what = "the documents" if documents > 1 else "the document"
    return (
        f"# {no_tags(title)}\n\nAsk a question about {what}: every answer quotes {what} and cites the "
        f"{no_tags(section_word)} each quote comes from, like [1]. Click a mark to see its source."
    )


def build_app(assistant: Any, feedback: FeedbackLog | None = None, *, logout: bool = False) -> gr.Blocks:
    """The Gradio app answering from ``assistant``: header, chat with saved history, sources panel."""
    title, examples, section_word, documents = page_profile(assistant)
    feedback = feedback or FeedbackLog(None)

    def chat(message: str, history: list[dict[str, Any]]) -> tuple[str, str]:
        """Answer a question about the documents with quotes and cited sections."""
        return respond(assistant, message, history)

    def vote(data: gr.LikeData, history: list[Any]) -> str:
        index = data.index if isinstance(data.index, int) else data.index[0]
        if not feedback.enabled:
            return '<p class="aqa-status">Thanks. This server does not record feedback.</p>'
        feedback.record(data.liked if isinstance(data.liked, bool) else None, index, history)
        return '<p class="aqa-status">Thanks: your feedback was saved.</p>'

    with gr.Blocks(title=f"{title}: alliance-qa", fill_width=True) as demo:
        gr.Markdown(_header(title, section_word, documents), elem_id="aqa-header")
        sources = gr.HTML(SOURCES_EMPTY, elem_id="aqa-sources-api", visible=False, render=False)
        with gr.Row(equal_height=False, elem_id="aqa-main"):
            with gr.Column(scale=3, min_width=360, elem_id="aqa-chat-col"):
                textbox = gr.Textbox(
                    placeholder=f"Ask a question (up to {MAX_QUESTION_CHARS:,} characters) and press Enter",
                    elem_id="aqa-question",
                    label="Your question",
                    show_label=False,
                    lines=1,
                    max_lines=6,
                    max_length=MAX_QUESTION_CHARS,
                    submit_btn="Send",
                    autofocus=True,
                )
                interface = _Chat(
                    chat,
                    chatbot=gr.Chatbot(
                        elem_id="aqa-chat",
                        height="62vh",
                        sanitize_html=True,
                        buttons=["copy", "copy_all"],  # no "share": it posts to Hugging Face
                        label="Conversation",
                        show_label=False,
                        placeholder="**Ask a question**" + (" or pick one of these to start:" if examples else ""),
                        feedback_options=("Like", "Dislike"),
                    ),
                    textbox=textbox,
                    additional_outputs=[sources],
                    examples=list(examples[:STARTERS]) or None,
                    run_examples_on_click=True,
                    cache_examples=False,
                    api_name="chat",
                    api_description="Answer a question about the documents: returns the Markdown answer and "
                    "the sources panel HTML.",
                    concurrency_limit=CONCURRENCY_LIMIT,
                    fill_height=False,
                    flagging_mode="never",
                    save_history=True,
                )
                more = "".join(
                    f'<button type="button" class="aqa-ask">{html.escape(q)}</button>' for q in examples[STARTERS:]
                )
                with gr.Row(elem_id="aqa-tools"):
                    if more:
                        gr.HTML(f'<nav id="aqa-more" aria-label="More questions"><span>More questions:</span>{more}</nav>')
                    status = gr.HTML("", elem_id="aqa-status")
                    download = gr.Button("Download chat", size="sm", elem_id="aqa-download", scale=0)
                    if logout:
                        gr.Button("Log out", size="sm", link="/logout", elem_id="aqa-logout", scale=0)
            with gr.Column(scale=2, min_width=300, elem_id="aqa-sources-col"):
                gr.HTML(
                    '<h2 class="aqa-h">Sources</h2>'
                    f'<div id="aqa-sources" role="region" aria-label="Sources of the selected answer" tabindex="0">'
                    f"{SOURCES_EMPTY}</div>",
                    elem_id="aqa-sources-box",
                )
                sources.render()  # the API's sources output; the page shows each answer's own block instead
        shown = gr.Textbox(visible=False)
        interface.chatbot.like(vote, [interface.chatbot], [status], api_visibility="private")
        download.click(
            lambda history: chat_markdown(history, title), [interface.chatbot], [shown], api_visibility="private"
        ).then(None, [shown], None, js="(md) => window.aqaDownload && window.aqaDownload(md)")
        demo.load(
            _restore, [interface.saved_conversations], [interface.conversation_id, interface.chatbot],
            api_visibility="private", queue=False,
        ).then(lambda x: x, [interface.chatbot], [interface.chatbot_state], api_visibility="private", queue=False)  # fmt: skip
    return demo


def _restore(saved: list[Any] | None) -> tuple[Any, Any]:
    """On page load, reopen the most recent saved conversation (kept in the browser)."""
    if saved and saved[0]:
        return 0, saved[0]
    return gr.skip(), gr.skip()


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
    assistant.search("What is this about?", k=1)
    assistant.auto_build = False
    torch = sys.modules.get("torch")  # loaded with the model; a stand-in embedder needs no threads set
    if torch is not None:
        torch.set_num_threads(MODEL_THREADS)


def page_head() -> str:
    """The ``<head>`` additions: the page script, with the server's question limit."""
    script = (STATIC / "web.js").read_text(encoding="utf-8")
    return f"<script>window.AQA_MAX = {MAX_QUESTION_CHARS};\n{script}</script>"


#: Gradio's Soft theme with the bundled IBM Plex Sans (no font is fetched from the network).
THEME = gr.themes.Soft(
    primary_hue="indigo",
    font=[gr.themes.LocalFont("IBM Plex Sans", weights=(400, 600, 700)), "ui-sans-serif", "system-ui", "sans-serif"],
).set(  # darker than Soft's defaults, for a 4.5:1 contrast (axe-core, WCAG AA)
    button_primary_background_fill="*primary_700",
    button_primary_background_fill_hover="*primary_800",
    button_primary_background_fill_dark="*primary_600",
    block_label_text_color="*primary_700",
    block_title_text_color="*primary_700",
    link_text_color="*primary_700",
    link_text_color_dark="*primary_200",
)


def _server_options(demo: gr.Blocks, login_title: str | None) -> dict[str, Any]:
    """Extra ``demo.launch`` keywords: the server limits' (:func:`guard.protect`), then the login page's
    middleware appended to theirs."""
    extra: dict[str, Any] = guard.protect(demo)
    if login_title is None:
        return extra
    app_kwargs = dict(extra.get("app_kwargs") or {})
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), web_login.middleware(login_title)]
    return {**extra, "app_kwargs": app_kwargs}


def launch(
    assistant: Assistant,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    auth: tuple[str, str] | None = None,
    *,
    feedback_dir: str | os.PathLike[str] | None = None,
) -> tuple[gr.Blocks, str]:
    """Warm up, then start the chat server in background threads; return the app and its local URL."""
    feedback = FeedbackLog(feedback_dir)
    warm_up(assistant)
    demo = build_app(assistant, feedback, logout=auth is not None)
    for name, value in GRADIO_QUEUE_ENV.items():  # read when the queue is made; a value set by the user wins
        os.environ.setdefault(name, value)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=CONCURRENCY_LIMIT, api_open=False)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            auth=auth,
            auth_message="Please log in to use the chat." if auth else None,
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
            css_paths=[STATIC / "web.css"],
            head=page_head(),
            theme=THEME,
            **_server_options(demo, page_profile(assistant)[0] if auth else None),
        )
    except OSError as exc:
        raise AllianceQAError(
            f"cannot listen on {host}:{port} ({exc}): pick another port with --port or ALLIANCE_QA_PORT"
        ) from exc
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown_host}:{demo.server_port}/"
    log.info(
        "serving the chat at %s%s; feedback %s",
        url,
        " (login required)" if auth else "",
        f"appended to {feedback.path}" if feedback.path else "off",
    )
    return demo, url


def serve(
    assistant: Assistant | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    auth: tuple[str, str] | None = None,
    *,
    announce: Callable[[str], None] | None = None,
    feedback_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the chat until Ctrl-C; ``announce`` is called with the URL once the server listens.

    ``feedback_dir`` (default ``ALLIANCE_QA_FEEDBACK_DIR``, else off) receives ``feedback.jsonl``.
    """
    if feedback_dir is None:
        feedback_dir = os.environ.get(ENV_FEEDBACK_DIR) or None
    demo, url = launch(assistant or Assistant(), host, port, auth, feedback_dir=feedback_dir)
    if announce is not None:
        announce(url)
    try:
        while demo.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        log.info("interrupted: stopping the chat server")
    finally:
        demo.close()
