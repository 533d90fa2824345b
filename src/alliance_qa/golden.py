"""Golden question sets: reading format 1 (``area``) and 2 (``document`` + ``section``), and matching
them to the corpus they are run on.

Format 2 (``tests/data/README.md``): a header line ``{"golden": 2, "corpus": ..., "documents": [...]}``
(optionally ``layout`` and ``parties``), then one question a line with ``id``, ``kind``, ``question``,
``document``, ``section`` (printed number, heading title or ``"intro"``), ``history``, ``whole``,
``party`` and ``parent``.  Format 1 (``tests/golden.jsonl``) has ``area`` (0 for the intro) and no header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AllianceQAError

#: Kinds of question that name no single section; every other kind names one.
NOT_AREA = frozenset({"offtopic", "followup", "whole"})


@dataclass(frozen=True)
class Item:
    """One golden question."""

    id: str
    kind: str
    question: str
    area: int | str | None  # a printed number, a heading title, "intro" (0 in format 1), or None
    history: tuple[str, ...] = ()
    whole: str | None = None
    document: str | None = None  # the expected document (format 2), relative to the corpus folder
    party: str | None = None  # for a "wants" whole-corpus question: the side asked about
    parent: str | None = None  # for a Markdown sub-heading: the heading it sits under

    @property
    def in_scope(self) -> bool:
        """Whether the article answers it (an area, a whole-article question, or a follow-up with an area)."""
        return self.kind == "whole" or (self.kind != "offtopic" and self.area is not None)


@dataclass(frozen=True)
class Golden:
    """A golden set: its questions and, for format 2, its header (``corpus``, ``documents``, ``layout``...)."""

    path: Path
    items: list[Item]
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> int:
        """1 for the original ``area`` format, 2 for the documented multi-corpus format."""
        return int(self.header.get("golden", 1))


def _expected(value: object) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"section {value!r} must be a number, a heading title or \"intro\"")
    return value


def read_golden(path: Path) -> Golden:
    """Read a golden JSONL file (format 1 or 2); raise :class:`AllianceQAError` naming the line that is wrong."""
    if not path.is_file():
        raise AllianceQAError(
            f"golden set {path} not found: pass --golden PATH (e.g. tests/golden.jsonl in the repository)"
        )
    items = []
    header: dict[str, Any] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if n == 1 and isinstance(row, dict) and "golden" in row:
                header = row
                if row["golden"] not in (1, 2):
                    raise ValueError(f"format {row['golden']!r} is not 1 or 2")
                continue
            # format 2: document + section; format 1: area, 0 being the intro
            area = _expected(row.get("section")) if header else None if row.get("area") is None else int(row["area"])
            items.append(
                Item(
                    id=str(row["id"]),
                    kind=str(row["kind"]),
                    question=str(row["question"]),
                    area="intro" if area == 0 and not header else area,
                    history=tuple(row.get("history") or ()),
                    whole=row.get("whole"),
                    document=row.get("document"),
                    party=row.get("party"),
                    parent=row.get("parent"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise AllianceQAError(f"golden set {path} line {n} is not a valid question ({exc}): fix that line") from exc
    return Golden(path, items, header)


def load_golden(path: Path) -> list[Item]:
    """The questions of a golden JSONL file (see :func:`read_golden`)."""
    return read_golden(path).items


Key = tuple[str, int | str]


def section_key(section: Any) -> Key:
    """How a golden set names ``section``: ``(document, printed number | "intro" | heading title)``."""
    if section.number is not None:
        return (section.source, int(section.number))
    if getattr(section, "intro", section.position == 0):
        return (section.source, "intro")
    return (section.source, str(section.title))


def _same(a: object, b: object) -> bool:
    def norm(x: object) -> object:
        if x == 0 or x == "intro":
            return "intro"
        return " ".join(x.casefold().split()) if isinstance(x, str) else x

    return a is not None and b is not None and norm(a) == norm(b)


def matches(item: Item, key: object) -> bool:
    """Whether ``key`` (a section key, or a bare area) is the section ``item`` expects (or its ``parent``)."""
    document, section = key if isinstance(key, tuple) else (None, key)
    if item.document and document and document != item.document:
        return False
    return _same(section, item.area) or (item.parent is not None and _same(section, item.parent))


def whole_matches(item: Item, kind: str) -> bool:
    """Whether an answer of ``kind`` is the whole-corpus answer ``item`` asks for.

    A "wants" answer's kind names its side (``"<name>_wants"``); format 1 wrote
    the side as its initials ("xy_wants" for "Xa Yb") or first two letters.
    """
    if kind == item.whole:
        return True
    if not kind.endswith("_wants") or not (item.whole or "").endswith("wants"):
        return False
    side = kind[: -len("_wants")]
    if item.whole == "wants":
        return item.party is None or _same(side, item.party)
    short = (item.whole or "")[: -len("_wants")]
    words = side.split()
    return short in {side.casefold(), "".join(w[0] for w in words).casefold(), side[:2].casefold()}


def check_golden(golden: Golden, sections: Sequence[Any]) -> list[Item]:
    """The golden questions, checked against the corpus ``sections`` they are run on.

    Every document of the header and every expected document and section must
    exist, or :class:`AllianceQAError` lists what is missing and how to fix it.
    A format-1 set (no documents) over several documents is pinned to the
    document whose numbered sections fit it and whose words its questions share most.
    """
    keys = [section_key(s) for s in sections]
    documents = sorted({d for d, _ in keys})
    items = list(golden.items)
    missing = [d for d in golden.header.get("documents") or [] if d not in documents]
    if not missing and golden.version == 1 and len(documents) > 1:
        items = _pin(items, sections, keys, documents)
    for item in items:
        if item.area is None:
            continue
        if not any(matches(item, k) for k in keys):
            missing.append(f"{item.id}: {item.document or 'document'} section {item.area!r}")
    if missing:
        shown = "; ".join(missing[:5]) + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
        raise AllianceQAError(
            f"golden set {golden.path} does not match the corpus it is run against (documents: "
            f"{', '.join(documents) or 'none'}): missing {shown}. Run it with --corpus "
            f"{golden.header.get('corpus') or 'the folder it was written for'}"
        )
    return items


def _pin(items: list[Item], sections: Sequence[Any], keys: Sequence[Key], documents: Sequence[str]) -> list[Item]:
    from dataclasses import replace

    wanted = {i.area for i in items if i.area is not None}
    words = {w for i in items for w in re.findall(r"[a-z]{4,}", i.question.casefold())}
    best: tuple[int, str] | None = None
    for document in documents:
        have = [k for k in keys if k[0] == document]
        if not all(any(_same(s, a) for _, s in have) for a in wanted):
            continue
        text = " ".join(s.text.casefold() for s in sections if s.source == document)
        shared = sum(1 for w in words if w in text)
        if best is None or shared > best[0]:
            best = (shared, document)
    if best is None:
        return items
    return [replace(i, document=best[1]) if i.area is not None else i for i in items]
