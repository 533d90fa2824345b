"""The answering pipeline: rank the question (resolving a follow-up), then answer, summarize or decline.

``respond`` is the one flow: a whole-corpus question ("what is this about") gets
a summary (:mod:`alliance_qa.summary`); any other question is ranked, checked
against the abstention rule (:mod:`alliance_qa.policy`), and answered by quoting
its best section (:func:`compose`, written by :mod:`alliance_qa.render`).  Every
quote is copied verbatim from the normalized corpus; no text is generated.

The names other modules and tests import from here (``Answer``, ``Citation``,
``DECLINE``, the cutoffs ...) are re-exported from the modules that own them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import intent, render
from .policy import (
    ABSTAIN_BELOW,
    ENV_ABSTAIN_BELOW,
    EXAMPLES,
    NAMES_ONLY_BELOW,
    abstain_reason,
    answering_instead,
    cutoff_free_reason,
    cutoff_reason,
    decline,
    env_abstain_below,
    foreign_cutoff,
)
from .ranking import Ranking, Resolved
from .render import CONNECTING_PHRASES, DECLINE, DECLINE_TYPE, markdown_quote, unescape_markdown
from .retrieve import Hit, Retriever
from .summary import NO_PARTIES, area_list, clauses, overview, wants, whole_article, whole_corpus
from .types import Answer, Citation

__all__ = [
    "ABSTAIN_BELOW",
    "CONNECTING_PHRASES",
    "DECLINE",
    "DECLINE_TYPE",
    "ENV_ABSTAIN_BELOW",
    "EXAMPLES",
    "NAMES_ONLY_BELOW",
    "Answer",
    "Citation",
    "Hit",
    "Resolved",
    "Turn",
    "abstain_reason",
    "area_list",
    "clauses",
    "compose",
    "decline",
    "env_abstain_below",
    "markdown_quote",
    "overview",
    "resolve",
    "respond",
    "unescape_markdown",
    "wants",
    "whole_article",
    "whole_corpus",
]

#: Runners-up within this much of the best section's score are listed as "See also".
SEE_ALSO_WITHIN = 0.12
#: How much the earlier topic counts when a follow-up with a topic of its own leans on it (its own words count 1).
#: A follow-up with no topical word of its own ("Why?", "Tell me more") takes the earlier topic's section outright.
FOLLOW_UP_WEIGHT = 1.0
#: A question whose own best score reaches this stands on its own even if it opens with "and" or has a pronoun:
#: it matches one section as strongly as a direct question does ("And what about cultural exchanges?").
#: Calibrated on the golden follow-ups: midway between the best own score of a question that needs its history
#: (0.43) and the lowest of one that does not (0.61).
STANDS_ALONE = 0.52
#: ... and at least this much above the build's calibrated abstention cutoff: scores are on each build's own scale
#: (0.52 was 0.34 above the article's cutoff; averaged windows raise every score of a build a little).
STANDS_ALONE_ABOVE_CUTOFF = 0.34
#: How many earlier questions a follow-up may reach back through (a chain of follow-ups).
FOLLOW_UP_DEPTH = 3


def compose(hits: Sequence[Hit], *, abstain_below: float = ABSTAIN_BELOW, decided: bool = False,
            examples: Sequence[str] = EXAMPLES) -> Answer:
    """Answer from ``hits`` (best first): quote the best section, list clear runners-up as "See also".

    Unless ``decided`` (the abstention rule has already accepted the question),
    a best score below ``abstain_below`` declines.
    """
    if not hits or (not decided and hits[0].score < abstain_below):
        return decline(hits, examples=examples)
    best = hits[0]
    others = [h for h in hits[1:] if h.score >= max(abstain_below, best.score - SEE_ALSO_WITHIN)]
    return Answer(text=render.area(best, others), citations=(best, *others), kind="area")


@dataclass(frozen=True)
class Turn:
    """One question as the retriever sees it: its normalized text and its vector."""

    text: str
    vector: np.ndarray


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
    words the corpus lacks and matches nothing ("And who won the World Cup?"):
    a new question, not a follow-up.
    """
    ranking = retriever.rank(turn.text, turn.vector)
    own_topic = retriever.topical(list(ranking.terms))
    own_best = float(ranking.scores[ranking.best])
    foreign = any(not t.known for t in ranking.terms)
    lean = intent.leans_on_history(turn.text, own_topic)
    if (
        not earlier
        or embed is None
        or not lean
        # (names alone match the intro: not a topic of its own)
        or (own_best >= max(STANDS_ALONE, abstain_below + STANDS_ALONE_ABOVE_CUTOFF) and own_topic > 0)
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
        if not intent.leans_on_history(text, retriever.topical(list(prior.terms))):
            break  # the earliest question this chain of follow-ups leans on
    context = Ranking.combine(priors, weights)
    # The follow-up's own words choose the sentences to quote as much as the earlier topic does.
    probes = Ranking.mix_probes([ranking, context], [1.0, 1.0])
    if not own_topic:  # "Why?", "What about the other side of it?": the earlier topic decides the area
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
    examples: Sequence[str] = EXAMPLES,
    section_word: str = render.SECTION_WORD,
    parties: Mapping[str, tuple[str, tuple[str, ...]]] = NO_PARTIES,
) -> tuple[Answer, list[Hit]]:
    """Answer ``turn``, with ``earlier`` questions (oldest first) for follow-ups; also return the ``k`` best hits.

    ``examples`` (offered when declining), ``section_word`` (what a section is
    called) and ``parties`` (the sides a "what does X want" question may name)
    describe the corpus; the defaults are generic ("What is this about?", "section",
    no parties) until a profile supplies its own.
    """
    whole = intent.whole_article(turn.text, list(parties.values()))
    resolved = resolve(retriever, turn, earlier, embed, abstain_below=abstain_below)
    if whole is not None and resolved.context is None:
        return whole_corpus(retriever, whole, section_word=section_word, parties=parties), retriever.hits(
            resolved.ranking, k=k)
    sides = list(parties.values())
    # Rules 1-2 once for the best section; a close runner-up that states what is asked answers instead.
    fixed = cutoff_free_reason(turn.text, resolved.ranking, retriever, sides, resolved.context)
    instead = answering_instead(turn.text, resolved.ranking, retriever, fixed, sides, resolved.context)
    if instead is not None:
        resolved, fixed = replace(resolved, ranking=resolved.ranking.promoted(instead)), None
    hits = retriever.hits(resolved.ranking, k=k)
    reason = fixed or cutoff_reason(
        turn.text, resolved, retriever, abstain_below=abstain_below, names_only_below=names_only_below,
        parties=sides, foreign_below=foreign_cutoff(retriever),
    )
    if reason is not None:
        return decline(hits, reason, examples=examples), hits
    hits = figure_first(turn.text, hits)
    return compose(hits, abstain_below=abstain_below, decided=True, examples=examples), hits


def figure_first(question: str, hits: Sequence[Hit]) -> list[Hit]:
    """``hits``, each with its quoted sentences that state the figure a "how far / long / old ..." ``question`` asks
    for first (the answer leads; the quotes stay the same sentences); for any other question, as they are."""
    measure = intent.asked_measure(question)
    if measure is None:
        return list(hits)
    led = []
    for hit in hits:
        stating = [q for q in hit.quotes if intent.states_measure(measure, [q])]
        if stating and hit.quotes[0] != stating[0]:
            quotes = (*stating, *(q for q in hit.quotes if q not in stating))
            hit = replace(hit, quote=quotes[0], quotes=quotes)
        led.append(hit)
    return led


