"""Units from sections: the texts a build embeds, and how each is cut from what the model reads.

A section is embedded as *units*: its title, its text (one unit per model
window) and each of its sentences.  Four ways to make them (the ``chunking``
setting, env ``ALLIANCE_QA_CHUNKING``):

``"sentences"``: the section's body (``"Title. text"`` for a
titled section) is cut at sentence boundaries into non-overlapping
:class:`Window` s of at most the model's word pieces, filled evenly, each read
once; the title and every sentence are also embedded alone.  Every word goes
through the model about twice (window + its sentence), against two to three
times for the overlapping windows of "separate".

``"averaged"`` (the default): the same windows, title and sentences, but a window is not
read by the model: its vector is the normalized mean of the vectors of what it
holds (the title, when the window starts with it, and its sentences, weighted
by their words, the opening counting more; :func:`window_parts`).  Every word goes through the model
once, and every title and sentence vector is exactly the one "sentences"
gives (so are the quotes); only the window vectors are approximate.

``"pooled"``: every word goes through the model once.  The same windows are
run through the transformer once each; the window vector is the mean of all
its token embeddings (exactly what the model's own pipeline gives for that
text), and each sentence's vector (and the title's, which the body starts with)
the mean of the token embeddings over its character span inside the window,
L2-normalized.  A sentence longer than a window is cut into consecutive word
runs, each its own window.

``"separate"``: the earlier scheme: the title, overlapping windows of
:data:`WINDOW_WORDS` words and every sentence are each embedded alone.  Kept
for comparison (``benchmarks/``) and as a fallback.

A sentence pooled inside its window carries its context and differs from the
same sentence embedded alone; ARCHITECTURE.md gives the measured effect.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .corpus import Section, split_sentences
from .errors import BuildError
from .load import Unit

#: Longest run of words embedded as one text in the "separate" scheme; MiniLM reads about 256 word pieces.
WINDOW_WORDS = 160
WINDOW_STRIDE = 120
#: The chunking schemes; the first is the default.
CHUNKINGS = ("averaged", "sentences", "pooled", "separate")
ENV_CHUNKING = "ALLIANCE_QA_CHUNKING"
#: Word pieces a window holds besides the model's two special tokens ([CLS] and [SEP]).
SPECIAL_TOKENS = 2

Span = tuple[int, int]
TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class Window:
    """One text run through the model once, and the units pooled from it.

    ``spans[i]`` is the character span of ``text`` whose token embeddings make
    ``units[i]``'s vector; ``None`` means the whole window.
    """

    text: str
    units: tuple[Unit, ...]
    spans: tuple[Span | None, ...]


def chunking_setting(value: str | None = None, current: str | None = None) -> str:
    """Return the chunking scheme: ``value``, else ``ALLIANCE_QA_CHUNKING``, else ``current`` (the scheme of the
    index being updated, so a build never re-embeds everything for a setting nobody changed), else ``"averaged"``.

    Raises :class:`~alliance_qa.errors.BuildError` naming the choices for anything else.
    """
    kept = current if current in CHUNKINGS else None
    chosen = (value or os.environ.get(ENV_CHUNKING) or kept or CHUNKINGS[0]).strip().lower()
    if chosen not in CHUNKINGS:
        raise BuildError(f"chunking {chosen!r} is not one of {', '.join(CHUNKINGS)}: set {ENV_CHUNKING} to one of them")
    return chosen


def word_count_tokens(texts: Sequence[str]) -> list[int]:
    """A rough word-piece count (words x 1.5) for embedders without a tokenizer."""
    return [-(-3 * len(t.split()) // 2) for t in texts]


def _body(section: Section) -> tuple[str, int]:
    """The text embedded for ``section`` and where its own text starts in it (after ``"Title. "``).

    Every titled section, numbered or not, is read with its title in front, unless its text already starts with it.
    """
    if not section.title or section.text.startswith(section.title):
        return section.text, 0
    prefix = f"{section.title}. "
    return prefix + section.text, len(prefix)


# --------------------------------------------------------------------------- "separate": the earlier scheme


def word_windows(text: str, size: int = WINDOW_WORDS, stride: int = WINDOW_STRIDE) -> list[str]:
    """Cut ``text`` into overlapping windows of at most ``size`` words, each an exact substring."""
    if len(text.split()) <= size:  # the common case, without building every word's span
        return [text] if text.strip() else []
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    windows = []
    for start in range(0, len(spans), stride):
        chunk = spans[start : start + size]
        windows.append(text[chunk[0][0] : chunk[-1][1]])
        if start + size >= len(spans):
            break
    return windows


def section_units(section: Section) -> tuple[list[Unit], list[str]]:
    """The "separate" scheme's units for ``section`` (each embedded alone) and notes about long texts."""
    notes: list[str] = []
    units = [Unit(section.id, "title", section.title)] if section.title else []
    body, _ = _body(section)
    windows = word_windows(body)
    if len(windows) > 1:
        notes.append(
            f"section {section.title!r} in {section.source} has {len(body.split())} words, more than the model "
            f"reads at once: embedded as {len(windows)} overlapping windows of {WINDOW_WORDS} words"
        )
    units += [Unit(section.id, "section", w) for w in windows]
    sentences = section.sentences or tuple(split_sentences(section.text))
    for i, sentence in enumerate(sentences):
        units += [Unit(section.id, "sentence", w, i) for w in word_windows(sentence)]
    return units, notes


# --------------------------------------------------------------------------- "pooled": one pass


def _sentence_spans(text: str, sentences: Sequence[str]) -> list[Span]:
    """Each sentence's character span in ``text`` (sentences are exact substrings, in order)."""
    spans: list[Span] = []
    cursor = 0
    for sentence in sentences:
        start = text.find(sentence, cursor)
        if start < 0:  # not a substring after all (hand-made Section): search from the start
            start = max(text.find(sentence), cursor)
        end = min(start + len(sentence), len(text))
        spans.append((start, end))
        cursor = max(cursor, end)
    return spans


def _split_long(text: str, start: int, end: int, budget: int, count: TokenCounter) -> list[Span]:
    """Cut ``text[start:end]`` into consecutive word runs of at most ``budget`` word pieces."""
    words = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]
    sizes = count([text[a:b] for a, b in words])
    runs: list[Span] = []
    first, used = 0, 0
    for i, size in enumerate(sizes):
        if used and used + size > budget:
            runs.append((words[first][0], words[i - 1][1]))
            first, used = i, 0
        used += size
    if words:
        runs.append((words[first][0], words[-1][1]))
    return runs


def section_windows(
    section: Section, budget: int, count: TokenCounter, *, pool: bool = True
) -> tuple[list[Window], list[Unit], bool]:
    """The "pooled" (``pool``), "sentences" or "averaged" scheme for ``section``: the texts the model reads, and its
    units (in the order :func:`window_parts` relies on: the title, then each window followed by its sentences).

    ``budget`` is the number of word pieces a window may hold; ``count`` counts
    word pieces.  With ``pool`` the title and sentence vectors are pooled from
    the windows; without, each title and sentence is a text of its own.
    Returns ``(windows, units, long)``, ``long`` when the section needed more
    than one window.
    """
    body, offset = _body(section)
    sentences = section.sentences or tuple(split_sentences(section.text))
    spans = [(a + offset, b + offset) for a, b in _sentence_spans(section.text, sentences)]
    sizes = count([body[a:b] for a, b in spans]) if spans else []
    title_size = count([body[: offset - 1]])[0] if offset else 0
    # Pieces: (sentence index, span, word pieces); a sentence longer than a window becomes several pieces.
    pieces: list[tuple[int, Span, int]] = []
    for i, (span, size) in enumerate(zip(spans, sizes, strict=True)):
        if size + title_size <= budget:
            pieces.append((i, span, size))
        else:
            for run in _split_long(body, span[0], span[1], budget - title_size, count):
                pieces.append((i, run, min(budget - title_size, count([body[run[0] : run[1]]])[0])))
    total = sum(size for _, _, size in pieces)
    windows_needed = max(1, -(-total // max(1, budget - title_size)))
    target = -(-total // windows_needed)  # fill windows evenly rather than leave a small last one
    groups: list[list[tuple[int, Span, int]]] = []
    used = 0
    for piece in pieces:
        if groups and used + piece[2] <= budget - title_size and used < target:
            groups[-1].append(piece)
            used += piece[2]
        else:
            groups.append([piece])
            used = piece[2]
    title_unit = Unit(section.id, "title", section.title) if section.title else None
    windows: list[Window] = []
    units: list[Unit] = []
    if title_unit is not None and not offset:  # the title is not part of the body: read it alone
        windows.append(Window(section.title, (title_unit,), (None,)))
        units.append(title_unit)
    for n, group in enumerate(groups):
        start, end = group[0][1][0], group[-1][1][1]
        prefix = body[:offset]
        text = prefix + body[start:end]
        shift = offset - start
        w_units: list[Unit] = []
        w_spans: list[Span | None] = []
        if n == 0 and title_unit is not None and offset:
            w_units.append(title_unit)
            w_spans.append((0, offset - 1))  # "Title." without the space
        w_units.append(Unit(section.id, "section", text))
        w_spans.append(None)
        for i, (a, b), _ in group:
            w_units.append(Unit(section.id, "sentence", body[a:b], i))
            w_spans.append((a + shift, b + shift))
        if pool:
            windows.append(Window(text, tuple(w_units), tuple(w_spans)))
        else:
            windows += [Window(text if s is None else u.text, (u,), (None,)) for u, s in zip(w_units, w_spans, strict=True)]
        units += w_units
    if not groups and body.strip():  # no sentences at all (hand-made Section): the body is one window
        unit = Unit(section.id, "section", body)
        windows.append(Window(body, (unit,), (None,)))
        units.append(unit)
    return windows, units, len(groups) > 1


def window_parts(units: Sequence[Unit]) -> dict[int, list[int]]:
    """The "averaged" scheme's recipe for one section's ``units``, as :func:`section_windows` lists them (the title,
    then each text window followed by its sentences): ``{window position: positions of the units averaged}``.

    A window averages the sentences that follow it and, when its text starts with the title (``"Title. ..."``), the
    title.  A window with nothing to average (a section without sentences) is not in the result: it is read whole.
    """
    title = next((i for i, u in enumerate(units) if u.kind == "title"), None)
    parts: dict[int, list[int]] = {}
    for i, unit in enumerate(units):
        if unit.kind != "section":
            continue
        held = []
        for j in range(i + 1, len(units)):
            if units[j].kind != "sentence":
                break
            held.append(j)
        if held:
            lead = [title] if title is not None and unit.text.startswith(f"{units[title].text}. ") else []
            parts[i] = lead + held
    return parts


def section_key(section: Section) -> str:
    """What decides a section's pooled vectors: equal keys give equal units and vectors (same model)."""
    body, _ = _body(section)
    return hashlib.sha256("\x00".join([section.title, body, *section.sentences]).encode()).hexdigest()
