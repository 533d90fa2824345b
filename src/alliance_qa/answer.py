"""Compose an extractive, cited answer (or decline) for one question.

Every quote is copied verbatim from the normalized corpus (a sentence, or for
"what does X want" a clause of one); every other word of an answer comes from
the fixed phrases in :data:`CONNECTING_PHRASES`, the section titles and the
side names in :data:`alliance_qa.intent.PARTIES`.  No text is generated.

**Abstention rule** (see also ``ARCHITECTURE.md``).  A question is declined,
with the closest areas suggested, when any of these holds:

1. it asks the assistant to produce text ("translate ...", "write ...");
2. it asks for a kind of answer the cited area does not contain: a date
   ("when ..."), a count ("how many X"), a measure ("how far ..."), or the value
   of an attribute the area never mentions ("what is the GDP / population /
   currency ...", "what is North Korea's national anthem?") -- see
   :func:`alliance_qa.intent.missing_answer_type` and :func:`alliance_qa.intent.asked_attribute`;
3. the best area's fused score is below :data:`ABSTAIN_BELOW`;
4. the only words it shares with the article are the article's ubiquitous
   names (North Korea, Russia) while its other words are foreign to the
   article ("What currency does North Korea use?"), and the fused score is
   below :data:`NAMES_ONLY_BELOW`: a match that comes from the names alone is not
   a match on what is asked.

A single cutoff on one similarity is fragile (off-topic questions that name
North Korea score as high as in-scope paraphrases), hence rules 1, 2 and 4; but
rule 3 alone is what decides the ordinary cases.  The two cutoffs were
calibrated on ``tests/golden.jsonl`` (see :mod:`alliance_qa.evaluate` and
``ARCHITECTURE.md``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from . import intent
from .retrieve import Hit, Ranking, Retriever

#: Below this fused score (dense similarity + BM25 share) the best area is not taken as answering the question.
#: Calibrated on the golden set (:func:`alliance_qa.evaluate.calibrate`): midway between the highest-scoring
#: off-topic question that no other rule declines (0.166, "Who won the last football World Cup?") and the
#: lowest-scoring in-scope one (0.217, a paraphrase).  Override with ``ALLIANCE_QA_ABSTAIN_BELOW`` or
#: ``Assistant(abstain_below=...)``.
ABSTAIN_BELOW = 0.191
#: When the question shares only the article's ubiquitous names with it, the fused score must reach this.
#: Calibrated the same way among such questions: off-topic ones score up to 0.374 ("Is Russia bigger than North
#: Korea?"), in-scope ones from 0.398 ("How far is North Korea from Russia?").  The gap is narrow: few golden
#: questions fall under this rule, and it is the least certain of the four.
NAMES_ONLY_BELOW = 0.386
ENV_ABSTAIN_BELOW = "ALLIANCE_QA_ABSTAIN_BELOW"
#: Runners-up within this much of the best area's score are listed as "See also".
SEE_ALSO_WITHIN = 0.12
#: How much the earlier topic counts when a follow-up with a topic of its own leans on it (its own words count 1).
#: A follow-up with no topical word of its own ("Why?", "Tell me more") takes the earlier topic's area outright.
FOLLOW_UP_WEIGHT = 1.0
#: A question whose own best score reaches this stands on its own even if it opens with "and" or has a pronoun:
#: it matches one area as strongly as a direct question does ("And what about cultural exchanges?").
#: Calibrated on the golden follow-ups: midway between the best own score of a question that needs its history
#: (0.43) and the lowest of one that does not (0.61).
STANDS_ALONE = 0.52
#: How many earlier questions a follow-up may reach back through (a chain of follow-ups).
FOLLOW_UP_DEPTH = 3

DECLINE = "The article doesn't cover that."
DECLINE_TYPE = {
    "time": "It gives no dates or times.",
    "count": "It gives no such number.",
    "measure": "It gives no such figure.",
    "attribute": "It doesn't say.",
    "generate": "This assistant only quotes the article; it doesn't write or translate text.",
}
CLOSEST = "The closest topics it does cover are:"
TRY = "Try asking, for example:"
SEE_ALSO = "See also:"
OVERVIEW_HEAD = "What the article is about"
OVERVIEW_AREAS = "It covers {count} interest areas:"
LIST_HEAD = "The {count} interest areas"
WANTS_HEAD = "What {party} wants from {other}"
WANTS_SHARED = "Shared with {other}:"
#: Every fixed phrase an answer may contain besides corpus quotes, section titles and side names.
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
    "intro",
)
#: Example questions offered when declining: fixed text, not generated.
EXAMPLES = ("What is this article about?", "Which ports matter for trade?", "What does North Korea want from Russia?")


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

    @property
    def marker(self) -> str:
        """The in-text citation mark: ``[2]`` or ``[intro]``."""
        return f"[{self.number if self.number is not None else 'intro'}]"

    @classmethod
    def from_hit(cls, hit: Hit, quotes: tuple[str, ...] | None = None) -> Citation:
        """Cite ``hit``, quoting ``quotes`` (default: the hit's own)."""
        chosen = quotes or hit.quotes
        return cls(hit.number, hit.title, hit.score, chosen[0], chosen, hit.section_id, hit.section_text)


@dataclass(frozen=True)
class Answer:
    """An answer: Markdown ``text``, ``citations`` best first, and whether it ``abstained``.

    ``kind`` says what was answered: "area" (one interest area), "overview",
    "list", "nk_wants" / "ru_wants" (one side's wants across areas, by the keys
    of :data:`alliance_qa.intent.PARTIES`) or "declined".
    """

    text: str
    citations: tuple[Citation, ...] = ()
    abstained: bool = False
    suggestions: tuple[str, ...] = field(default=(), compare=False)
    notice: str | None = field(default=None, compare=False)
    kind: str = field(default="area", compare=False)

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


def unescape_markdown(text: str) -> str:
    """Undo :func:`markdown_quote`."""
    return re.sub(r"\\(.)", r"\1", text)


# --------------------------------------------------------------------------- declining


def decline(hits: Sequence[Hit], reason: str | None = None) -> Answer:
    """Say plainly that the article does not cover the question; suggest the closest areas and example questions."""
    near = tuple(h.label for h in hits[:3])
    parts = [DECLINE]
    if reason in DECLINE_TYPE:
        parts.append(DECLINE_TYPE[reason])
    text = " ".join(parts)
    if near:
        text += f" {CLOSEST} " + "; ".join(markdown_quote(n) for n in near) + "."
    text += f"\n\n{TRY} " + " · ".join(f"*{markdown_quote(e)}*" for e in EXAMPLES)
    return Answer(text=text, abstained=True, suggestions=near + EXAMPLES, kind="declined")


def abstain_reason(
    question: str,
    resolved: Resolved | Ranking,
    retriever: Retriever,
    *,
    abstain_below: float = ABSTAIN_BELOW,
    names_only_below: float = NAMES_ONLY_BELOW,
) -> str | None:
    """Why the article does not answer ``question`` (see the module docstring), or ``None`` if it does."""
    if isinstance(resolved, Ranking):
        resolved = Resolved(resolved)
    if intent.requests_generation(question):
        return "generate"
    ranking = resolved.ranking
    section = retriever.sections[ranking.best]
    missing = intent.missing_answer_type(question, [section.title, section.text])
    if missing:
        return missing
    attribute = intent.asked_attribute(question)
    head = retriever.lexical.terms(attribute.split()[-1]) if attribute else []
    if head and not head[0].known:
        return "attribute"  # "What is North Korea's national anthem?": an attribute the article never names
    score = resolved.support
    if score < abstain_below:
        return "low"
    if (
        resolved.context is None
        and score < names_only_below
        and retriever.lexical.only_generic(list(ranking.terms))
    ):
        return "names-only"
    return None


# --------------------------------------------------------------------------- one area


def compose(hits: Sequence[Hit], *, abstain_below: float = ABSTAIN_BELOW, decided: bool = False) -> Answer:
    """Answer from ``hits`` (best first): quote the best area, list clear runners-up as "See also".

    Unless ``decided`` (the abstention rule has already accepted the question),
    a best score below ``abstain_below`` declines.
    """
    if not hits or (not decided and hits[0].score < abstain_below):
        return decline(hits)
    best = hits[0]
    cite = Citation.from_hit(best)
    lines = [f"**{markdown_quote(cite.label)}**", ""]
    lines += [f"> {markdown_quote(q)} {cite.marker}" for q in cite.quotes]
    others = [h for h in hits[1:] if h.score >= max(abstain_below, best.score - SEE_ALSO_WITHIN)]
    if others:
        lines += ["", f"{SEE_ALSO} " + "; ".join(markdown_quote(h.label) for h in others)]
    return Answer(text="\n".join(lines), citations=(cite, *(Citation.from_hit(h) for h in others)), kind="area")


# --------------------------------------------------------------------------- whole article


def _areas(retriever: Retriever) -> list[int]:
    """Positions of the numbered sections (the interest areas), in reading order."""
    return [i for i, s in enumerate(retriever.sections) if s.number is not None]


def _cite(retriever: Retriever, position: int, quotes: tuple[str, ...], score: float = 1.0) -> Citation:
    s = retriever.sections[position]
    return Citation(s.number, s.title, score, quotes[0], quotes, s.id, s.text)


def overview(retriever: Retriever) -> Answer:
    """The intro's gist (its first sentences of substance) and the list of interest areas, each cited."""
    lines = [f"**{OVERVIEW_HEAD}**", ""]
    citations: list[Citation] = []
    for i, section in enumerate(retriever.sections):
        if section.number is not None:
            continue
        gist = tuple(retriever.intro_gist(i))
        if gist:
            cite = _cite(retriever, i, gist)
            citations.append(cite)
            lines += [f"> {markdown_quote(q)} {cite.marker}" for q in gist]
    areas = _areas(retriever)
    if areas:
        lines += ["", OVERVIEW_AREAS.format(count=len(areas))]
        for i in areas:
            cite = _cite(retriever, i, (retriever.gist(i),))
            citations.append(cite)
            lines.append(f"- **{markdown_quote(cite.title)}** {cite.marker}")
    return Answer("\n".join(lines), tuple(citations), kind="overview")


def area_list(retriever: Retriever) -> Answer:
    """All interest areas, one line each: the title and the sentence that best sums it up, cited."""
    areas = _areas(retriever)
    if not areas:
        return overview(retriever)
    lines = [f"**{LIST_HEAD.format(count=len(areas))}**", ""]
    citations = []
    for i in areas:
        cite = _cite(retriever, i, (retriever.gist(i),))
        citations.append(cite)
        lines.append(f"- **{markdown_quote(cite.label)}**: {markdown_quote(cite.quote)} {cite.marker}")
    return Answer("\n".join(lines), tuple(citations), kind="list")


_CLAUSE = re.compile(r",\s+(?:while|whereas|but|and)\s+|;\s+")
_WISH = re.compile(
    r"\b(?:seeks?|wants?|interested|interest|eager|aims?|needs?|hopes?|opportunity|facing|benefits?|gains?|"
    r"concerns?|cautious|align)\b"
)
_RECEIVES = r"\b(?:provide|offer|give|shield|help|support|protect)\s+(?:\w+\s+){0,1}"
_BOTH = re.compile(r"\b(?:both|mutual|each other|bilateral|two nations|two countries)\b")


def clauses(sentence: str) -> list[str]:
    """``sentence`` split into clauses, each an exact substring of it.

    A split falls at ", while" / ", and" / ";" only where a side is named next
    (a new subject), so a list such as "cyber capabilities, and space exploration"
    stays whole.
    """
    out, start = [], 0
    for m in _CLAUSE.finditer(sentence):
        following = sentence[m.end() :].casefold()
        if any(pos < 40 for pos, _ in intent.party_mentions(following)):
            out.append(sentence[start : m.start()])
            start = m.end()
    out.append(sentence[start:])
    return [c.strip() for c in out if len(c.split()) >= 4]


def _side_of(clause: str, party: str) -> int:
    """2 if ``clause`` states what ``party`` wants or receives, 1 if a want both sides share, else 0."""
    text = clause.casefold()
    mentions = intent.party_mentions(text)
    wish = _WISH.search(text)
    names = "|".join(re.escape(n) for n in intent.PARTIES[party][1])
    if re.search(rf"{_RECEIVES}(?:{names})\b", text) and not _BOTH.search(text):
        return 2
    if wish:
        before = {p for pos, p in mentions if pos < wish.start()}
        if before == {party} and not _BOTH.search(text[: wish.start()]):
            return 2
        if len(before) == len(intent.PARTIES) or _BOTH.search(text):
            return 1
    return 0


def wants(retriever: Retriever, party: str) -> Answer:
    """What ``party`` wants, area by area: the clauses stating its own wants, then the wants both sides share."""
    if not _areas(retriever):
        return overview(retriever)
    name = intent.PARTIES[party][0]
    other = next(v[0] for k, v in intent.PARTIES.items() if k != party)
    own: list[Citation] = []
    shared: list[Citation] = []
    for i in _areas(retriever):
        section = retriever.sections[i]
        best: tuple[int, str] | None = None
        for sentence in section.sentences:
            for clause in clauses(sentence) or [sentence]:
                side = _side_of(clause, party)
                if side and (best is None or side > best[0]):
                    best = (side, clause)
        if best is None:
            shared.append(_cite(retriever, i, (retriever.gist(i),)))
        else:
            (own if best[0] == 2 else shared).append(_cite(retriever, i, (best[1],)))
    lines = [f"**{WANTS_HEAD.format(party=name, other=other)}**", ""]
    lines += [f"- **{markdown_quote(c.label)}**: {markdown_quote(c.quote)} {c.marker}" for c in own]
    if shared:
        lines += ["", WANTS_SHARED.format(other=other)]
        lines += [f"- **{markdown_quote(c.label)}**: {markdown_quote(c.quote)} {c.marker}" for c in shared]
    return Answer("\n".join(lines), tuple(own + shared), kind=f"{party}_wants")


def whole_article(retriever: Retriever, whole: intent.WholeIntent) -> Answer:
    """Answer a question about the whole article (computed once per loaded index)."""
    cached = retriever.memo.get(whole)
    if isinstance(cached, Answer):
        return cached
    if whole.kind == "list":
        answer = area_list(retriever)
    elif whole.kind == "wants" and whole.party in intent.PARTIES:
        answer = wants(retriever, whole.party)
    else:
        answer = overview(retriever)
    retriever.memo[whole] = answer
    return answer


# --------------------------------------------------------------------------- the whole flow


@dataclass(frozen=True)
class Turn:
    """One question as the retriever sees it: its normalized text and its vector."""

    text: str
    vector: np.ndarray


@dataclass(frozen=True)
class Resolved:
    """A question's ranking, and for a follow-up the ranking of the earlier topic it continues."""

    ranking: Ranking
    context: Ranking | None = None

    @property
    def support(self) -> float:
        """How well the article covers the question: the best area's score, or for a follow-up the better of
        that and the earlier topic's score for the same area (a follow-up inherits its topic's coverage)."""
        best = self.ranking.best
        own = float(self.ranking.scores[best])
        return own if self.context is None else max(own, float(self.context.scores[best]))


def resolve(
    retriever: Retriever,
    turn: Turn,
    earlier: Sequence[str] = (),
    embed: Callable[[list[str]], list[np.ndarray]] | None = None,
    *,
    abstain_below: float = ABSTAIN_BELOW,
) -> Resolved:
    """Rank the sections for ``turn``; a follow-up that leans on ``earlier`` questions (oldest first) is blended.

    ``embed`` gives the vectors of earlier questions; it is called (once, for
    at most :data:`FOLLOW_UP_DEPTH` texts) only when the question is a follow-up.
    A question that stands on its own is ranked on its own, so an old topic never
    drags it back.  So is one that only opens with "and" (no pronoun) and has
    words the article lacks and matches nothing ("And who won the World Cup?"):
    a new question, not a follow-up.
    """
    ranking = retriever.rank(turn.text, turn.vector)
    own_topic = retriever.lexical.topical(list(ranking.terms))
    own_best = float(ranking.scores[ranking.best])
    foreign = any(not t.known for t in ranking.terms)
    lean = intent.leans_on_history(turn.text, own_topic)
    if (
        not earlier
        or embed is None
        or not lean
        or own_best >= STANDS_ALONE
        or (lean == "weak" and foreign and own_best < abstain_below)
    ):
        return Resolved(ranking)
    recent = list(earlier)[::-1][:FOLLOW_UP_DEPTH]
    priors: list[Ranking] = []
    weights: list[float] = []
    for depth, (text, vector) in enumerate(zip(recent, embed(recent), strict=True)):
        prior = retriever.rank(text, vector)
        priors.append(prior)
        weights.append(0.5**depth)
        if not intent.leans_on_history(text, retriever.lexical.topical(list(prior.terms))):
            break  # the earliest question this chain of follow-ups leans on
    context = Ranking.combine(priors, weights)
    # The follow-up's own words choose the sentences to quote as much as the earlier topic does.
    probes = Ranking.mix_probes([ranking, context], [1.0, 1.0])
    if not own_topic:  # "Why?", "What about Russia's side of it?": the earlier topic decides the area
        return Resolved(replace(context, probes=probes, terms=ranking.terms), context)
    return Resolved(replace(ranking.blend(context, FOLLOW_UP_WEIGHT), probes=probes), context)


def respond(
    retriever: Retriever,
    turn: Turn,
    earlier: Sequence[str] = (),
    embed: Callable[[list[str]], list[np.ndarray]] | None = None,
    *,
    abstain_below: float = ABSTAIN_BELOW,
    names_only_below: float = NAMES_ONLY_BELOW,
    k: int = 5,
) -> tuple[Answer, list[Hit]]:
    """Answer ``turn``, with ``earlier`` questions (oldest first) for follow-ups; also return the ``k`` best hits."""
    whole = intent.whole_article(turn.text)
    resolved = resolve(retriever, turn, earlier, embed, abstain_below=abstain_below)
    hits = retriever.hits(resolved.ranking, k=k)
    if whole is not None and resolved.context is None:
        return whole_article(retriever, whole), hits
    reason = abstain_reason(
        turn.text, resolved, retriever, abstain_below=abstain_below, names_only_below=names_only_below
    )
    if reason is not None:
        return decline(hits, reason), hits
    return compose(hits, abstain_below=abstain_below, decided=True), hits


def env_abstain_below(default: float = ABSTAIN_BELOW) -> float:
    """The abstention cutoff from ``ALLIANCE_QA_ABSTAIN_BELOW``, or ``default``."""
    value = os.environ.get(ENV_ABSTAIN_BELOW, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        from .errors import AllianceQAError

        raise AllianceQAError(
            f"{ENV_ABSTAIN_BELOW}={value!r} is not a number: set it to a score such as {ABSTAIN_BELOW}, or unset it"
        ) from None
