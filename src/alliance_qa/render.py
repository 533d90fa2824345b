"""Markdown for answers: the fixed connecting phrases, escaping, and the lines that quote and cite.

Every word of an answer is a quote from the corpus, a section or document title,
a side's name, an example question, or one of the phrases in
:data:`CONNECTING_PHRASES`.  Nothing here chooses what to say; the pipeline
(:mod:`alliance_qa.answer`), the decline policy (:mod:`alliance_qa.policy`) and the
whole-corpus summaries (:mod:`alliance_qa.summary`) decide, and this module writes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .types import Hit

DECLINE = "The documents don't cover that."
DECLINE_TYPE = {
    "time": "It gives no dates or times.",
    "count": "It gives no such number.",
    "measure": "It gives no such figure.",
    "figure": "It gives figures of that kind, but not for what you asked about.",
    "attribute": "It doesn't say.",
    "generate": "This assistant only quotes the documents; it doesn't write or translate text.",
}
CLOSEST = "The closest topics it does cover are:"
TRY = "Try asking, for example:"
SEE_ALSO = "See also:"
OVERVIEW_HEAD = "What the documents are about"
OVERVIEW_AREAS = "It covers {count} {sections}:"
LIST_HEAD = "The {count} {sections}"
WANTS_HEAD = "What {party} wants from {other}"
WANTS_SHARED = "Shared with {other}:"
#: A section named outside its own document's answer, when the corpus has several documents.
IN_DOCUMENT = "{label} in {document}"
#: Whole-corpus answers over many documents show this many and count the rest.
MORE_DOCUMENTS = "and {count} more documents"
#: Every fixed phrase an answer may contain besides corpus quotes, titles and side names.
CONNECTING_PHRASES: tuple[str, ...] = (
    DECLINE,
    *DECLINE_TYPE.values(),
    CLOSEST,
    TRY,
    SEE_ALSO,
    OVERVIEW_HEAD,
    OVERVIEW_AREAS,
    LIST_HEAD,
    WANTS_HEAD,
    WANTS_SHARED,
    IN_DOCUMENT,
    MORE_DOCUMENTS,
    "intro",
)
#: The word for a section when nothing better is known (the profile may supply the corpus's own; a caller
#: checking answers for fixed words adds that word to :data:`CONNECTING_PHRASES`).
SECTION_WORD = "section"


CONNECTING_PHRASES += (SECTION_WORD + "s",)


def plural(word: str, count: int = 2) -> str:
    """``word`` for ``count`` things: "section" -> "sections", "entry" -> "entries", "box" -> "boxes"."""
    if count == 1 or not word:
        return word
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(?:s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


def counted(count: int, word: str) -> str:
    """``count`` and ``word`` in the number it needs: "1 section", "3 sections", "2 boxes"."""
    return f"{count} {plural(word, count)}"


def markdown_quote(text: str) -> str:
    """Escape ``text`` so Markdown and HTML in the corpus show literally."""
    out = text.replace("\\", "\\\\")
    for ch in "`*_[]<>#|~":
        out = out.replace(ch, "\\" + ch)
    return out


def unescape_markdown(text: str) -> str:
    """Undo :func:`markdown_quote`."""
    return re.sub(r"\\(.)", r"\1", text)


def terminal(text: str) -> str:
    """An answer's Markdown as a terminal shows it best: quotes as written (no escapes), no trailing spaces."""
    return "\n".join(line.rstrip() for line in unescape_markdown(text).split("\n"))


def name(hit: Hit) -> str:
    """How a section is named in running text: its label, and its document when the corpus has several."""
    if hit.scope:
        return IN_DOCUMENT.format(label=hit.label, document=hit.document_title or hit.document)
    return hit.label


def heading(text: str) -> str:
    """A bold heading line."""
    return f"**{markdown_quote(text)}**"


def quote_lines(cite: Hit) -> list[str]:
    """One Markdown block quote per quoted sentence, each ending with the citation mark; a quote of several lines
    (a code block, a hard-wrapped line) keeps its line breaks inside the block quote."""
    return [f"> {markdown_quote(q).replace(chr(10), '  ' + chr(10) + '> ')} {markdown_quote_marker(cite)}"
            for q in cite.quotes]


def markdown_quote_marker(cite: Hit) -> str:
    """The citation mark as Markdown: ``[2]`` (brackets kept, a document name inside escaped)."""
    return "[" + markdown_quote(cite.marker[1:-1]) + "]"


def bullet(cite: Hit, *, quote: bool = True, label: bool = True) -> str:
    """``- **Label**: quote [mark]`` (or without the quote, or by title only)."""
    shown = markdown_quote(cite.label if label else cite.title)
    if not quote:
        return f"- **{shown}** {markdown_quote_marker(cite)}"
    return f"- **{shown}**: {markdown_quote(cite.quote)} {markdown_quote_marker(cite)}"


def packed(cites: Sequence[Hit], lines: int) -> list[str]:
    """Titles with their marks, one bullet each, or several to a bullet so they fit in ``lines`` lines."""
    if len(cites) <= lines:
        return [bullet(c, quote=False, label=False) for c in cites]
    per = -(-len(cites) // max(lines, 1))
    out = []
    for start in range(0, len(cites), per):
        group = cites[start : start + per]
        out.append("- " + "; ".join(f"{markdown_quote(c.title)} {markdown_quote_marker(c)}" for c in group))
    return out


def area(best: Hit, others: Sequence[Hit]) -> str:
    """One section's answer: its name, its quotes with marks, then the runners-up as "See also"."""
    lines = [heading(name(best)), ""]
    lines += quote_lines(best)
    if others:
        lines += ["", f"{SEE_ALSO} " + "; ".join(markdown_quote(name(h)) for h in others)]
    return "\n".join(lines)


def decline(reason: str | None, near: Sequence[str], examples: Sequence[str]) -> str:
    """A decline: that the corpus doesn't cover it (and why), the closest sections, example questions."""
    parts = [DECLINE]
    if reason in DECLINE_TYPE:
        parts.append(DECLINE_TYPE[reason])
    text = " ".join(parts)
    if near:
        text += f" {CLOSEST} " + "; ".join(markdown_quote(n) for n in near) + "."
    if examples:
        text += f"\n\n{TRY} " + " · ".join(f"*{markdown_quote(e)}*" for e in examples)
    return text
