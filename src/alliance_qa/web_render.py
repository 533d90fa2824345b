"""HTML and Markdown for the web chat, built from escaped text only.

* The **sources panel** (the ``/chat`` API's second output) and the **sources block** under each
  answer in the page are cards built from ``html.escape``d corpus text; ``<mark>`` is added
  around the quoted sentences only after escaping.
* A **reply** (the API's first output) is the answer's Markdown with every ``<`` as ``&lt;``
  (:func:`no_tags`), and each cited label written with its in-text mark (``Title [8]``), so one
  notation is used throughout.
* The **message shown in the page** is the reply with each mark as a button (it brings its card
  into view), each suggested question as a button (it asks it), and the sources block after it.
  Only our own fixed tags are added, always around escaped text.
* A **question** is shown as typed: :func:`shown_question` escapes Markdown and HTML, and
  :func:`typed_question` undoes it exactly.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from .answer import Answer, markdown_quote

SOURCES_EMPTY = (
    '<p class="aqa-hint">The sections an answer quotes appear here, with the quoted sentences highlighted.</p>'
)
SOURCES_DECLINED = '<p class="aqa-hint">No sources: the documents do not cover this question.</p>'
SOURCES_NONE = '<p class="aqa-hint">No sources for this reply.</p>'
#: Answers with at most this many cards show their sources block open under the answer (phone layout).
OPEN_UP_TO = 3
#: Most characters one shown answer may have (the server keeps each message under 20,000; the page posts the
#: whole conversation with each question): longer sections show only their quoted sentences, then fewer cards.
DISPLAY_BUDGET = 16_000
#: Characters escaped in a shown question: Markdown's punctuation (HTML is escaped first).
_MD_SPECIAL = "\\`*_[]{}()#+-.!|~>"


class ChatReply(str):
    """The reply Markdown (what the API returns), carrying the HTML the page shows for it."""

    display: str

    def __new__(cls, reply: str, display: str | None = None) -> ChatReply:
        """``reply`` as a string; ``display`` (default: ``reply``) is what the chat shows."""
        obj = super().__new__(cls, reply)
        obj.display = reply if display is None else display
        return obj


# ---------------------------------------------------------------------------- questions


def shown_question(text: str) -> str:
    """``text`` as Markdown that renders exactly as typed: HTML escaped, then Markdown punctuation."""
    out = html.escape(text, quote=False)
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in out)


def typed_question(shown: str) -> str:
    """Undo :func:`shown_question`."""
    return html.unescape(re.sub(r"\\(.)", r"\1", shown, flags=re.S))


# ---------------------------------------------------------------------------- source cards


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
    pieces: list[str] = []
    pos = 0
    for start, end in _quote_spans(text, quotes):
        pieces.append(html.escape(text[pos:start]))
        pieces.append("<mark>" + html.escape(text[start:end]) + "</mark>")
        pos = end
    pieces.append(html.escape(text[pos:]))
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "".join(pieces)) if p.strip()]
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def marker(citation: Any) -> str:
    """The citation's in-text mark (``[8]``, ``[intro]``, or what the answer layer chose)."""
    mark = getattr(citation, "marker", None)
    if isinstance(mark, str) and mark:
        return mark
    return f"[{citation.number if citation.number is not None else 'intro'}]"


def source_card(citation: Any, *, compact: bool = False) -> str:
    """One cited section as an HTML card: its mark, title, document, score and highlighted text.

    ``compact`` shows only the quoted sentences instead of the whole section.
    """
    number = marker(citation)[1:-1]
    document = getattr(citation, "document_title", "") or getattr(citation, "document", "") or ""
    doc = f'<p class="aqa-doc">{html.escape(str(document))}</p>' if document else ""
    text = " ".join(citation.quotes) if compact else citation.section_text
    return (
        f'<article class="aqa-source" data-area="{html.escape(number)}">'
        "<header>"
        f'<span class="aqa-mark">{html.escape(marker(citation))}</span>'
        f'<span class="aqa-title">{html.escape(citation.title)}</span>'
        f'<span class="aqa-score" title="similarity to your question">score {citation.score:.2f}</span>'
        "</header>"
        f"{doc}{highlight(text, citation.quotes)}"
        "</article>"
    )


def sources_html(answer: Answer) -> str:
    """The sources panel for ``answer``: one card per cited section, or a hint when it declined."""
    notice = f'<div class="aqa-notice">{html.escape(answer.notice)}</div>' if answer.notice else ""
    if answer.abstained:
        return notice + SOURCES_DECLINED
    if not answer.citations:
        return notice + SOURCES_NONE
    return notice + '<div class="aqa-sources">' + "".join(source_card(c) for c in answer.citations) + "</div>"


# ---------------------------------------------------------------------------- replies


def no_tags(markdown: str) -> str:
    """``markdown`` with every ``<`` (escaped or not) as ``&lt;``: it renders the same, and no HTML tag can form.

    ``>`` stays, as it starts block quotes; ``\\>`` becomes ``&gt;``.
    """
    return markdown.replace("\\<", "&lt;").replace("\\>", "&gt;").replace("<", "&lt;")


def reply_markdown(answer: Answer) -> str:
    """The chat reply: the answer's Markdown with cited labels as ``Title [n]``, plus the stale-corpus note."""
    text = answer.text
    for cite in answer.citations:
        label, title = markdown_quote(cite.label), markdown_quote(cite.title)
        if label != title:
            text = text.replace(label, f"{title} {marker(cite)}")
    if answer.notice:
        text += f"\n\n*Note: {answer.notice}*"
    return no_tags(text)


def _cite_button(mark: str, title: str) -> str:
    label = html.escape(f"Show source {mark}: {title}", quote=True)
    return f'<button type="button" class="aqa-cite" aria-label="{label}" title="{label}">{html.escape(mark)}</button>'


def display_html(answer: Answer, reply: str) -> str:
    """What the chat shows for ``answer``: ``reply`` with marks and suggestions as buttons, then its sources block."""
    titles: dict[str, str] = {}
    for cite in answer.citations:
        titles.setdefault(marker(cite), cite.title)
    if titles:
        pattern = re.compile(r"(?<!\\)(" + "|".join(re.escape(m) for m in titles) + r")")
        reply = pattern.sub(lambda m: _cite_button(m.group(1), titles[m.group(1)]), reply)
    for question in answer.suggestions:
        if question.rstrip().endswith("?"):
            shown = f"*{no_tags(markdown_quote(question))}*"
            button = f'<button type="button" class="aqa-ask">{html.escape(question)}</button>'
            reply = reply.replace(shown, button)
    if not answer.citations:
        return reply
    count = len(answer.citations)
    first = html.escape(f"{marker(answer.citations[0])} {answer.citations[0].title}")
    summary = f"Sources ({count}): {first}" + ("…" if count > 1 else "")
    cards = [source_card(c) for c in answer.citations]
    if len(reply) + sum(map(len, cards)) > DISPLAY_BUDGET:  # long sections: the quoted sentences only
        cards = [source_card(c, compact=True) for c in answer.citations]
    kept: list[str] = []
    room = DISPLAY_BUDGET - len(reply)
    for card in cards:
        if len(card) > room:
            kept.append(f'<p class="aqa-hint">{len(cards) - len(kept)} more sources are not shown.</p>')
            break
        kept.append(card)
        room -= len(card)
    return (
        f'{reply}\n\n<details class="aqa-inline"{" open" if count <= OPEN_UP_TO else ""}>'
        f"<summary>{summary}</summary>" + "".join(kept) + "</details>"
    )


def render(answer: Answer) -> tuple[ChatReply, str]:
    """``(reply, sources panel HTML)`` for ``answer``; the reply carries the page's version as ``.display``."""
    reply = reply_markdown(answer)
    return ChatReply(reply, display_html(answer, reply)), sources_html(answer)


def plain_message(content: Any) -> str:
    """A chat message's text from the page or the API (a string or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, list | tuple):
        return "".join(plain_message(part) for part in content)
    return ""
