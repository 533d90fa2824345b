"""What kind of question this is, from general patterns: no question string is special-cased.

* **Whole-corpus questions**: an overview ("what is this about", "summary",
  "gist"), the list of sections ("list the ten things", "what are the
  sections"), and what one side of a two-party document wants ("what does X
  want from Y?", "what's in it for X?").  A question naming a side and a wish
  but nothing more specific is about that side's wants across the document;
  "what technology does X want" names a topic and goes to normal retrieval.
* **Follow-ups**: a question that leans on an earlier turn, through a pronoun
  ("that", "it", "them"), or because it has no topical word of its own ("Why?",
  "Tell me more").  A question with its own topic stands alone.
* **Expected answer type**: "when ...", "how many ...", "how long ...", "what is
  the population of ..." ask for a date or time, a number, a measure or an
  attribute's value.  Such a question is declined only when the cited section
  lacks any fact of that type (:func:`missing_answer_type`): a duration ("3-5
  business days"), a price ("$12 a month") or a clock time ("9am to 5pm")
  answers it.  "When X happens, what ...?" is not a time question.
* **Requests to produce text** ("translate ...", "write a poem ..."): the
  assistant only quotes the corpus, so these are declined.

The sides of a two-party document come from the corpus profile
(:attr:`alliance_qa.profile.Profile.parties`): ``(name, other names)`` pairs
passed to the functions here as ``parties``.  With none, no question is a
"what does X want" question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

#: The sides of a document and the other names a question may use for them: ``((name, (other names...)), ...)``.
Parties = Sequence[tuple[str, Sequence[str]]]

_DOC_NOUN = r"(?:article|text|piece|story|post|page|document|essay|report|blog|write-?up)"

_OVERVIEW = re.compile(
    r"\b(?:summar(?:y|ise|ize|ized|ised)|overview|gist|tl;?dr|synopsis|in a nutshell|main (?:idea|point|message|argument|"
    r"takeaway)s?|key (?:points|takeaways)|what(?:'s| is) (?:this|the|it) (?:\w+ )?about)\b"
    rf"|\bwhat (?:is|was|does) (?:this|the) {_DOC_NOUN}\b(?: \w+){{0,3}} (?:about|say|cover)\b"
    rf"|\b(?:this|the) {_DOC_NOUN}(?:'s| is)? (?:about|topic|subject)\b"
    r"|^what is this\W*$"
    rf"|\bwhat (?:are|is) (?:these|those|the|this|all the) (?:\w+ )?(?:{_DOC_NOUN}s?|files) (?:\w+ )?about\b"
)
_LIST = re.compile(
    r"\b(?:list|name|enumerate|outline|give me|show me)\b.*\b(?:things|areas|interests|points|items|topics|wants|goals|"
    r"sections|chapters|parts|headings)\b"
    r"|\bwhat (?:sections|chapters|parts|topics|headings) (?:does|do|is|are) (?:\w+ ){0,3}(?:have|has|cover|contain|in)\b"
    r"|\b(?:ten|10) (?:things|areas|interests|points|items|topics|wants|goals)\b"
    r"|\bwhat are (?:the|all|its|their)? ?(?:main |key |ten |\d+ |\w+ )?(?:areas|interests|things|topics|points|sections|"
    r"parts|chapters|steps|items)\b\W*$"
    r"|\bwhat do (?:they|both|the two|the (?:two )?(?:sides|countries|nations|parties)) (?:sides |countries |nations )?"
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
expect expects objective objectives and both them they their with by exactly actually s i me tell about
say says article
"""
_WANT_FILLER = frozenset(_WANT_FILLER_WORDS.split())

_ANAPHORA = re.compile(
    rf"\b(?:it|its|that|this|those|these|they|them|their|such|there|same|former|latter|one|ones)\b(?! {_DOC_NOUN}\b)"
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
           r"hundreds?|thousands?|millions?|billions?|dozens?|several|many|a few|a couple of)")
#: "When X happens, what does Y get?": a condition, not a question about time.
_WHEN_CLAUSE = re.compile(
    r"^\W*when\b.+?\b(?:what|who|which|how|why|where)\s+(?:does|do|did|is|are|was|were|can|could|will|would|"
    r"should|might|has|have)\b"
)
_TIME_ASKED = re.compile(
    r"^\W*when\b|\bwhen (?:did|was|were|will|is|does|do|has|had|could|would)\b|\bwhat (?:year|date|day|month|time(?! zone)|"
    r"century|decade)\b|\bhow long ago\b|\bsince when\b|\b(?:today|tonight|tomorrow|yesterday|right now)\b"
)
_TIME_GIVEN = re.compile(
    r"\b(?:1[0-9]{3}|20[0-9]{2})\b|\b(?:january|february|march|april|may|june|july|august|september|october|"
    r"november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|tomorrow|yesterday|"
    r"century|centuries|decades?|years? ago|since the|noon|midnight|weekdays?|weekends?|mornings?|evenings?|"
    r"afternoons?|overnight|daily|weekly|monthly|annually)\b"
    r"|\b\d[\d,.]*\s*(?:(?:-|to|or)\s*\d[\d,.]*\s*)?(?:\w+\s+)?(?:hours?|minutes?|seconds?|days?|weeks?|months?|years?)\b"
    r"|\b\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|\b\d{1,2}:\d{2}\b"
)
#: Money in the cited text: what answers "how much does it cost" or "what is the price".
_MONEY_GIVEN = re.compile(
    r"[$€£¥]\s?\d|\b\d[\d,.]*\s?(?:dollars?|euros?|pounds?|cents?|usd|eur|gbp|yen|rupees?)\b|\bfree of charge\b"
    r"|\b(?:costs?|priced?|fees?|charges?)\s+(?:\w+\s+){0,3}\d"
)
_MONEY_ASKED = re.compile(
    r"\bhow much\b.*\b(?:cost|costs|charge|charges|pay|price|fee|fees)\b|\bwhat (?:does|do|did|will) .* cost\b"
)
_MONEY_ATTRIBUTES = frozenset({"price", "prices", "budget", "salary", "salaries", "wage", "wages"})
_COUNT_ASKED = re.compile(r"\bhow many (\w+)(?: (\w+))?")
#: "How far / old / tall ..." and the units that answer each.
_LENGTH = (r"miles|kilometers|kilometres|km|meters|metres|feet|foot|ft|yards|centimeters|centimetres|cm|millimeters|"
           r"millimetres|mm|inches|inch")
_DURATION = r"years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centuries"
_MEASURES: dict[str, str] = {
    "far": _LENGTH,
    "tall": _LENGTH,
    "high": _LENGTH,
    "deep": _LENGTH,
    "wide": _LENGTH,
    "long": rf"{_LENGTH}|{_DURATION}",
    "soon": _DURATION,
    "old": r"years?|centuries|decades?",
    "big": rf"square \w+|hectares|acres|people|inhabitants|tons?|tonnes?|cm|mm|inches|litres?|liters?|{_LENGTH}",
    "large": rf"square \w+|hectares|acres|people|inhabitants|tons?|tonnes?|cm|mm|inches|litres?|liters?|{_LENGTH}",
    "heavy": r"tons?|tonnes?|kg|kilograms?|pounds?",
    "fast": r"mph|km/h|kilometers an hour|miles an hour|knots",
    "often": r"times|daily|weekly|monthly|yearly|annually",
    "cold": r"degrees?|°|celsius|fahrenheit|c|f",
    "hot": r"degrees?|°|celsius|fahrenheit|c|f",
    "warm": r"degrees?|°|celsius|fahrenheit|c|f",
}
_MEASURE_ASKED = re.compile(rf"\bhow ({'|'.join(_MEASURES)})\b(?! (?:in advance|ahead|before|beforehand)\b)")
#: "Is X bigger than Y?", "Which is older, X or Y?": a comparison of measures, answered like "how big / old".
_COMPARATIVES = {"bigger": "big", "larger": "large", "taller": "tall", "higher": "high", "deeper": "deep",
                 "wider": "wide", "longer": "long", "older": "old", "heavier": "heavy", "faster": "fast",
                 "farther": "far", "colder": "cold", "hotter": "hot", "warmer": "warm"}
_COMPARATIVE_ASKED = re.compile(rf"\b({'|'.join(_COMPARATIVES)}) than\b|\bwhich (?:is|was|one is) ({'|'.join(_COMPARATIVES)})\b")
#: "for days at a time", "for weeks": a duration without a figure still answers "how long".
_VAGUE_DURATION = re.compile(
    r"\b(?:for|within|over|in|takes?|lasts?) (?:about |around )?(?:a few |several |many |a couple of )?"
    r"(?:seconds|minutes|hours|days|weeks|months|years)\b"
)
#: "How far in advance ...": a duration answers it.
_AHEAD_ASKED = re.compile(r"\bhow (?:far|long|much time) (?:in advance|ahead|before|beforehand)\b")
#: Nouns any number answers: "how many people / times".
_ANY_COUNT = frozenset({"people", "persons", "times", "kinds", "types", "sorts", "ones", "members", "students"})
#: "How much lithium ...": an amount of a substance, answered by a number (not a price).
_AMOUNT_ASKED = re.compile(r"\bhow much (?!time\b|does\b|do\b|did\b|is\b|are\b|will\b|would\b|can\b|money\b)(\w+)")
#: Attributes a question may ask the value of, and superlatives it may ask about: the cited text must at least
#: mention them.
_ATTRIBUTE_ASKED = re.compile(
    r"\b(population|gdp|percentage|budget|salary|salaries|wages?|prices?|exchange rate|currency|currencies|"
    r"capital|birthday|age|height|weather|temperature|time zone|president|prime minister|king|queen|mayor|ceo|founder|"
    r"inventor|author|tallest|highest|largest|biggest|smallest|oldest|youngest|longest|shortest|richest|"
    r"poorest|fastest|deepest|heaviest|cheapest|most populous)\b"
)


def _names(parties: Parties) -> list[tuple[str, str]]:
    """``[(lower-cased name, party)]`` for every name of every party, longest first."""
    pairs = [(n.casefold(), party) for party, aliases in parties for n in {party, *aliases} if n.strip()]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def asked_attribute(question: str, parties: Parties = ()) -> str | None:
    """The attribute in "What is X's N?" / "What is the N of X?", X being a side, or ``None``.

    The caller checks the last word of ``N`` (its head noun) against the corpus.
    """
    if not parties:
        return None
    text = lowered(question).rstrip("?! .")
    names = "|".join(re.escape(n) for n, _ in _names(parties))
    m = re.fullmatch(rf"what(?:'s| is| are| was| were)\s+(?:the\s+)?(?:(?:{names})'s\s+([\w\s-]+)|"
                     rf"([\w\s-]+?)\s+of\s+(?:the\s+)?(?:{names}))", text)
    if not m:
        return None
    return (m.group(1) or m.group(2)).strip()


#: "Who wrote / invented / won ... X?": a question about who made or achieved something, and what the cited text
#: must say for it to answer (the deed itself, in some form).
_DEEDS = {
    "wrote": r"wr[io]t|author", "written": r"wr[io]t|author", "invented": r"invent", "discovered": r"discover",
    "painted": r"paint", "composed": r"compos", "founded": r"found", "designed": r"design", "directed": r"direct",
    "built": r"buil", "created": r"creat", "won": r"\bw[oi]n", "captained": r"captain", "sang": r"\bs[iau]ng",
}
_DEED_ASKED = re.compile(rf"^\W*who\s+(?:first\s+)?({'|'.join(_DEEDS)})\b")


#: An age stated without "years": "aged 12 to 15", "under 12", "over 65", "the minimum age ... is 16", "13-year-olds".
_AGE_GIVEN = re.compile(
    r"\b(?:aged?|ages|under|over|older than|younger than)\s+\d+\b|\bage\b(?:\s+\w+){0,4}\s+(?:is|of)\s+\d+\b"
    r"|\b\d+[- ]years?[- ]olds?\b|\b\d+\s+(?:and|or)\s+(?:over|older|up|above)\b"
)


def _states_measure(measure: str, body: str) -> bool:
    """Whether the lower-cased ``body`` gives a figure answering "how <measure>" ("3-5 days", "thousands of miles")."""
    if measure == "long" and _VAGUE_DURATION.search(body):
        return True
    if measure == "old" and _AGE_GIVEN.search(body):
        return True
    unit = _MEASURES[measure]
    return bool(re.search(rf"\b{_NUMBER}\s*(?:(?:-|to|or)\s*{_NUMBER}\s*)?(?:\w+\s+)?(?:of\s+)?(?:{unit})\b", body))


def _cited(cited: Sequence[str]) -> str:
    """The ``cited`` texts as one lower-cased run of words ("$12", "9:30" and "3-5" kept), for the figure patterns."""
    return " ".join(" ".join(c.casefold().split()) for c in cited)


def asked_measure(question: str) -> str | None:
    """The measure a "how far / old / long ..." ``question`` asks for ("far", "old" ...), or ``None``."""
    measure = _MEASURE_ASKED.search(lowered(question))
    return measure.group(1) if measure else None


def states_measure(measure: str | None, cited: Sequence[str]) -> bool:
    """Whether the ``cited`` text gives a figure of ``measure`` (:func:`asked_measure`; ``None``: never)."""
    return measure is not None and _states_measure(measure, _cited(cited))


def answers_measure(question: str, cited: Sequence[str]) -> bool:
    """True when ``question`` asks "how far / old / long ..." and the ``cited`` text states a figure of that kind:
    the match is then on what is asked, not only on the names the question shares with the corpus."""
    return states_measure(asked_measure(question), cited)


def missing_answer_type(question: str, cited: Sequence[str]) -> str | None:
    """The kind of answer ``question`` asks for that the ``cited`` text lacks, or ``None``.

    "When ..." needs a date or time in the cited text; "how many X" a number
    before X; "how far / old / tall ..." a number with a unit of that dimension;
    "how much does it cost" / "the price" an amount of money; "what is the
    population / GDP / currency ...", "who is the president ...", "the tallest
    ..." the attribute or superlative itself.  Only a cited text lacking every
    fact of that type declines; one that merely mentions the same names does not
    answer such a question.
    """
    text = lowered(question)
    body = _cited(cited)
    if _TIME_ASKED.search(text) and not _WHEN_CLAUSE.search(text) and not _TIME_GIVEN.search(body):
        return "time"
    count = _COUNT_ASKED.search(text)
    if count:  # "how many (nuclear) warheads": a number before the first or second word
        nouns = "|".join(re.escape(w[:4]) for w in count.groups() if w)
        generic = count.group(1) in _ANY_COUNT and re.search(r"\b\d+\b", body)
        if not generic and not re.search(rf"\b{_NUMBER}\s+(?:\w+\s+)?(?:{nouns})", body):
            return "count"
    if _AHEAD_ASKED.search(text) and not re.search(rf"\b{_NUMBER}\s+(?:\w+\s+)?(?:{_DURATION})\b", body):
        return "measure"
    amount = _AMOUNT_ASKED.search(text)
    if amount and not _MONEY_ASKED.search(text) and not re.search(
        rf"\b\d[\d,.]*\s*%?\s*(?:\w+\s+){{0,2}}(?:of\s+)?{re.escape(amount.group(1)[:4])}", body
    ):
        return "measure"  # "How much lithium is in a phone battery?" with no amount of lithium stated
    measure = _MEASURE_ASKED.search(text)
    if measure and not _states_measure(measure.group(1), body):
        return "measure"
    compared = _COMPARATIVE_ASKED.search(text)
    if compared and not _states_measure(_COMPARATIVES[compared.group(1) or compared.group(2)], body):
        return "measure"
    deed = _DEED_ASKED.search(text)
    if deed and not re.search(_DEEDS[deed.group(1)], body):
        return "attribute"  # "Who wrote War and Peace?" cited from a text that never says who wrote anything
    money = bool(_MONEY_GIVEN.search(body))
    if _MONEY_ASKED.search(text) and not money:
        return "measure"
    for attribute in _ATTRIBUTE_ASKED.findall(text):
        if attribute in _MONEY_ATTRIBUTES and money:
            continue
        stem = attribute[:-1] if attribute.endswith("s") and not attribute.endswith("ss") else attribute
        if not re.search(rf"\b{re.escape(stem)}", body):
            return "attribute"
    return None


#: Words that only say which figure is asked ("how much does X cost", "how long does X take"): not its subject.
_FIGURE_WORD_LIST = """
cost costs costing price prices priced pay paid fee fees charge charges charged much many long far old tall high deep
wide big large heavy fast often soon cold hot warm time times take takes taking last lasts date year day month hour
minute when apart away until
"""
_FIGURE_WORDS = frozenset(_FIGURE_WORD_LIST.split())
#: Words for the sides of a text as a group ("their countries", "both nations"): they stand for its names.
_COLLECTIVE_WORDS = "countries country nations nation sides parties governments"
_COLLECTIVE = frozenset(_COLLECTIVE_WORDS.split())
#: A sentence opening with one of these may state the figure of the sentence before it ("It costs $12.").
_ANAPHORIC_START = re.compile(r"^\W*(?:it|its|they|their|this|these|that|those|each|both|he|she|the latter)\b")


def _figure_test(question: str) -> Callable[[str], bool] | None:
    """Whether a lower-cased text states the figure ``question`` asks for (money, a measure, a date or time), or
    ``None`` when it asks for none of them (counts are checked beside their noun already: :func:`missing_answer_type`)."""
    text = lowered(question)
    if _MONEY_ASKED.search(text):
        return lambda body: bool(_MONEY_GIVEN.search(body))
    measure = _MEASURE_ASKED.search(text)
    if measure:
        return partial(_states_measure, measure.group(1))
    if _TIME_ASKED.search(text) and not _WHEN_CLAUSE.search(text):
        return lambda body: bool(_TIME_GIVEN.search(body))
    return None


def figure_sentences(question: str, sentences: Sequence[str]) -> list[int] | None:
    """The positions of the ``sentences`` that state the figure ``question`` asks for, each with the sentence
    before it when it opens with a pronoun ("It costs $12."); ``None`` when the question asks for no figure."""
    states = _figure_test(question)
    if states is None:
        return None
    found: list[int] = []
    for i, sentence in enumerate(sentences):
        body = _cited([sentence])
        if states(body):
            if i and _ANAPHORIC_START.search(body):
                found.append(i - 1)
            found.append(i)
    return found


def collective(word: str) -> bool:
    """Whether ``word`` (lower-case) names the sides of a text as a group ("countries", "nations")."""
    return word in _COLLECTIVE


def figure_words(word: str) -> bool:
    """Whether ``word`` (lower-case) only names the kind of figure asked, not what it is about."""
    return word in _FIGURE_WORDS


@dataclass(frozen=True)
class WholeIntent:
    """A question about the whole corpus: ``kind`` is "overview", "list" or "wants"; ``party`` (its name) for "wants"."""

    kind: str
    party: str | None = None


def lowered(text: str) -> str:
    """``text`` lower-cased with apostrophes kept and other punctuation spaced out."""
    return " ".join(re.sub(r"[^\w'\s-]", " ", text.casefold()).split())


def party_mentions(text: str, parties: Parties = ()) -> list[tuple[int, str]]:
    """``[(position, party name)]`` for every name of a side in ``text`` (lower-cased), in order."""
    found: list[tuple[int, int, str]] = []
    for name, party in _names(parties):
        for m in re.finditer(rf"\b{re.escape(name)}(?:'s)?\b", text):
            if not any(s <= m.start() < e for s, e, _ in found):
                found.append((m.start(), m.end(), party))
    return [(s, p) for s, _, p in sorted(found)]


def _strip_parties(text: str, parties: Parties) -> str:
    for name, _ in _names(parties):
        text = re.sub(rf"\b{re.escape(name)}(?:'s)?\b", " ", text)
    return text


def wanting_party(text: str, parties: Parties = ()) -> str | None:
    """Which side ``text`` asks the wants of: a party's name, "both", or ``None`` when it is not such a question.

    The question must name a side, use a wish word and contain nothing more
    specific.  The side after "from"/"of" is the giver; "for"/"to" marks the
    receiver; otherwise the first side named is the one wanting.  Only the two
    sides of one document count together (``parties`` lists them in pairs).
    """
    if not parties or not _WANT.search(text):
        return None
    mentions = party_mentions(text, parties)
    if not mentions:
        return None
    rest = re.sub(r"\b(?:\d+|ten)\b", " ", _strip_parties(text, parties))
    if any(w not in _WANT_FILLER for w in re.findall(r"[^\W\d_]+", rest)):
        return None
    wanting: set[str] = set()
    giving: set[str] = set()
    for pos, party in mentions:
        before = text[:pos].split()[-1:] or [""]
        (giving if before[0] in ("from", "of") else wanting).add(party)
    pair = _pair_of({p for _, p in mentions}, parties)
    if pair is None:
        return None
    if not wanting:
        wanting = set(pair) - giving
    if len(wanting) != 1:
        return "both" if wanting == set(pair) else None
    return wanting.pop()


def _pair_of(named: set[str], parties: Parties) -> tuple[str, ...] | None:
    """The two sides (consecutive in ``parties``) that include every side ``named``, or ``None``."""
    names = [p for p, _ in parties]
    for i in range(0, len(names) - 1, 2):
        pair = (names[i], names[i + 1])
        if named <= set(pair):
            return pair
    return None


def whole_article(question: str, parties: Parties = ()) -> WholeIntent | None:
    """Recognize an overview, list or one-side's-wants question; ``None`` for anything else.

    ``parties`` are the sides of the corpus's two-party documents (see the module docstring).
    """
    text = lowered(question)
    if _LIST.search(text):
        return WholeIntent("list")
    if _OVERVIEW.search(text):
        return WholeIntent("overview")
    party = wanting_party(text, parties)
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
