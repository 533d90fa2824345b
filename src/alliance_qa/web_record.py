"""Feedback and export for the web chat: what one shown conversation turn says, as data.

The page keeps conversations in the browser; the server stores nothing of them.  Two
things leave the page only when someone asks:

* **Feedback** (thumbs up/down): appended as one JSON line (time, vote, question, answer,
  citations) to ``feedback.jsonl`` in the folder the operator chose with ``serve
  --feedback-dir`` or ``ALLIANCE_QA_FEEDBACK_DIR``; off (nothing written) by default.
* **Download chat**: the conversation as Markdown, with each answer's sources listed.

Both read the messages the page sends back (see :mod:`alliance_qa.web_render` for their
shape), so every field is bounded and treated as text.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from .errors import AllianceQAError
from .web_render import plain_message, typed_question

ENV_FEEDBACK_DIR = "ALLIANCE_QA_FEEDBACK_DIR"
FEEDBACK_FILE = "feedback.jsonl"
#: Longest text kept from one field of a feedback record (the page sends it back; it is untrusted).
FIELD_LIMIT = 20_000

_BUTTON = re.compile(r'<button type="button" class="aqa-(cite|ask)"[^>]*>(.*?)</button>', re.S)
_CARD = re.compile(r'<article class="aqa-source".*?</article>', re.S)


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def split_message(content: Any) -> tuple[str, list[dict[str, Any]]]:
    """A shown answer as ``(reply Markdown, citations)``; citations are ``{marker, title, quotes}``."""
    text = plain_message(content)[: FIELD_LIMIT * 4]
    reply, _, block = text.partition('<details class="aqa-inline"')

    def unbutton(match: re.Match[str]) -> str:
        inner = html.unescape(match.group(2))
        return inner if match.group(1) == "cite" else f"*{inner}*"

    reply = _BUTTON.sub(unbutton, reply).strip()
    citations = []
    for card in _CARD.findall(block):
        mark = re.search(r'<span class="aqa-mark">(.*?)</span>', card, re.S)
        title = re.search(r'<span class="aqa-title">(.*?)</span>', card, re.S)
        citations.append(
            {
                "marker": _text(mark.group(1)) if mark else "",
                "title": _text(title.group(1)) if title else "",
                "quotes": [_text(q) for q in re.findall(r"<mark>(.*?)</mark>", card, re.S)],
            }
        )
    return reply, citations


def turns(history: list[Any] | None) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """``(question, reply, citations)`` for each answered question in a shown conversation."""
    out: list[tuple[str, str, list[dict[str, Any]]]] = []
    question = ""
    for message in history or []:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            question = typed_question(plain_message(message.get("content")))
        elif message.get("role") == "assistant":
            reply, citations = split_message(message.get("content"))
            out.append((question, reply, citations))
    return out


def chat_markdown(history: list[Any] | None, title: str) -> str:
    """The conversation as a Markdown document, each answer followed by its sources."""
    lines = [f"# {title}", "", f"Conversation exported {time.strftime('%Y-%m-%d %H:%M')}.", ""]
    for question, reply, citations in turns(history):
        lines += [f"## {question}", "", reply, ""]
        if citations:
            lines.append("Sources:")
            for cite in citations:
                quotes = " ".join(f"“{q}”" for q in cite["quotes"])
                lines.append(f"- {cite['marker']} {cite['title']}" + (f": {quotes}" if quotes else ""))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


class FeedbackLog:
    """Appends votes to ``<folder>/feedback.jsonl``; with no folder, records nothing."""

    def __init__(self, folder: str | os.PathLike[str] | None) -> None:
        """Create ``folder`` if needed (``None``: feedback off); raises when it cannot be written."""
        self.path: Path | None = None
        self._lock = threading.Lock()
        if folder is None or not str(folder).strip():
            return
        directory = Path(folder).expanduser().absolute()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with (directory / FEEDBACK_FILE).open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise AllianceQAError(
                f"cannot write feedback to {directory} ({exc.strerror or exc}): pass a writable folder to "
                f"--feedback-dir (or {ENV_FEEDBACK_DIR}), or leave it unset to turn feedback off"
            ) from exc
        self.path = directory / FEEDBACK_FILE

    @property
    def enabled(self) -> bool:
        """Whether votes are written anywhere."""
        return self.path is not None

    def record(self, liked: bool | None, index: int, history: list[Any] | None) -> dict[str, Any] | None:
        """Append the vote on the shown message at ``index``; the record, or ``None`` when off or not an answer."""
        if self.path is None or not history or not 0 <= index < len(history):
            return None
        question = ""
        for message in history[:index]:
            if isinstance(message, dict) and message.get("role") == "user":
                question = typed_question(plain_message(message.get("content")))
        target = history[index]
        if not isinstance(target, dict) or target.get("role") != "assistant":
            return None
        reply, citations = split_message(target.get("content"))
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "vote": "up" if liked else ("down" if liked is False else "none"),
            "question": question[:FIELD_LIMIT],
            "answer": reply[:FIELD_LIMIT],
            "citations": citations[:50],
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
        return record
