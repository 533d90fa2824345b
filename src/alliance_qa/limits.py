"""Bounds on what one question may cost, whoever asks: the history it reads, the text it embeds, the notes it shows.

Used by :class:`~alliance_qa.assistant.Assistant` (so the Python API, the CLI and the web chat all
get them) and by :mod:`.guard` for the chat history the web server stores per session.

* a history is read from its last :data:`MAX_HISTORY_TURNS` turns; message parts nested deeper than
  :data:`MAX_NESTING` levels are ignored (a 50,000-deep history is no ``RecursionError``); a turn over
  the question limit is skipped, as it was refused when asked;
* a question's first :data:`MAX_EMBED_TOKENS` word pieces are embedded (the lexical match reads all);
* notes shown to users carry no absolute paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .config import MAX_QUESTION_CHARS

#: Chat history the web server keeps per session: messages, and characters a message.
MAX_HISTORY_MESSAGES = 200
MAX_STORED_CHARS = 20_000
#: History turns a question looks back through, and how deeply a message's parts may nest.
MAX_HISTORY_TURNS = 50
MAX_NESTING = 4


#: Word pieces of a question that are embedded: a long real question (~45 words) fits; 999 random characters
#: would make ~850, cut by the model to 256, each costing about as much as a whole normal question's ~10.
MAX_EMBED_TOKENS = 64
#: Without the model's tokenizer (another embedder), characters instead: ~64 pieces of English.
MAX_EMBED_CHARS = 300


def embed_text(question: str, embedder: object = None) -> str:
    """The start of ``question`` that is embedded: at most :data:`MAX_EMBED_TOKENS` of the model's word pieces.

    The lexical match still reads every word; this bounds the model's work for any text.
    """
    tokenizer = getattr(getattr(embedder, "_model", None), "tokenizer", None)
    if tokenizer is None or len(question) <= MAX_EMBED_TOKENS:
        return question if len(question) <= MAX_EMBED_CHARS else question[:MAX_EMBED_CHARS]
    pieces = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return question if len(pieces) <= MAX_EMBED_TOKENS else question[: pieces[MAX_EMBED_TOKENS - 1][1]]


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"()]+/)*([^\s/'\"()]*)")


def without_paths(text: str) -> str:
    """``text`` with every absolute path shortened to its last part (``/srv/app/index`` -> ``index``).

    For notes shown to users of the web chat, who must not learn the server's folders.
    """
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "/", text)


# ----------------------------------------------------------------------------- reading a history, bounded


def message_text(content: object, depth: int = MAX_NESTING) -> str:
    """The text of a chat message ``content``: a string, or Gradio's list of ``{"type": "text"}`` parts.

    Parts nested deeper than ``depth`` levels are ignored, so any nesting costs at most ``depth`` levels.
    """
    if isinstance(content, str):
        return content
    if depth <= 0:
        return ""
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else message_text(text, depth - 1) if text else ""
    if isinstance(content, (list, tuple)):
        return " ".join(message_text(part, depth - 1) for part in content[:MAX_HISTORY_MESSAGES]).strip()
    return ""


def previous_questions(history: Sequence[object] | None) -> list[str]:
    """The user's earlier questions, oldest first, from Gradio message dicts or plain strings.

    Only the last :data:`MAX_HISTORY_TURNS` turns are read, and a turn longer than the
    question limit is skipped (it was refused when asked).
    """
    out: list[str] = []
    turns = list(history or ())[-MAX_HISTORY_TURNS:] if not isinstance(history, (str, bytes)) else []
    for turn in turns:
        if isinstance(turn, str):
            text = turn
        elif isinstance(turn, dict) and turn.get("role", "user") == "user":
            text = message_text(turn.get("content"))
        else:
            continue
        if text.strip() and len(text) <= MAX_QUESTION_CHARS:
            out.append(text.strip())
    return out


def stored_message(message: object) -> object:
    """``message`` as the chat history may keep it: a refused over-long question becomes a one-line stand-in."""
    text = message_text(message.get("content") if isinstance(message, dict) else message)
    if len(text) <= MAX_QUESTION_CHARS:
        return message
    return f"(a question of {len(text):,} characters, over the {MAX_QUESTION_CHARS:,} limit: not kept)"


def bounded_history(history: list[Any]) -> list[Any]:
    """``history`` with long messages cut to :data:`MAX_STORED_CHARS` and only the last messages kept."""
    out = []
    for message in history[-MAX_HISTORY_MESSAGES:]:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and len(content) > MAX_STORED_CHARS:
            message = {**message, "content": content[:MAX_STORED_CHARS] + " …"}
        elif content is not None and not isinstance(content, str):
            text = message_text(content)
            if len(text) > MAX_STORED_CHARS:
                message = {**message, "content": text[:MAX_STORED_CHARS] + " …"}
        out.append(message)
    return out
