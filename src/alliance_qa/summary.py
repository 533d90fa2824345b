"""Answers about the whole corpus: an overview, the list of sections, and what one side wants.

Each is computed once per loaded index (memoized on the retriever) and answered
per document: with one document the answer is that document's; with several,
each document gets its own heading and the whole answer stays within
:data:`MAX_LINES` lines.  Every line quotes and cites corpus text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from . import intent, render
from .retrieve import Retriever
from .types import Answer, Hit

#: A whole-corpus answer stays within about this many lines.
MAX_LINES = 40
#: Several documents: at most this many get their own part of an overview or list.
MAX_DOCUMENTS = 8

#: The sides a "what does X want" question may name: key -> (display name, the names people use for it).
Parties = Mapping[str, tuple[str, tuple[str, ...]]]
#: No parties: the default until a corpus profile names a document's two sides.
NO_PARTIES: Parties = MappingProxyType({})


def _numbered(retriever: Retriever, positions: Sequence[int]) -> list[int]:
    """The numbered sections among ``positions`` or, when a document has none, its headed sections."""
    sections = retriever.sections
    numbered = [i for i in positions if sections[i].number is not None]
    return numbered or [i for i in positions if not retriever.is_intro(i)]


def _intros(retriever: Retriever, positions: Sequence[int]) -> list[int]:
    return [i for i in positions if retriever.is_intro(i)]


def _part(retriever: Retriever, positions: Sequence[int], *, lines: int, section_word: str) -> tuple[list[str], list[Hit]]:
    """One document's overview: its intro's gist, then its sections by title, within ``lines`` lines."""
    out: list[str] = []
    cites: list[Hit] = []
    for i in _intros(retriever, positions):
        gist = tuple(retriever.intro_gist(i, count=2 if lines >= 12 else 1))
        if gist:
            cite = retriever.source(i, gist)
            cites.append(cite)
            out += render.quote_lines(cite)
    areas = [retriever.source(i, (retriever.gist(i),)) for i in _numbered(retriever, positions)]
    if areas:
        word = render.plural(section_word, len(areas))
        out += ["", render.OVERVIEW_AREAS.format(count=len(areas), sections=word)]
        out += render.packed(areas, max(lines - len(out), 1))
        cites += areas
    return out, cites


def _more(rest: int) -> list[str]:
    return ["", render.MORE_DOCUMENTS.format(count=rest)] if rest > 0 else []


def _height(lines: Sequence[str]) -> int:
    """How many lines ``lines`` take when shown (a quote may hold a line break)."""
    return sum(line.count("\n") + 1 for line in lines)


def overview(retriever: Retriever, *, section_word: str = render.SECTION_WORD) -> Answer:
    """Each document's intro gist and its sections, each cited (one heading per document when several)."""
    documents = list(retriever.documents.items())
    if len(documents) == 1:
        lines = [render.heading(render.OVERVIEW_HEAD), ""]
        part, citations = _part(retriever, documents[0][1], lines=MAX_LINES - 2, section_word=section_word)
        return Answer("\n".join(lines + part), tuple(citations), kind="overview")
    candidates = documents[:MAX_DOCUMENTS]
    budget = max((MAX_LINES - 2) // len(candidates) - 2, 3)
    lines = [render.heading(render.OVERVIEW_HEAD)]
    citations = []
    shown = 0
    for document, positions in candidates:
        part, cites = _part(retriever, positions, lines=budget, section_word=section_word)
        block = ["", render.heading(retriever.document_title(document)), *part]
        if shown and _height(lines) + _height(block) > MAX_LINES - 2:  # the rest are counted, not shown
            break
        lines += block
        citations += cites
        shown += 1
    return Answer("\n".join(lines + _more(len(documents) - shown)), tuple(citations), kind="overview")


def area_list(retriever: Retriever, *, section_word: str = render.SECTION_WORD) -> Answer:
    """Every document's sections, one line each (title and the sentence that best sums it up), cited."""
    documents = [(d, _numbered(retriever, p)) for d, p in list(retriever.documents.items())]
    documents = [(d, p) for d, p in documents if p]
    if not documents:
        return overview(retriever, section_word=section_word)
    total = sum(len(p) for _, p in documents)
    if len(documents) == 1:
        areas = [retriever.source(i, (retriever.gist(i),)) for i in documents[0][1]]
        head = render.LIST_HEAD.format(count=total, sections=render.plural(section_word, total))
        body = [render.bullet(c) for c in areas] if total <= MAX_LINES - 2 else render.packed(areas, MAX_LINES - 2)
        return Answer("\n".join([render.heading(head), "", *body]), tuple(areas), kind="list")
    shown = documents[:MAX_DOCUMENTS]
    fits = total + 3 * len(shown) <= MAX_LINES
    budget = max((MAX_LINES - 2) // len(shown) - 2, 1)
    lines = [render.heading(render.LIST_HEAD.format(count=total, sections=render.plural(section_word, total)))]
    citations: list[Hit] = []
    listed = 0
    for document, positions in shown:
        areas = [retriever.source(i, (retriever.gist(i),)) for i in positions]
        block = ["", render.heading(retriever.document_title(document))]
        block += [render.bullet(c) for c in areas] if fits else render.packed(areas, budget)
        if listed and _height(lines) + _height(block) > MAX_LINES - 2:  # the rest are counted, not shown
            break
        lines += block
        citations += areas
        listed += 1
    return Answer("\n".join(lines + _more(len(documents) - listed)), tuple(citations), kind="list")


_CLAUSE = re.compile(r",\s+(?:while|whereas|but|and)\s+|;\s+")
_WISH = re.compile(
    r"\b(?:seeks?|wants?|interested|interest|eager|aims?|needs?|hopes?|opportunity|facing|benefits?|gains?|"
    r"concerns?|cautious|align)\b"
)
_RECEIVES = r"\b(?:provide|offer|give|shield|help|support|protect)\s+(?:\w+\s+){0,1}"
_BOTH = re.compile(r"\b(?:both|mutual|each other|bilateral|two nations|two countries)\b")


def mentions(text: str, parties: Parties) -> list[tuple[int, str]]:
    """``[(position, party)]`` for every name of a side in lower-cased ``text``, in order."""
    found: list[tuple[int, int, str]] = []
    for party, (_, names) in parties.items():
        for alias in sorted(names, key=len, reverse=True):
            for m in re.finditer(rf"\b{re.escape(alias)}(?:'s)?\b", text):
                if not any(s <= m.start() < e for s, e, _ in found):
                    found.append((m.start(), m.end(), party))
    return [(s, p) for s, _, p in sorted(found)]


def clauses(sentence: str, parties: Parties = NO_PARTIES) -> list[str]:
    """``sentence`` split into clauses, each an exact substring of it.

    A split falls at ", while" / ", and" / ";" only where a side is named next
    (a new subject), so a list such as "cyber capabilities, and space exploration"
    stays whole.
    """
    out, start = [], 0
    for m in _CLAUSE.finditer(sentence):
        following = sentence[m.end() :].casefold()
        if any(pos < 40 for pos, _ in mentions(following, parties)):
            out.append(sentence[start : m.start()])
            start = m.end()
    out.append(sentence[start:])
    return [c.strip() for c in out if len(c.split()) >= 4]


def _side_of(clause: str, party: str, parties: Parties) -> int:
    """2 if ``clause`` states what ``party`` wants or receives, 1 if a want both sides share, else 0."""
    text = clause.casefold()
    found = mentions(text, parties)
    wish = _WISH.search(text)
    names = "|".join(re.escape(n) for n in parties[party][1])
    if re.search(rf"{_RECEIVES}(?:{names})\b", text) and not _BOTH.search(text):
        return 2
    if wish:
        before = {p for pos, p in found if pos < wish.start()}
        if before == {party} and not _BOTH.search(text[: wish.start()]):
            return 2
        if len(before) == len(parties) or _BOTH.search(text):
            return 1
    return 0


def _naming_both(retriever: Retriever, parties: Parties) -> list[int]:
    """The numbered sections of the documents that name every side (the only ones a wants answer may quote)."""
    out: list[int] = []
    for _, positions in list(retriever.documents.items()):
        text = " ".join(retriever.sections[i].text.casefold() for i in positions)
        if {p for _, p in mentions(text, parties)} == set(parties):
            out += [i for i in positions if retriever.sections[i].number is not None]
    return out


def wants(
    retriever: Retriever, party: str, *, parties: Parties = NO_PARTIES, section_word: str = render.SECTION_WORD
) -> Answer:
    """What ``party`` wants, section by section: the clauses stating its own wants, then the shared ones."""
    areas = _naming_both(retriever, parties)
    if not areas or party not in parties:
        return overview(retriever, section_word=section_word)
    name = parties[party][0]
    other = next(v[0] for k, v in parties.items() if k != party)
    own: list[Hit] = []
    shared: list[Hit] = []
    for i in areas:
        best: tuple[int, str] | None = None
        for sentence in retriever.sections[i].sentences:
            for clause in clauses(sentence, parties) or [sentence]:
                side = _side_of(clause, party, parties)
                if side and (best is None or side > best[0]):
                    best = (side, clause)
        if best is None:
            shared.append(retriever.source(i, (retriever.gist(i),)))
        else:
            (own if best[0] == 2 else shared).append(retriever.source(i, (best[1],)))
    lines = [render.heading(render.WANTS_HEAD.format(party=name, other=other)), ""]
    lines += [render.bullet(c) for c in own]
    if shared:
        lines += ["", render.WANTS_SHARED.format(other=other)]
        lines += [render.bullet(c) for c in shared]
    return Answer("\n".join(lines), tuple(own + shared), kind=f"{party}_wants")


def whole_corpus(
    retriever: Retriever,
    whole: intent.WholeIntent,
    *,
    section_word: str = render.SECTION_WORD,
    parties: Parties = NO_PARTIES,
) -> Answer:
    """Answer a question about the whole corpus (computed once per loaded index and wording)."""
    key = (whole, section_word, tuple((k, v[0], tuple(v[1])) for k, v in parties.items()))
    cached = retriever.memo.get(key)
    if isinstance(cached, Answer):
        return cached
    if whole.kind == "list":
        answer = area_list(retriever, section_word=section_word)
    elif whole.kind == "wants" and whole.party is not None and whole.party in parties:
        answer = wants(retriever, whole.party, parties=parties, section_word=section_word)
    else:
        answer = overview(retriever, section_word=section_word)
    retriever.memo[key] = answer
    return answer


#: The earlier name of :func:`whole_corpus`.
whole_article = whole_corpus
