"""Compose an extractive, cited answer from ranked hits, or decline.

Every quoted sentence is copied verbatim from the (normalized) corpus; only the
fixed connecting phrases in this module are not.  No text is generated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .retrieve import Hit

#: Below this fused score the best section is not taken as answering the question.
ABSTAIN_BELOW = 0.30

DECLINE = "The article doesn't cover that."


@dataclass(frozen=True)
class Citation:
    """An interest area an answer quotes: its number as printed (``None`` for the intro), title, score and quotes."""

    number: int | None
    title: str
    score: float
    quote: str
    quotes: tuple[str, ...]
    section_id: str
    section_text: str

    @property
    def label(self) -> str:
        """``"Energy Resources (2)"``, or ``"Title (intro)"`` for the intro."""
        return f"{self.title} ({self.number if self.number is not None else 'intro'})"

    @classmethod
    def from_hit(cls, hit: Hit, quotes: tuple[str, ...] | None = None) -> Citation:
        """Cite ``hit``, quoting ``quotes`` (default: the hit's own)."""
        chosen = quotes or hit.quotes
        return cls(hit.number, hit.title, hit.score, chosen[0], chosen, hit.section_id, hit.section_text)


@dataclass(frozen=True)
class Answer:
    """An answer: Markdown ``text``, ``citations`` best first, and whether it ``abstained``."""

    text: str
    citations: tuple[Citation, ...] = ()
    abstained: bool = False
    suggestions: tuple[str, ...] = field(default=(), compare=False)
    notice: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, object]:
        """The JSON shape the CLI prints with ``--json``."""
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [
                {"number": c.number, "title": c.title, "quote": c.quote, "quotes": list(c.quotes), "score": c.score}
                for c in self.citations
            ],
        }


def markdown_quote(text: str) -> str:
    """Escape ``text`` so Markdown and HTML in the corpus show literally."""
    out = text.replace("\\", "\\\\")
    for ch in "`*_[]<>#|~":
        out = out.replace(ch, "\\" + ch)
    return out


def decline(hits: list[Hit]) -> Answer:
    """Say plainly that the article does not cover the question; suggest the closest areas."""
    near = tuple(h.label for h in hits[:3])
    text = DECLINE
    if near:
        text += " The closest topics it does cover are: " + "; ".join(markdown_quote(n) for n in near) + "."
    return Answer(text=text, abstained=True, suggestions=near)


def compose(hits: list[Hit], *, abstain_below: float = ABSTAIN_BELOW) -> Answer:
    """Answer from ``hits`` (best first): quote the best area, list clear runners-up as "See also"."""
    if not hits or hits[0].score < abstain_below:
        return decline(hits)
    best = hits[0]
    cite = Citation.from_hit(best)
    lines = [f"**{markdown_quote(cite.label)}**", ""]
    lines += [f"> {markdown_quote(q)} [{cite.number if cite.number is not None else 'intro'}]" for q in cite.quotes]
    others = [h for h in hits[1:] if h.score >= max(abstain_below, best.score - 0.05)]
    if others:
        lines += ["", "See also: " + "; ".join(markdown_quote(h.label) for h in others)]
    return Answer(text="\n".join(lines), citations=(cite, *(Citation.from_hit(h) for h in others)))
