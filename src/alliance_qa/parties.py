"""The two sides of a two-party document and the other names that stand for each, derived from its text.

A party is a name found in at least half of the document's sections; the other
names are its demonyms (suffix rules, kept when the text uses them), a capital or
leader named beside it, and seats of power named in such a capital.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .corpus import Section

Parties = tuple[tuple[str, tuple[str, ...]], ...]

#: Capitalized words that are not names (sentence openers, pronouns, months ...).
_NOT_NAMES = frozenset(["a", "an", "the", "this", "that", "these", "those", "it", "its", "they", "their", "there", "then", "than", "and", "but", "or", "so", "if", "when", "while", "as", "at", "by", "for", "from", "in", "into", "of", "on", "onto", "to", "with", "without", "about", "after", "before", "during", "since", "until", "upon", "over", "under", "between", "among", "through", "i", "we", "you", "he", "she", "his", "her", "our", "your", "my", "me", "us", "them", "both", "each", "every", "all", "any", "some", "most", "many", "much", "more", "other", "another", "such", "what", "which", "who", "whom", "whose", "where", "why", "how", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "have", "has", "had", "can", "could", "will", "would", "shall", "should", "may", "might", "must", "not", "no", "yes", "also", "however", "here", "today", "yet", "still", "even", "despite", "although", "though", "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "chapter", "section", "part", "step", "note", "example", "table", "figure", "see", "use", "using"])
_ROLES = r"(?:capital|capital city|leader|president|prime minister|premier|king|queen|chancellor|head of state|ruler)"


_NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of\s+(?:the\s+)?)?[A-Z][\w-]*)*")


def _names_in(text: str) -> set[str]:
    """Capitalized names in ``text`` (runs of capitalized words), possessives stripped, openers dropped."""
    found = set()
    for m in _NAME.finditer(text):
        name = re.sub(r"'s$", "", m.group(0).strip())
        words = name.split()
        while words and words[0].casefold() in _NOT_NAMES:
            words = words[1:]
        if words and not all(w.casefold() in _NOT_NAMES for w in words) and len(words) <= 4:
            found.add(" ".join(words))
    return found


def demonyms(name: str) -> list[str]:
    """Regular demonyms of a place name by suffix rules: "Cuba" -> "Cuban(s)", "Chile" -> "Chilean(s)",
    "Japan" -> "Japanese", "Iran" -> "Iranian(s)".  Irregular ones ("France" -> "French") need an alias."""
    base = name.split()[-1]
    prefix = name[: len(name) - len(base)]
    stems: list[str] = []
    if base.endswith("a"):
        stems += [base + "n", base[:-1] + "e"]  # "Cuban"; "Argentine"
    elif base.endswith("e"):
        stems += [base + "an", base[:-1] + "ian"]
    elif base.endswith("y"):
        stems += [base[:-1] + "ian"]
    elif base.endswith("o"):
        stems += [base + "an"]
    else:
        stems += [base + "ese", base + "ian", base + "i", base + "ish"]
    out = []
    for stem in stems:
        out.append(prefix + stem)
        if not stem.endswith(("ese", "ish", "i")):
            out.append(prefix + stem + "s")
    return out


def parties_of(sections: Sequence[Section], extra: Sequence[tuple[str, Sequence[str]]] = ()) -> Parties:
    """The two parties of a document, with the other names for each; ``()`` when it is not about two sides.

    A party is a name found in at least half of the document's sections (at least
    two), that is not part of a longer such name; the document is about two sides
    when exactly two or more qualify (the two most frequent are kept).  ``extra``
    (from the overrides) adds names: a key that is a party gains its aliases; a
    key found in most sections becomes a party.
    """
    if not sections:
        return ()
    texts = [f"{s.title}\n{s.text}" for s in sections]
    df: Counter[str] = Counter()
    for text in texts:
        df.update(_names_in(text))
    need = max(2, -(-len(sections) // 2))
    frequent = [n for n, c in df.most_common() if c >= need]
    # Keep the longest form ("South Africa" over "Africa"), and drop demonyms of another frequent name.
    chosen: list[str] = []
    for name in frequent:
        if any(name != other and re.search(rf"\b{re.escape(name)}\b", other) for other in frequent):
            continue
        if any(name in demonyms(other) for other in frequent if other != name):
            continue
        chosen.append(name)
    overrides = {name: tuple(a.casefold() for a in aliases) for name, aliases in extra}
    for name in overrides:
        if name not in chosen and df.get(name, 0) >= need:
            chosen.append(name)
    chosen.sort(key=lambda n: (-df[n], texts[0].find(n) if n in texts[0] else 10**9))
    if len(chosen) < 2:
        return ()
    body = "\n".join(texts)
    lowered = body.casefold()
    pair = sorted(chosen[:2], key=lambda n: body.find(n))  # in the order the document names them
    found: dict[str, list[str]] = {}
    for name in pair:
        aliases = [name.casefold()]
        used = [d.casefold() for d in demonyms(name) if re.search(rf"\b{re.escape(d.casefold())}\b", lowered)]
        aliases += used + [f"{d}s" for d in used if d.endswith("an")]  # "Chilean" in the text: "Chileans" too
        aliases += _named_beside(name, body)
        found[name] = aliases
    _seats(pair, body, found)
    return tuple(
        (name, tuple(dict.fromkeys(a for a in [*found[name], *overrides.get(name, ())] if a))) for name in pair
    )


def _seats(pair: Sequence[str], text: str, found: dict[str, list[str]]) -> None:
    """Capitals named in the parties' order ("the governments in X and Y" where the text says "A and B"),
    and seats of power named in a capital ("the Casa Rosada in X"), added to ``found``."""
    place = r"([A-Z][\w-]+(?: [A-Z][\w-]+)?)"
    a, b = pair
    order = (a, b) if f"{a} and {b}" in text else (b, a) if f"{b} and {a}" in text else None
    if order is not None:
        for m in re.finditer(rf"\b(?:governments|capitals|leaders) in {place} and {place}", text):
            for name, capital in zip(order, m.groups(), strict=True):
                if capital.casefold() not in _NOT_NAMES:
                    found[name].append(capital.casefold())
    for name in pair:
        for capital in [c for c in found[name] if c != name.casefold()]:
            pattern = rf"\b(?:the |[Tt]he )?([A-Z][\w-]+ [A-Z][\w-]+|(?<=the )[A-Z][\w-]+) in (?i:{re.escape(capital)})\b"
            for m in re.finditer(pattern, text):
                seat = m.group(1)
                proper = seat.split()[0].casefold() not in _NOT_NAMES or len(seat.split()) > 1
                if proper and not any(seat.casefold() in v for v in found.values()):
                    found[name].append(seat.casefold())


def _named_beside(country: str, text: str) -> list[str]:
    """A capital or leader named beside ``country``: "X's capital, Y", "Y, the capital of X",
    "President Y of X", "X's leader Y", "<demonym> President Y"."""
    c = re.escape(country)
    people = r"([A-Z][\w-]+(?:\s+[A-Z][\w-]+){0,2})"
    own = "|".join(re.escape(d) for d in [country, *demonyms(country)])
    patterns = [
        rf"\b{c}'s\s+{_ROLES},?\s+{people}",
        rf"\b{people},\s+(?:the\s+)?{_ROLES}\s+of\s+{c}\b",
        rf"\b(?:{_ROLES.replace('(?:', '(?:[Tt]he |')})\s+{people}\s+of\s+{c}\b",
        rf"\b(?:{own})\s+(?:[Pp]resident|[Pp]rime [Mm]inister|[Ll]eader|[Kk]ing|[Qq]ueen|[Cc]hancellor)\s+{people}",
        rf"\b(?:[Pp]resident|[Pp]rime [Mm]inister|[Ll]eader|[Kk]ing|[Qq]ueen|[Cc]hancellor)\s+{people}\s+of\s+{c}\b",
        rf"\b{people}\s+\((?:{own})\)",
    ]
    found: list[str] = []
    for pattern in patterns:
        for m in re.finditer(pattern, text):
            name = m.group(1).strip()
            if name.casefold() in _NOT_NAMES or name == country:
                continue
            found.append(name.casefold())
            last = name.split()[-1]
            if len(name.split()) > 1 and len(last) > 2:
                found.append(last.casefold())  # "President Vladimir X" is also "X"
    return found
