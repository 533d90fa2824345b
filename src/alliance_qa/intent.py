"""What kind of question this is, from general patterns: no question string is special-cased.

* **Whole-article questions**: an overview ("what is this about", "summary",
  "gist"), the list of interest areas ("list the ten things"), and what one side
  wants ("what does North Korea want from Russia?", "what's in it for Moscow?").
  A question naming a side and a wish but nothing more specific is about that
  side's wants across the whole article; "what technology does North Korea want"
  names a topic and goes to normal retrieval.
* **Follow-ups**: a question that leans on an earlier turn, through a pronoun
  ("that", "it", "them"), or because it has no topical word of its own ("Why?",
  "Tell me more").  A question with its own topic stands alone.
* **Expected answer type**: "when ...", "how many ...", "what is the population
  of ..." ask for a date, a number or an attribute's value.  The article states
  almost no figures, so such a question is declined unless the cited area
  contains something of that type (:func:`missing_answer_type`).
* **Requests to produce text** ("translate ...", "write a poem ..."): the
  assistant only quotes the article, so these are declined.

The two sides of the article come from :data:`PARTIES`, with the names people use
for them (capitals, leaders, acronyms).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: The two sides of the article and the other names a question may use for them.
PARTIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "nk": ("North Korea", ("north korea", "north korean", "north koreans", "dprk", "pyongyang", "kim jong un", "kim")),
    "ru": ("Russia", ("russia", "russian", "russians", "moscow", "kremlin", "putin", "russian federation")),
}

_DOC_NOUN = r"(?:article|text|piece|story|post|page|document|essay|report|blog|write-?up)"

_OVERVIEW = re.compile(
    r"\b(?:summar(?:y|ise|ize|ized|ised)|overview|gist|tl;?dr|synopsis|in a nutshell|main (?:idea|point|message|argument|"
    r"takeaway)s?|key (?:points|takeaways)|what(?:'s| is) (?:this|the|it) (?:\w+ )?about)\b"
    rf"|\bwhat (?:is|was|does) (?:this|the) {_DOC_NOUN}\b(?: \w+){{0,3}} (?:about|say|cover)\b"
    rf"|\b(?:this|the) {_DOC_NOUN}(?:'s| is)? (?:about|topic|subject)\b"
    r"|^what is this\W*$"
)
_LIST = re.compile(
    r"\b(?:list|name|enumerate|outline|give me|show me)\b.*\b(?:things|areas|interests|points|items|topics|wants|goals)\b"
    r"|\b(?:ten|10) (?:things|areas|interests|points|items|topics|wants|goals)\b"
    r"|\bwhat are (?:the|all|its|their)? ?(?:interest areas|areas of interest|areas|interests|things|topics|points)\b\W*$"
    r"|\bwhat do (?:they|both|the two|north korea and russia|russia and north korea) (?:sides |countries |nations )?"
    r"(?:want|seek|hope to get|need) from each other\b"
)
_WANT = re.compile(
    r"\b(?:wants?|wanted|wanting|hop(?:e|es|ed|ing)|seeks?|seeking|gets?|getting|gains?|gaining|benefits?|"
    r"interests?|needs?|goals?|aims?|objectives?|expects?|after|in it for|get out of|desires?|wish(?:es)?)\b"
)
#: Words that may sit in a "what does X want" question without making it about one topic.
_WANT_FILLER_WORDS = """
what whats which does do did is are was would could can will might may from of for to out in it its this that the
a an each other relationship alliance partnership deal ties side sides country countries nation nations
things thing really most mainly hoping hope hopes hoped get gets gain gains want wants wanted seek seeks
seeking benefit benefits interest interests need needs goal goals aim aims after desire desires wish wishes
expect expects objective objectives and both them they their there with by exactly actually s i me tell about
say says article
"""
_WANT_FILLER = frozenset(_WANT_FILLER_WORDS.split())

_ANAPHORA = re.compile(
    rf"\b(?:it|its|that|this|those|these|them|such|there|same|former|latter|one|ones)\b(?! {_DOC_NOUN}\b)"
)
_ELLIPSIS = re.compile(r"^\W*(?:why|how|how so|really|go on|more|and|and then|so|what else|anything else|tell me more"
                       r"|explain|elaborate|continue|example|such as|like what|meaning|details?)\W*$")

_CONTINUES = re.compile(r"^\W*(?:and|but|so|also|plus|then)\b")

_GENERATE = re.compile(
    r"^\W*(?:please\W+)?(?:can you\W+|could you\W+)?(?:translate|write|compose|draft|generate|calculate|compute|convert|"
    r"solve|code|program|draw|paint|sing|rhyme|spell)\b"
)

#: Expected answer types.  Each has the question pattern and what the cited text must contain.
_NUMBER = (r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
           r"hundreds?|thousands?|millions?|billions?|dozens?|several|many)")
_TIME_ASKED = re.compile(
    r"^\W*when\b|\bwhen (?:did|was|were|will|is|does|do|has|had|could|would)\b|\bwhat (?:year|date|day|month|time|"
    r"century|decade)\b|\bhow long ago\b|\bsince when\b|\b(?:today|tonight|tomorrow|yesterday|right now)\b"
)
_TIME_GIVEN = re.compile(
    r"\b(?:1[0-9]{3}|20[0-9]{2})\b|\b(?:january|february|march|april|may|june|july|august|september|october|"
    r"november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|tomorrow|yesterday|"
    r"century|centuries|decades?|years? ago|since the)\b"
)
_COUNT_ASKED = re.compile(r"\bhow many (\w+)(?: (\w+))?")
#: "How far / old / tall ..." and the units that answer each.
_LENGTH = r"miles|kilometers|kilometres|km|meters|metres|feet|foot|yards"
_DURATION = r"years?|months?|weeks?|days?|hours?|minutes?|decades?|centuries"
_MEASURES: dict[str, str] = {
    "far": _LENGTH,
    "tall": _LENGTH,
    "high": _LENGTH,
    "deep": _LENGTH,
    "wide": _LENGTH,
    "long": f"{_LENGTH}|{_DURATION}",
    "old": r"years?|centuries|decades?",
    "big": r"square \w+|hectares|acres|people|inhabitants|tons?|tonnes?",
    "large": r"square \w+|hectares|acres|people|inhabitants|tons?|tonnes?",
    "heavy": r"tons?|tonnes?|kg|kilograms?|pounds?",
    "fast": r"mph|km/h|kilometers an hour|miles an hour|knots",
    "often": r"times|daily|weekly|monthly|yearly|annually",
}
_MEASURE_ASKED = re.compile(rf"\bhow ({'|'.join(_MEASURES)})\b")
#: Attributes a question may ask the value of, and superlatives it may ask about: the cited text must at least
#: mention them.
_ATTRIBUTE_ASKED = re.compile(
    r"\b(population|gdp|percentage|budget|salary|salaries|wages?|prices?|exchange rate|currency|currencies|"
    r"capital|birthday|age|height|weather|temperature|president|prime minister|king|queen|mayor|ceo|founder|"
    r"inventor|author|tallest|highest|largest|biggest|smallest|oldest|youngest|longest|shortest|richest|"
    r"poorest|fastest|deepest|heaviest|cheapest|most populous)\b"
)


def asked_attribute(question: str) -> str | None:
    """The attribute in "What is X's N?" / "What is the N of X?", X being a side, or ``None``.

    The caller checks the last word of ``N`` (its head noun) against the corpus.
    """
    text = lowered(question).rstrip("?! .")
    names = "|".join(re.escape(n) for _, aliases in PARTIES.values() for n in sorted(aliases, key=len, reverse=True))
    m = re.fullmatch(rf"what(?:'s| is| are| was| were)\s+(?:the\s+)?(?:(?:{names})'s\s+([\w\s-]+)|"
                     rf"([\w\s-]+?)\s+of\s+(?:the\s+)?(?:{names}))", text)
    if not m:
        return None
    return (m.group(1) or m.group(2)).strip()


def missing_answer_type(question: str, cited: Sequence[str]) -> str | None:
    """The kind of answer ``question`` asks for that the ``cited`` text lacks, or ``None``.

    "When ..." needs a date or time in the cited text; "how many X" a number
    before X; "how far / old / tall ..." a number with a unit of that dimension;
    "what is the population / GDP / currency ...", "who is the president ...",
    "the tallest ..." the attribute or superlative itself.  The article states
    almost no figures, so such questions are declined rather than answered with
    a passage that merely mentions the same names.
    """
    text = lowered(question)
    body = " ".join(lowered(c) for c in cited)
    if _TIME_ASKED.search(text) and not _TIME_GIVEN.search(body):
        return "time"
    count = _COUNT_ASKED.search(text)
    if count:  # "how many (nuclear) warheads": a number before the first or second word
        nouns = "|".join(re.escape(w[:4]) for w in count.groups() if w)
        if not re.search(rf"\b{_NUMBER}\s+(?:\w+\s+)?(?:{nouns})", body):
            return "count"
    measure = _MEASURE_ASKED.search(text)
    if measure and not re.search(rf"\b{_NUMBER}\s+(?:of\s+)?(?:{_MEASURES[measure.group(1)]})\b", body):
        return "measure"
    for attribute in _ATTRIBUTE_ASKED.findall(text):
        stem = attribute[:-1] if attribute.endswith("s") and not attribute.endswith("ss") else attribute
        if not re.search(rf"\b{re.escape(stem)}", body):
            return "attribute"
    return None


@dataclass(frozen=True)
class WholeIntent:
    """A question about the whole article: ``kind`` is "overview", "list" or "wants"; ``party`` for "wants"."""

    kind: str
    party: str | None = None


def lowered(text: str) -> str:
    """``text`` lower-cased with apostrophes kept and other punctuation spaced out."""
    return " ".join(re.sub(r"[^\w'\s-]", " ", text.casefold()).split())


def party_mentions(text: str) -> list[tuple[int, str]]:
    """``[(position, party)]`` for every name of a side in ``text`` (lower-cased), in order."""
    found: list[tuple[int, int, str]] = []
    for party, (_, names) in PARTIES.items():
        for name in sorted(names, key=len, reverse=True):
            for m in re.finditer(rf"\b{re.escape(name)}(?:'s)?\b", text):
                if not any(s <= m.start() < e for s, e, _ in found):
                    found.append((m.start(), m.end(), party))
    return [(s, p) for s, _, p in sorted(found)]


def _strip_parties(text: str) -> str:
    for _, names in PARTIES.values():
        for name in sorted(names, key=len, reverse=True):
            text = re.sub(rf"\b{re.escape(name)}(?:'s)?\b", " ", text)
    return text


def wanting_party(text: str) -> str | None:
    """Which side ``text`` asks the wants of: "nk", "ru", "both", or ``None`` when it is not such a question.

    The question must name a side, use a wish word and contain nothing more
    specific.  The side after "from"/"of" is the giver; "for"/"to" marks the
    receiver; otherwise the first side named is the one wanting.
    """
    if not _WANT.search(text):
        return None
    mentions = party_mentions(text)
    if not mentions:
        return None
    rest = re.sub(r"\b(?:10|ten)\b", " ", _strip_parties(text))
    if any(w not in _WANT_FILLER for w in re.findall(r"[^\W\d_]+", rest)):
        return None
    wanting: set[str] = set()
    giving: set[str] = set()
    for pos, party in mentions:
        before = text[:pos].split()[-1:] or [""]
        (giving if before[0] in ("from", "of") else wanting).add(party)
    if not wanting:
        wanting = set(PARTIES) - giving
    if len(wanting) != 1:
        return "both" if wanting == set(PARTIES) else None
    return wanting.pop()


def whole_article(question: str) -> WholeIntent | None:
    """Recognize an overview, list or one-side's-wants question; ``None`` for anything else."""
    text = lowered(question)
    if _LIST.search(text):
        return WholeIntent("list")
    if _OVERVIEW.search(text):
        return WholeIntent("overview")
    party = wanting_party(text)
    if party == "both":
        return WholeIntent("list")
    if party is not None:
        return WholeIntent("wants", party)
    return None


def leans_on_history(question: str, topical_terms: int) -> str | None:
    """Whether ``question`` needs the earlier turns: a pronoun, an opening "and"/"but"/"so", an elliptical
    follow-up ("Why?", "Tell me more"), or no topic of its own.

    ``topical_terms`` is how many words of the question name something specific
    in the corpus (see :meth:`alliance_qa.lexical.LexicalIndex.topical`).
    Returns "strong" for a pronoun or an elliptical question, "weak" for an
    opening conjunction or a question with no topic, ``None`` otherwise.
    """
    text = lowered(question)
    if _ANAPHORA.search(text) or _ELLIPSIS.match(text):
        return "strong"
    if _CONTINUES.match(text) or topical_terms == 0:
        return "weak"
    return None


def requests_generation(question: str) -> bool:
    """Whether ``question`` asks the assistant to produce text (translate, write ...), which it never does."""
    return bool(_GENERATE.search(lowered(question)))
