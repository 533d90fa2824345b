"""Find the section structure of one document: its title, its intro and its sections.

Works on normalized text split into lines, and returns an :class:`Outline`; turning
parts into :class:`~alliance_qa.corpus.Section` objects is :mod:`alliance_qa.corpus`'s job.

Markdown (``.md``)
    A heading (``#``..``######``, or a line underlined with ``===``/``---``) starts a
    section titled with its own text (``## 3. Title`` keeps its number); lines inside
    fenced code blocks (````` ``` ````` or ``~~~``, any length, any indentation) are code,
    never headings.  A first ``#`` heading that is the only ``#`` heading is the
    document's title, not a section.  A heading with no text of its own is not a
    section; one with a very short text (under ``SHORT_WORDS`` words) followed by a
    deeper heading lends that text to its first sub-section.  YAML front matter is
    dropped (its ``title:`` is the document title), and so are HTML comments and the marker
    lines of call-out boxes ("> [!NOTE]", '!!! tip').  A heading
    repeated under different parents is titled with its parent ("WSGI Transport: Example");
    a first line of prose is no title (the caller names the document after its file).
Plain text (``.txt``)
    A numbered line ``N. Title`` starts a section only when it belongs to the
    document's section numbering: the best run of consecutive numbers
    (``k, k+1, ...``; a few missing numbers cost a little) whose lines look like
    titles (short, no closing full stop, standing alone between blank lines scores
    best) with body text between them.
    Numbered list items (consecutive numbers on consecutive lines with nothing
    between them) are never headings, nor are table of contents entries (dot leaders and
    a page number), nor gappy numbers starting late after most of the text.  A run-in
    heading ("2. Grant of Licence. Subject to ...") is titled by its phrase.  Under section ``N``, lines ``N.1.  Title``, ``N.1.2  Title`` start its
    sub-sections, titled as printed.  Without such numbering, a FAQ's "Q: ..." lines start
    sections titled with their question; otherwise short title-like lines
    standing alone (a book's "CHAPTER I." or a Roman "IX" over its title too; only those in
    capitals when three or more are) before at least ``MIN_BODY_WORDS`` words of text are
    section titles, if there are at least two of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

#: A Markdown document's first line (with no heading or front matter to title it) is its title only if it has at
#: most this many words and no sentence ends in it; otherwise the document is named after its file.
TITLE_WORDS = 15
#: Plain text: a numbered line's text opening with a phrase of at most this many words and a full stop ("4.
#: Redistribution. You may ...") has that phrase as its title and the rest as its section's first words.
RUN_IN_WORDS = 6
#: A Markdown section with fewer words than this, followed by a sub-heading, is merged into it.
SHORT_WORDS = 8
#: Plain text: an un-numbered title line needs at least this many words of text after it.
MIN_BODY_WORDS = 15
#: Plain text: what a numbered heading loses for each list its section link would cut (a heading scores 1-4).
LINK_PENALTY = 0.5
#: Plain text: what a chain of numbered headings loses for each numbered line before its first heading.
SKIP_PENALTY = 0.75
#: Plain text: what a link between two numbered headings loses per number missing between them (at most MAX_SKIPPED).
GAP_PENALTY = 1.0
MAX_SKIPPED = 4

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_NUMBER_TITLE = re.compile(r"^(\d{1,3})[.)]\s+(\S.*)$")
_NUMBERED_LINE = re.compile(r"^\s{0,8}(\d{1,4})[.)]\s+(\S.*)$")
#: A division standing alone: "CHAPTER I.", "Chapter 12", "PART TWO:", "Book III. The Return", "Article 5.".
_DIVISION = re.compile(
    r"^(?:chapter|part|book|volume|act|scene|appendix|lesson|unit|article|section|clause|rule|step|day|week)\s+(?:\d{1,3}|[ivxlc]{1,7}|one|two|three|four|five|six|"
    r"seven|eight|nine|ten|eleven|twelve|[a-z]+teen|twenty(?:-\w+)?|thirty(?:-\w+)?)\b[.:]?(?:\s+\S.{0,80})?$",
    re.IGNORECASE,
)
#: A run-in heading: a short capitalised phrase closed by a full stop, alone or before the section's first words.
_RUN_IN = re.compile(r"^([A-Z][^.!?;:,]{0,80}?)\.(?:\s+\S.*)?$")
#: A chapter's number alone on its line, in Roman numerals: "IX", "XIV.".
_ROMAN_LINE = re.compile(r"^[IVXLC]{1,7}\.?$")
#: Project Gutenberg's lines around the book itself, and its catalogue title.
_BOOK_START = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG EBOOK", re.IGNORECASE)
_BOOK_END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG EBOOK", re.IGNORECASE)
_BOOK_TITLE = re.compile(r"^Title:\s*(\S.*?)\s*$")
#: A FAQ's question line: "Q: ...", "Q. ...", "Question: ...".
_QUESTION_LINE = re.compile(r"^\s{0,4}(?:Q|Question)\s*[:.)]\s+(\S.*)$")
#: A sub-section's heading in plain text: "4.1.  Title", "4.1.2 Title" (the numbers are checked against its section's).
_DOTTED_LINE = re.compile(r"^\s{0,8}(\d{1,4}(?:\.\d{1,3}){1,4})\.?\s+(\S.*)$")
#: A table of contents entry: a title, dot leaders and a page number ("1. Introduction ........ 4").
_CONTENTS_ENTRY = re.compile(r"(?:\.\s?){4,}\s*(?:\d+|[ivxlc]+)$", re.IGNORECASE)
_LIST_OR_TABLE = re.compile(r"^\s*([-*+>|]|\d{1,3}[.)])\s")
#: The marker line of a call-out box: GitHub's "> [!NOTE]", MkDocs' '!!! tip "Title"' / '??? note' (its title kept).
_CALLOUT = re.compile(
    r'^\s*(?:>\s*\[!(?:NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]|(?:!!!|\?\?\?\+?)\s+[\w-]+(?:\s+"([^"]*)")?)\s*$',
    re.IGNORECASE,
)
_FRONT_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.IGNORECASE)


@dataclass
class Part:
    """One section's raw material: printed number, title, body lines and heading depth."""

    number: int | None
    title: str
    lines: list[str] = field(default_factory=list)
    level: int = 1
    #: The title of the heading it sits under, or "" (a top section).
    parent: str = ""


@dataclass
class Outline:
    """A document's title, the lines before its first section, and its sections."""

    title: str
    head: list[str]
    parts: list[Part]


def words(lines: list[str]) -> int:
    """How many white-space separated words ``lines`` hold."""
    return sum(len(line.split()) for line in lines)


def clean_title(title: str) -> str:
    """Drop inline Markdown from a heading: links, code marks, ``*`` emphasis, ``{#anchor}``."""
    title = re.sub(r"\s*\{#[^}]*\}\s*$", "", title)
    title = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", title)
    title = re.sub(r"(\*\*|[`*])", "", title)
    return " ".join(title.split())


def first_line(lines: list[str]) -> str:
    """The first non-blank line, without heading marks, cut to 120 characters at a word break."""
    for line in lines:
        text = clean_title(re.sub(r"\s+#+\s*$", "", re.sub(r"^\s*#{1,6}\s+", "", line)))
        if text:
            return text if len(text) <= 120 else text[:120].rsplit(" ", 1)[0]
    return ""


def outline(lines: list[str], markdown: bool) -> Outline:
    """Split ``lines`` (one document, normalized) into its title, intro lines and sections."""
    return _markdown(lines) if markdown else _plain(lines)


# --- Markdown ---------------------------------------------------------------------------------


def _front_matter(lines: list[str]) -> tuple[str, list[str]]:
    """Return the front matter's ``title:`` (or "") and the lines after the front matter."""
    if not lines or lines[0].strip() != "---":
        return "", lines
    for end in range(1, min(len(lines), 200)):
        if lines[end].strip() in ("---", "..."):
            title = next((m.group(1) for m in map(_FRONT_TITLE.match, lines[1:end]) if m), "")
            return title.strip("\"'"), lines[end + 1 :]
    return "", lines


def _heading(title: str, level: int, before: Sequence[Part] = ()) -> Part:
    """The section a heading of ``level`` starts, after the sections ``before`` it (its parent is among them)."""
    title = clean_title(title)
    parent = next((p.title for p in reversed(before) if p.level < level), "")
    numbered = _NUMBER_TITLE.match(title)
    if numbered:
        return Part(int(numbered.group(1)), numbered.group(2).strip(), [], level, parent)
    return Part(None, title, [], level, parent)


def _qualify_repeats(parts: list[Part]) -> list[Part]:
    """Title each heading that repeats within the document with the heading it sits under, when that tells the
    repeats apart: two "Example" sections under "WSGI Transport" and "ASGI Transport" become
    "WSGI Transport: Example" and "ASGI Transport: Example"."""
    groups: dict[str, list[Part]] = {}
    for part in parts:
        groups.setdefault(part.title.casefold(), []).append(part)
    for group in groups.values():
        parents = [p.parent.casefold() for p in group]
        if len(group) > 1 and all(parents) and len(set(parents)) == len(group):
            for part in group:
                part.title = f"{part.parent}: {part.title}"
    return parts


def _head_title(head: list[str]) -> str:
    """The first line of ``head`` if it reads as a title: a paragraph of its own (not the first line of a wrapped
    one) of at most :data:`TITLE_WORDS` words with no sentence ending in it; else ""."""
    rows = [i for i, line in enumerate(head) if line.strip()]
    if not rows or (rows[0] + 1 < len(head) and head[rows[0] + 1].strip()):
        return ""
    line = first_line(head)
    return line if len(line.split()) <= TITLE_WORDS and not re.search(r"[.!?](?:\s|$)", line) else ""


def _markdown(lines: list[str]) -> Outline:
    front_title, lines = _front_matter(lines)
    head: list[str] = []
    parts: list[Part] = []
    fence, comment = "", False
    for line in lines:
        body = parts[-1].lines if parts else head
        if fence:
            closing = _FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) and not closing.group(2).strip():
                fence = ""
            body.append(line)
            continue
        if comment or line.lstrip().startswith("<!--"):  # HTML comments are not shown: not text, not headings
            comment = "-->" not in line
            if comment or line.rstrip().endswith("-->"):
                continue
        opening = _FENCE.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = opening.group(1)
            body.append(line)
            continue
        atx = _ATX.match(line)
        text = re.sub(r"(^|\s+)#+$", "", atx.group(2) or "") if atx else ""  # "## Title ##", but "## C#" is C#
        if atx and clean_title(text):
            parts.append(_heading(text, len(atx.group(1)), parts))
            continue
        setext = _SETEXT.match(line)
        if setext and _underlines(body):
            parts.append(_heading(body.pop().strip(), 1 if setext.group(1)[0] == "=" else 2, parts))
            continue
        callout = _CALLOUT.match(line)
        if callout:  # "> [!NOTE]", '!!! warning "Deprecated"': a box's marker, not text (its own title is)
            if callout.group(1):
                body += [callout.group(1), ""]
            continue
        body.append(line)

    title = front_title
    top = [p for p in parts if p.level == 1]
    if not front_title and parts and parts[0].level == 1 and len(top) == 1:
        first = parts.pop(0)
        title = title or (f"{first.number}. {first.title}" if first.number is not None else first.title)
        head += first.lines
    elif top:
        title = title or top[0].title
    # A first line of prose is no title: the caller names the document after its file instead.
    return Outline(title or _head_title(head), head, _qualify_repeats(_merge_short(parts)))


def _underlines(body: list[str]) -> bool:
    """True if the last line of ``body`` is a one-line paragraph that a ``===``/``---`` line can underline."""
    if not body or not body[-1].strip() or _LIST_OR_TABLE.match(body[-1]) or body[-1].startswith(("    ", "\t")):
        return False
    return len(body) == 1 or not body[-2].strip()


def _merge_short(parts: list[Part]) -> list[Part]:
    """Drop headings with no text; lend a very short text to the sub-section that follows it."""
    kept: list[Part] = []
    for part in reversed(parts):
        size = words(part.lines)
        if size == 0:
            continue
        if size < SHORT_WORDS and kept and kept[-1].level > part.level:
            kept[-1].lines[:0] = [*part.lines, ""]
            continue
        kept.append(part)
    return kept[::-1]


# --- Plain text -------------------------------------------------------------------------------


def _book_body(lines: list[str]) -> tuple[str, list[str]]:
    """A Project Gutenberg text's ``Title:`` and the lines between its START and END marker lines (the licence and
    the catalogue data around them are not the book); ``("", lines)`` for any other text."""
    start = next((i for i, line in enumerate(lines) if _BOOK_START.match(line)), None)
    if start is None:
        return "", lines
    end = next((i for i in range(start + 1, len(lines)) if _BOOK_END.match(lines[i])), len(lines))
    title = next((m.group(1) for m in map(_BOOK_TITLE.match, lines[:start]) if m), "")
    return title, lines[start + 1 : end]


def _plain(lines: list[str]) -> Outline:
    book_title, lines = _book_body(lines)
    title = book_title or first_line(lines)
    starts = _numbered_sections(lines) or _questions(lines) or _title_lines(lines, first=not book_title)
    if not starts:
        return Outline(title, list(lines), [])
    parts: list[Part] = []
    for i, (row, number, heading) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(lines)
        body = lines[row + 1 : end]
        numbered = _NUMBERED_LINE.match(lines[row]) if number is not None else None
        rest = numbered.group(2).strip()[len(heading) + 1 :].strip() if numbered else ""
        if rest:  # a run-in heading: the rest of its line opens the section
            body = [rest, *body]
        if body and re.fullmatch(r"\s*(=|-){3,}\s*", body[0]):
            body = body[1:]
        first = next((k for k, line in enumerate(body) if line.strip()), None)
        if first is not None and heading.endswith(f" {body[first].strip()}"):
            body = body[first + 1 :]  # a title line the heading took in ("CHAPTER I." over its title, "IX", "THE ...")
        parts.append(Part(number, heading, body))
        if number is not None:
            parts += _subsections(parts[-1])
    return Outline(title, lines[: starts[0][0]], _merge_short(parts) if len(parts) > len(starts) else parts)


def _subsections(part: Part) -> list[Part]:
    """Split off the sub-sections numbered under ``part`` ("4.1.  Authorization Code Grant", "4.1.2  Response"
    under section 4): short title lines standing alone, their numbers rising in document order.  ``part`` keeps
    the text before the first; each is titled as printed and nested by its depth."""
    prefix = f"{part.number}."
    rows: list[tuple[int, str, tuple[int, ...]]] = []
    last: tuple[int, ...] = (part.number or 0,)
    for row, line in enumerate(part.lines):
        m = _DOTTED_LINE.match(line)
        if not m or not m.group(1).startswith(prefix) or (row and part.lines[row - 1].strip()):
            continue
        title = m.group(2).strip()
        if not title[0].isupper() or title.endswith((".", ",", ";", ":")) or len(title.split()) > 15 \
                or _CONTENTS_ENTRY.search(title):
            continue
        number = tuple(int(n) for n in m.group(1).split("."))
        if number > last:
            rows.append((row, f"{m.group(1)} {title}", number))
            last = number
    subsections = []
    for i, (row, title, number) in enumerate(rows):
        end = rows[i + 1][0] if i + 1 < len(rows) else len(part.lines)
        subsections.append(Part(None, title, part.lines[row + 1 : end], len(number), f"{part.number}. {part.title}"))
    if rows:
        part.lines = part.lines[: rows[0][0]]
    return subsections


def _numbered_sections(lines: list[str]) -> list[tuple[int, int | None, str]]:
    """The rows, numbers and titles of the numbered lines that form the document's section numbering."""
    blank = [not line.strip() for line in lines]

    def neighbour(row: int, step: int) -> int | None:
        row += step
        while 0 <= row < len(lines) and blank[row]:
            row += step
        return row if 0 <= row < len(lines) else None

    numbered = {row: m for row, m in enumerate(map(_NUMBERED_LINE.match, lines)) if m}
    candidates: list[tuple[int, int, str, int]] = []  # row, number, title, score
    for row, m in numbered.items():
        number, title = int(m.group(1)), run_in_title(m.group(2).strip())
        if title.endswith((".", ",", ";", ":")) or len(title) > 120 or len(title.split()) > 15:
            continue
        if _CONTENTS_ENTRY.search(title):
            continue  # the table of contents names the section; the heading comes later
        before, after = neighbour(row, -1), neighbour(row, 1)
        if (before in numbered and int(numbered[before].group(1)) == number - 1) or (
            after in numbered and int(numbered[after].group(1)) == number + 1
        ):
            continue  # a list item: the numbers before or after it follow with nothing between
        score = 1 + (row == 0 or blank[row - 1]) + (row + 1 == len(lines) or blank[row + 1])
        score += title[0].isupper() or title[0].isdigit()
        candidates.append((row, number, title, score))
    # A run-in heading's line carries its section's first words: it counts as body text of its own section.
    heads = {c[0] for c in candidates if len(c[2]) + 1 >= len(numbered[c[0]].group(2).strip())}
    # body[r] = how many non-blank lines, other than headings standing alone, come before row r
    body = [0]
    for row in range(len(lines)):
        body.append(body[-1] + (0 if blank[row] or row in heads else 1))

    # The best chain ending at each candidate: rising numbers with body text between.  A link costs
    # LINK_PENALTY per list it seems to cut (see _gap_cost) and GAP_PENALTY per number it skips (a
    # deleted section); starting after other numbered lines costs SKIP_PENALTY each (a list restarts
    # its numbers inside a section, the document's numbering comes first); ties go to the nearer link.
    best: list[tuple[float, int]] = []  # (chain score ending here, previous candidate or -1)
    by_number: dict[int, list[int]] = {}
    for i, (row, number, _, score) in enumerate(candidates):
        chain: tuple[float, int] = (score - SKIP_PENALTY * i, -1)
        for skipped in range(MAX_SKIPPED + 1):
            for j in reversed(by_number.get(number - 1 - skipped, [])[-4:]):
                if i - j <= 64 and body[row] - body[candidates[j][0]] > 0:
                    cost = LINK_PENALTY * _gap_cost(candidates[j + 1 : i], number) + GAP_PENALTY * skipped
                    if best[j][0] + score - cost > chain[0]:
                        chain = (best[j][0] + score - cost, j)
        best.append(chain)
        by_number.setdefault(number, []).append(i)
    ends = [i for i, c in enumerate(candidates) if body[len(lines)] - body[c[0]] > 0]
    if not ends:
        return []
    end = max(ends, key=lambda i: (best[i][0], -i))
    if best[end][0] < 4:
        return []
    chosen: list[tuple[int, int | None, str]] = []
    while end >= 0:
        row, number, title, _ = candidates[end]
        chosen.append((row, number, title))
        end = best[end][1]
    chosen.reverse()
    numbers = [n for _, n, _ in chosen if n is not None]
    skipped = numbers[-1] - numbers[0] + 1 - len(numbers)
    if numbers[0] > 2 and skipped and body[chosen[0][0]] * 2 > body[len(lines)]:
        return []  # gappy numbers that start late, after most of the text: a list's or a table's lines, not sections
    return chosen


def run_in_title(text: str) -> str:
    """The title of a numbered line's text: a run-in heading's ("Grant of Copyright License. Subject to ..." ->
    "Grant of Copyright License", "Definitions." -> "Definitions"), else the text itself."""
    run_in = _RUN_IN.match(text)
    if run_in and len(run_in.group(1).split()) <= RUN_IN_WORDS:
        return run_in.group(1)
    return text


def _gap_cost(between: list[tuple[int, int, str, int]], number: int) -> int:
    """How badly a link to a heading numbered ``number`` cuts the numbered lines ``between`` the two headings.

    Lines between two headings should read as lists (``1, 2, 3 ...``, each restarting at 1).  Each
    line that does not is one point; two more if the heading would simply continue the last list.
    """
    cost, current = 0, None
    for _, n, _, _ in between:
        if n == 1:
            current = 1
        elif current is not None and n == current + 1:
            current = n
        else:
            cost += 1
    return cost + 2 * (current is not None and number == current + 1)


def roman_value(numeral: str) -> int:
    """The value of an upper-case Roman ``numeral`` ("XIV" -> 14); 0 if it is not one."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
    if not numeral or any(c not in values for c in numeral):
        return 0
    total = sum(-values[a] if values[a] < values[b] else values[a] for a, b in pairwise(numeral))
    return total + values[numeral[-1]]


def _in_capitals(title: str) -> bool:
    """Whether ``title`` is written in capitals, as a heading ("THE ORIGIN OF MUSIC", "PREFACE"), not an acronym."""
    letters = re.sub(r"[^\w]|\d|_", "", title)
    return letters.isupper() and (len(title.split()) >= 2 or len(letters) >= 5)


def _questions(lines: list[str]) -> list[tuple[int, int | None, str]]:
    """A FAQ's questions ("Q: How do I reset my password?" opening a paragraph, the answer after it), when there
    are at least two: each starts a section titled with the question."""
    found: list[tuple[int, int | None, str]] = []
    for row, line in enumerate(lines):
        m = _QUESTION_LINE.match(line)
        if m and (row == 0 or not lines[row - 1].strip()) and any(s.strip() for s in lines[row + 1 : row + 3]):
            question = m.group(1).strip()
            found.append((row, None, question if len(question) <= 120 else question[:120].rsplit(" ", 1)[0]))
    return found if len(found) >= 2 else []


def _title_lines(lines: list[str], *, first: bool = True) -> list[tuple[int, int | None, str]]:
    """Short title-like lines standing alone before real text (a ``.txt`` without numbering); the first line is
    the document's title and not among them when ``first``."""
    top = next((row for row, line in enumerate(lines) if line.strip()), len(lines))
    found: list[tuple[int, int | None, str]] = []
    divisions: set[int] = set()  # rows of a book's divisions: kept whatever their case
    taken = -1  # a title line a division took in
    roman = 0  # the last Roman chapter number: the next is one more (or I, a new part)
    for row in range(top + 1 if first else top, len(lines) - 1):
        text = lines[row].strip()
        if not text or (row and lines[row - 1].strip()) or row == taken:
            continue
        if _DIVISION.match(text):  # "CHAPTER I." alone, or over its title line: "CHAPTER I." / "Down the Hole"
            after = lines[row + 1].strip()
            named = after and (row + 2 >= len(lines) or not lines[row + 2].strip()) and len(after.split()) <= 10
            found.append((row, None, f"{text} {after}" if named else text.rstrip(".:")))
            divisions.add(row)
            continue
        if _ROMAN_LINE.match(text) and not lines[row + 1].strip():  # "IX" alone, then its title line
            below = next((r for r in range(row + 2, min(row + 4, len(lines))) if lines[r].strip()), None)
            title = lines[below].strip() if below is not None else ""
            value = roman_value(text.rstrip("."))
            if below is not None and title[0].isupper() and len(title.split()) <= 12 and value in (1, roman + 1):
                found.append((row, None, f"{text.rstrip('.')}. {title}"))
                divisions.add(row)
                taken, roman = below, value
            continue
        underline = bool(re.fullmatch(r"(=|-){3,}", lines[row + 1].strip()))
        alone = not lines[row + 1].strip()
        if not (underline or alone) or len(text) > 80 or len(text.split()) > 10:
            continue
        if not text[0].isupper() or text.endswith((".", ",", ";", ":", "!")) or _NUMBERED_LINE.match(text):
            continue
        found.append((row, None, " ".join(text.split())))  # a table's "CHAP.    PAGE": one space
    capitals = [f for f in found if f[0] in divisions or _in_capitals(f[2])]
    if len(capitals) >= 3:  # a text that writes its titles in capitals: its other short lines are verse, captions
        found = capitals
    kept: list[tuple[int, int | None, str]] = []
    for i, start in enumerate(found):
        end = found[i + 1][0] if i + 1 < len(found) else len(lines)
        body = [line for line in lines[start[0] + 1 : end] if not re.fullmatch(r"\s*(=|-){3,}\s*", line)]
        if words(body) >= MIN_BODY_WORDS:
            kept.append(start)
    return kept if len(kept) >= 2 else []
