"""When to decline, and the decline itself.

**Abstention rule** (see also ``ARCHITECTURE.md``).  A question is declined,
with the closest sections and example questions suggested, when any of these holds:

1. it asks the assistant to produce text ("translate ...", "write ...");
2. it asks for a kind of answer the cited section does not contain: a date
   ("when ..."), a count ("how many X"), a measure ("how far ..."), or the value
   of an attribute the section never mentions ("what is the GDP / population /
   currency ...") -- see :func:`alliance_qa.intent.missing_answer_type` and
   :func:`alliance_qa.intent.asked_attribute` -- or states that figure only for
   other things than the question's subject (:func:`figure_apart`); a close
   runner-up that does state it answers instead (:func:`answering_instead`);
3. the best section's fused score is below ``abstain_below``;
4. the only words it shares with the corpus are its documents' ubiquitous
   names (stems in at least half of a document's sections) while its other
   words are foreign to the corpus, and the fused score is below
   ``names_only_below``: a match that comes from the names alone is not a
   match on what is asked (unless it asks "how far / old / long ..." and the
   section states a figure of that kind: :func:`alliance_qa.intent.answers_measure`);
5. the words it uses that the corpus lacks outweigh (by IDF) its specific
   words found in the best section, and the fused score is below
   ``foreign_below`` (calibrated per build on the general questions of that
   kind): "Which pope came from X?" shares a name and "came", not its subject.

A single cutoff on one similarity is fragile (off-topic questions that name
the corpus's subjects score as high as in-scope paraphrases), hence rules 1, 2
and 4; rule 3 alone decides the ordinary cases.  The cutoffs are parameters;
the defaults here were calibrated on ``tests/golden.jsonl`` (see
:mod:`alliance_qa.evaluate`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from . import intent, render
from .lexical import Term
from .lexical import words as lexical_words
from .ranking import Ranking, Resolved
from .retrieve import Retriever
from .types import Answer, Hit

#: Below this fused score (dense similarity + BM25 share) the best section is not taken as answering the question.
#: Calibrated on the golden set (:func:`alliance_qa.evaluate.calibrate`): midway between the highest-scoring
#: off-topic question that no other rule declines (0.166) and the lowest-scoring in-scope one (0.217, a
#: paraphrase).  Override with ``ALLIANCE_QA_ABSTAIN_BELOW`` or ``Assistant(abstain_below=...)``.
ABSTAIN_BELOW = 0.191
#: When the question shares only the corpus's ubiquitous names with it, the fused score must reach this.
#: Calibrated the same way among such questions (off-topic up to 0.374, in-scope from 0.398).  The gap is
#: narrow: few golden questions fall under this rule, and it is the least certain of the four.
NAMES_ONLY_BELOW = 0.386
ENV_ABSTAIN_BELOW = "ALLIANCE_QA_ABSTAIN_BELOW"
#: When the best section lacks the kind of answer asked for, the next this many are tried ...
RUNNER_UP_DEPTH = 2
#: ... if they score at least this share of the best (:func:`answering_instead`).
RUNNER_UP_SHARE = 0.8
#: Example questions offered when declining, unless the caller passes the corpus's own (its profile's).
EXAMPLES: tuple[str, ...] = ("What is this about?",)


def decline(hits: Sequence[Hit], reason: str | None = None, *, examples: Sequence[str] = EXAMPLES) -> Answer:
    """Say plainly that the corpus does not cover the question; suggest the closest sections and ``examples``."""
    near = tuple(render.name(h) for h in hits[:3])
    text = render.decline(reason, near, examples)
    return Answer(text=text, abstained=True, suggestions=near + tuple(examples), kind="declined")


def abstain_reason(
    question: str,
    resolved: Resolved | Ranking,
    retriever: Retriever,
    *,
    abstain_below: float = ABSTAIN_BELOW,
    names_only_below: float = NAMES_ONLY_BELOW,
    parties: intent.Parties = (),
    foreign_below: float | None = None,
) -> str | None:
    """Why the corpus does not answer ``question`` (see the module docstring), or ``None`` if it does.

    ``parties`` are the corpus profile's sides, ``((name, other names), ...)``; ``foreign_below`` the cutoff
    of rule 5 (``None``: the rule is off).
    """
    if isinstance(resolved, Ranking):
        resolved = Resolved(resolved)
    return cutoff_free_reason(question, resolved.ranking, retriever, parties, resolved.context) or cutoff_reason(
        question, resolved, retriever, abstain_below=abstain_below, names_only_below=names_only_below,
        parties=parties, foreign_below=foreign_below,
    )


def cutoff_reason(
    question: str,
    resolved: Resolved,
    retriever: Retriever,
    *,
    abstain_below: float = ABSTAIN_BELOW,
    names_only_below: float = NAMES_ONLY_BELOW,
    parties: intent.Parties = (),
    foreign_below: float | None = None,
) -> str | None:
    """Rules 3 to 5, which compare the score with the cutoffs (:func:`abstain_reason` checks rules 1-2 first)."""
    ranking = resolved.ranking
    score = resolved.support
    if score < abstain_below:
        return "low"
    if resolved.context is None and score < names_only_below and names_only(question, ranking, retriever):
        return "names-only"
    if resolved.context is None and foreign_below is not None and score < foreign_below and outweighed(
        ranking, retriever, parties
    ):
        return "foreign"
    return None


def cutoff_free_reason(
    question: str, ranking: Ranking, retriever: Retriever, parties: intent.Parties = (), context: Ranking | None = None
) -> str | None:
    """Rules 1 and 2, which need no cutoff: a request to write, or an answer type the best section lacks (for a
    follow-up, ``context`` is the earlier topic's ranking: its words are what "it" stands for)."""
    if intent.requests_generation(question):
        return "generate"
    section = retriever.sections[ranking.best]
    missing = intent.missing_answer_type(question, [section.title, section.text])
    if missing:
        return missing
    if figure_apart(question, ranking, retriever, context):
        return "figure"
    attribute = intent.asked_attribute(question, parties)
    head = retriever.lexical.terms(attribute.split()[-1]) if attribute else []
    if head and not head[0].known:
        return "attribute"  # "What is X's national anthem?": an attribute the corpus never names
    return None


def answering_instead(
    question: str, ranking: Ranking, retriever: Retriever, reason: str | None, parties: intent.Parties = (),
    context: Ranking | None = None,
) -> int | None:
    """A close runner-up that states the kind of answer ``question`` asks for when the best section does not
    (rule 2; ``reason`` is :func:`cutoff_free_reason` for the best): "How long should an authorization code live?"
    is best matched by a section saying codes must be short-lived, and answered by the next one, which gives
    "10 minutes".  The position of that section among the :data:`RUNNER_UP_DEPTH` next best scoring at least
    :data:`RUNNER_UP_SHARE` of the best, or ``None``."""
    if reason is None or reason == "generate":
        return None
    best = float(ranking.scores[ranking.best])
    for position in ranking.top(RUNNER_UP_DEPTH + 1)[1:]:
        if float(ranking.scores[position]) < RUNNER_UP_SHARE * best:
            break
        if cutoff_free_reason(question, ranking.promoted(position), retriever, parties, context) is None:
            return position
    return None


def figure_apart(question: str, ranking: Ranking, retriever: Retriever, context: Ranking | None = None) -> bool:
    """Whether ``question`` asks for a figure that the best section states only apart from what the question is
    about: "How much does a new 3D printer cost?" cited from a section giving plan prices, whose sentences with a
    price never name a printer.  The subject is the question's specific words the corpus knows; the title, the
    figure's sentence (or the one before, for "It costs ...") must name one of them, unless the title itself states
    the figure (a release's date in its heading)."""
    section = retriever.sections[ranking.best]
    sentences = section.sentences
    beside = intent.figure_sentences(question, sentences)
    if beside is None or intent.figure_sentences(question, [section.title]):
        return False  # no figure asked, or the title states it for the whole section ("0.28.0 (28th November, 2024)")
    lexical = retriever.lexical
    earlier = context.terms if context is not None else ()

    def subject_of(terms: Sequence[Term], generic: bool) -> set[str]:
        return {stem for term in terms if term.known and not intent.figure_words(term.word)
                for stem, _ in term.stems[:1] if generic or stem not in lexical.generic}

    # The question's specific words; for a follow-up also the earlier topic's, ubiquitous or not ("it").
    subject = subject_of(ranking.terms, False) | subject_of(earlier, True)
    if any(intent.collective(term.word) for term in ranking.terms):  # "their countries": the ubiquitous names
        subject |= set(lexical.generic)
    if not subject:
        return False

    def stems(text: str) -> set[str]:
        return {lexical.stem(w) for w in lexical_words(text)}

    if subject & stems(section.title):
        return False
    return not any(subject & stems(sentences[i]) for i in set(beside))


def names_only(question: str, ranking: Ranking, retriever: Retriever) -> bool:
    """Rule 4's condition, before its cutoff: the question shares only the ubiquitous names with the corpus, and
    is not a measure the best section states."""
    section = retriever.sections[ranking.best]
    return retriever.only_generic(list(ranking.terms)) and not intent.answers_measure(
        question, [section.title, section.text]
    )


def outweighed(ranking: Ranking, retriever: Retriever, parties: intent.Parties = ()) -> bool:
    """Rule 5's condition, before its cutoff: the question's foreign words outweigh its matches in the best section."""
    return retriever.lexical.outweighed(list(ranking.terms), ranking.best, name_words(parties))


def name_words(parties: intent.Parties) -> frozenset[str]:
    """The lower-cased words of every name of every party (a text may never use some of them)."""
    return frozenset(w for name, aliases in parties for n in (name, *aliases) for w in n.casefold().split())


def foreign_cutoff(retriever: Retriever) -> float | None:
    """Rule 5's cutoff calibrated for the served build (its profile), or ``None`` for a build calibrated before it."""
    profile = getattr(retriever.index, "saved_profile", None)
    value = (getattr(profile, "calibration", None) or {}).get("foreign_below")
    return float(value) if isinstance(value, (int, float)) else None


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
