"""Text normalization shared by the corpus and the questions.

The article as received writes every lowercase "e" as CYRILLIC SMALL LETTER IE
(U+0435) and its apostrophes as U+2019.  Embedding models and BM25 see such
words as foreign tokens, so corpus text and questions go through the same steps:

1. Unicode NFKC (folds full-width letters, ligatures, compatibility forms);
2. typographic quotes and dashes folded to their ASCII forms;
3. look-alike letters mapped to Latin, using Unicode's confusables data
   (shipped by the ``confusable_homoglyphs`` package), but only where the
   surrounding text is Latin: inside a word that has Latin letters, or in a word
   made only of look-alikes standing among mostly Latin words.  A genuine
   Cyrillic word ("Привет") or a Hangul one ("안녕") is left as it is.

``NORMALIZATION_VERSION`` is recorded in the index manifest: change it whenever
the output of :func:`normalize` changes, so old indexes are rebuilt.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from importlib import resources

NORMALIZATION_VERSION = 1

_PUNCT = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
    }
)

_WORD = re.compile(r"\w+")


@functools.cache
def latin_lookalikes() -> dict[str, str]:
    """Map each non-Latin letter that Unicode lists as confusable with one ASCII letter."""
    data = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    table: dict[str, str] = {}
    for char, glyphs in json.loads(data).items():
        if len(char) != 1 or char.isascii() or not char.isalpha():
            continue
        for glyph in glyphs:
            target = glyph["c"]
            if len(target) == 1 and target.isascii() and target.isalpha():
                table[char] = target
                break
    return table


@functools.lru_cache(maxsize=4096)
def _is_latin(char: str) -> bool:
    return char.isascii() or unicodedata.name(char, "").startswith("LATIN")


@functools.lru_cache(maxsize=1 << 16)
def _word_letters(word: str) -> tuple[bool, bool]:
    """Whether ``word`` has a Latin letter, and a non-Latin letter that is no look-alike (cached: words repeat)."""
    table = latin_lookalikes()
    latin = any(c.isalpha() and _is_latin(c) for c in word)
    other = any(c.isalpha() and not _is_latin(c) and c not in table for c in word)
    return latin, other


@functools.lru_cache(maxsize=1 << 16)
def _map_word_cached(word: str, latin_context: bool) -> str:
    return _map_word(word, latin_context, latin_lookalikes())


def _map_word(word: str, latin_context: bool, table: dict[str, str]) -> str:
    letters = [c for c in word if c.isalpha()]
    if not letters or all(_is_latin(c) for c in letters):
        return word
    has_latin = any(_is_latin(c) for c in letters)
    foreign = [c for c in letters if not _is_latin(c)]
    if not all(c in table for c in foreign):
        return word  # a genuine non-Latin word, or one mixing in real foreign letters
    if has_latin or latin_context:
        return "".join(table.get(c, c) for c in word)
    return word


def normalize(text: str) -> str:
    """Return ``text`` with compatibility forms, quotes and look-alike letters folded to Latin."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT)
    if text.isascii():
        return text
    classes = [_word_letters(w) for w in _WORD.findall(text)]
    latin_words = sum(1 for latin, _ in classes if latin)
    other_words = sum(1 for _, other in classes if other)
    latin_context = latin_words > other_words
    return _WORD.sub(lambda m: _map_word_cached(m.group(0), latin_context), text)
