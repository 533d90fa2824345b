"""The values retrieval and answering hand out: one source type for hits and citations, and :class:`Answer`.

A :class:`Hit` (a section matching a question) and a :class:`Citation` (a
section an answer quotes) are the same frozen value: the section's number as
printed in its document, its title, the score, the sentences quoted, and the
document it comes from (its path relative to the corpus folder, and its title).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Hit:
    """One section matching a question (or cited by an answer), with the sentences quoted, best first.

    ``number`` is the section's number as printed in its document (``None`` for
    an intro or an un-numbered heading); numbers are scoped to ``document``.
    ``scope`` is set on citations when the corpus has several documents: the
    short document name that :attr:`marker` shows so marks never collide.
    """

    number: int | None
    title: str
    score: float
    quote: str
    quotes: tuple[str, ...]
    section_id: str
    section_text: str
    document: str = ""
    document_title: str = ""
    intro: bool = False
    scope: str = field(default="", compare=False)

    @property
    def source(self) -> str:
        """The document's path relative to the corpus folder (same as :attr:`document`)."""
        return self.document

    @property
    def label(self) -> str:
        """``"Energy Resources (2)"`` numbered, ``"Title"`` for an un-numbered heading, ``"Title (intro)"``."""
        if self.number is not None:
            return f"{self.title} ({self.number})"
        return f"{self.title} (intro)" if self.intro else self.title

    @property
    def mark(self) -> str:
        """What the in-text mark shows for this section within its document: the number, ``intro`` or the title."""
        if self.number is not None:
            return str(self.number)
        return "intro" if self.intro else self.title

    @property
    def marker(self) -> str:
        """The in-text citation mark: ``[2]``, ``[intro]``; with several documents ``[guide.md 2]``."""
        return f"[{self.scope} {self.mark}]" if self.scope else f"[{self.mark}]"

    def scoped(self, scope: str) -> Hit:
        """This source with its marks scoped to the document name ``scope`` (``""``: unscoped)."""
        return self if scope == self.scope else replace(self, scope=scope)

    def with_quotes(self, quotes: tuple[str, ...]) -> Hit:
        """This source quoting ``quotes`` instead (the first is :attr:`quote`)."""
        return replace(self, quote=quotes[0], quotes=quotes)

    @classmethod
    def from_hit(cls, hit: Hit, quotes: tuple[str, ...] | None = None) -> Hit:
        """Cite ``hit``, quoting ``quotes`` (default: the hit's own)."""
        return hit.with_quotes(quotes) if quotes else hit

    def to_dict(self) -> dict[str, object]:
        """The JSON shape of one citation or search hit."""
        return {
            "number": self.number,
            "title": self.title,
            "document": self.document,
            "document_title": self.document_title,
            "quote": self.quote,
            "quotes": list(self.quotes),
            "score": self.score,
        }


#: A section an answer quotes: the same value as a :class:`Hit`.
Citation = Hit


@dataclass(frozen=True)
class Answer:
    """An answer: Markdown ``text``, ``citations`` best first, and whether it ``abstained``.

    ``kind`` says what was answered: "area" (one section), "overview", "list",
    "<party>_wants" (one side's wants across sections) or "declined".
    """

    text: str
    citations: tuple[Hit, ...] = ()
    abstained: bool = False
    suggestions: tuple[str, ...] = field(default=(), compare=False)
    notice: str | None = field(default=None, compare=False)
    kind: str = field(default="area", compare=False)

    def to_dict(self) -> dict[str, object]:
        """The JSON shape the CLI prints with ``--json``."""
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
        }
