"""Lexical evidence: BM25 over the normalized corpus, with typo-tolerant query terms.

Everything here is built once per loaded index (when its :class:`~alliance_qa.retrieve.Retriever`
is made) from the sections' normalized text; a question costs a tokenization, a
dictionary lookup per word and, for words the corpus does not contain, one
edit-distance scan of the corpus vocabulary (a few hundred words, in C++ via rapidfuzz).

* Words are lower-cased, split on anything that is not a letter or digit and
  stemmed with the Snowball English stemmer (PyStemmer), like the corpus.
* A question word missing from the corpus vocabulary is matched to the corpus
  words within a small Damerau-Levenshtein (OSA) distance: one edit for words
  of 4-8 letters, two for longer ones, and the same first letter ("enrgy" -> "energy", "exchnages" ->
  "exchanges", "denuclearisation" -> "denuclearization"); a word of 6 letters
  or more also matches a corpus word with the same first letter that shares 80%
  of its letters in order ("educatoin" -> "educational").  Such a match counts
  a little less than an exact one.
* A demonym folds into its place ("Korean" -> "Korea", "Russian" -> "Russia")
  when the corpus has the place's stem.
* BM25 (bm25s, Lucene variant) scores each document; the per-term score vectors
  are cached, so a question is a sum of a few small numpy arrays.
* *Generic* stems are those found in at least half of the documents (here
  "north", "korea", "russia"): a question sharing only those with the corpus
  is about the article's names, not about anything it says (see
  :meth:`LexicalIndex.only_generic`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

# bm25s sets its own logger to DEBUG, so every index build would print through the CLI's log handler.
logging.getLogger("bm25s").setLevel(logging.WARNING)

#: Words that carry no topic: English stop words plus the fillers of chat questions.
STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | {
    "also", "anything", "could", "describe", "does", "else", "explain", "give", "hi", "hello", "know",
    "let", "like", "may", "might", "much", "many", "must", "please", "say", "says", "shall", "something",
    "tell", "thanks", "thank", "us", "would", "yes", "ok", "okay", "can", "get", "one", "ones", "whats",
}  # fmt: skip

#: How much a typo-corrected word counts, relative to a word spelled as in the corpus.
FUZZY_WEIGHT = 0.8
#: Words this long may also match a corpus word sharing most of its letters in order (Indel similarity), which
#: catches several slips at once ("educatoin" -> "educational", "exchnage" -> "exchanges").
LONG_WORD = 6
LONG_WORD_RATIO = 80.0

_TOKEN = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-case word tokens of ``text`` (letters and digits; apostrophe parts split off)."""
    return [w for w in _TOKEN.findall(text.casefold()) if len(w) > 1 or w.isdigit()]


def max_edits(word: str) -> int:
    """How many edits a misspelling of ``word`` may have: none below 4 letters, 1 up to 8, else 2."""
    return 0 if len(word) < 4 else 1 if len(word) <= 8 else 2


@dataclass(frozen=True)
class Term:
    """One topical word of a question and the corpus stems it stands for, with their weights."""

    word: str
    stems: tuple[tuple[str, float], ...]

    @property
    def known(self) -> bool:
        """Whether the corpus has this word (exactly or as a near spelling)."""
        return bool(self.stems)


class LexicalIndex:
    """BM25 and typo-tolerant term matching over a fixed list of normalized documents."""

    def __init__(self, documents: Sequence[str]) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self._stem_cache: dict[str, str] = {}
        raw_stems = {self._stemmer.stemWord(w) for d in documents for w in words(d) if w not in STOPWORDS}
        self._places = {s for s in raw_stems if len(s) >= 4}
        doc_stems = [[self.stem(w) for w in words(d) if w not in STOPWORDS] for d in documents]
        self.n_docs = len(documents)
        self.vocabulary: dict[str, str] = {}  # surface word -> stem
        for doc in documents:
            for w in words(doc):
                if w not in STOPWORDS:
                    self.vocabulary.setdefault(w, self.stem(w))
        # Corpus words by first letter: a misspelling is matched against the words sharing its first letter only.
        self._by_initial: dict[str, list[str]] = {}
        for w in sorted(self.vocabulary):
            self._by_initial.setdefault(w[0], []).append(w)
        df: dict[str, int] = {}
        for stems in doc_stems:
            for s in set(stems):
                df[s] = df.get(s, 0) + 1
        self.df = df
        self.generic = frozenset(s for s, n in df.items() if n >= max(2, math.ceil(self.n_docs / 2)))
        self._bm25 = bm25s.BM25()
        self._bm25.index([s or ["\u2205"] for s in doc_stems], show_progress=False)
        self._term_scores: dict[str, np.ndarray] = {}
        self._fuzzy: dict[str, tuple[tuple[str, float], ...]] = {}

    def stem(self, word: str) -> str:
        """The Snowball stem of a lower-case ``word`` (cached)."""
        stem = self._stem_cache.get(word)
        if stem is None:
            stem = self._stemmer.stemWord(word)
            if stem.endswith("n") and stem[:-1] in self._places:  # a demonym: "korean" -> "korea"
                stem = stem[:-1]
            if len(self._stem_cache) < 50_000:
                self._stem_cache[word] = stem
        return stem

    def idf(self, stem: str | None) -> float:
        """BM25-style IDF of ``stem``; a word the corpus lacks gets the IDF of a word in no document."""
        df = self.df.get(stem, 0) if stem else 0
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))

    def _near(self, word: str) -> tuple[tuple[str, float], ...]:
        found = self._fuzzy.get(word)
        if found is None:
            best: dict[str, float] = {}
            # Typos seldom hit the first letter; requiring it avoids "lights" -> "rights" and keeps the scan short.
            same_initial = self._by_initial.get(word[0], [])
            limit = max_edits(word)
            if limit:
                for surface, dist, _ in process.extract(word, same_initial, scorer=OSA.distance, score_cutoff=limit,
                                                        limit=5):
                    stem = self.vocabulary[surface]
                    best[stem] = max(best.get(stem, 0.0), FUZZY_WEIGHT * (1.0 - 0.1 * (dist - 1)))
            if len(word) >= LONG_WORD:
                for surface, ratio, _ in process.extract(word, same_initial, scorer=fuzz.ratio,
                                                         score_cutoff=LONG_WORD_RATIO, limit=5):
                    stem = self.vocabulary[surface]
                    best[stem] = max(best.get(stem, 0.0), FUZZY_WEIGHT * ratio / 100.0)
            found = tuple(sorted(best.items(), key=lambda item: -item[1]))
            if len(self._fuzzy) < 10_000:
                self._fuzzy[word] = found
        return found

    def terms(self, text: str) -> list[Term]:
        """The topical words of ``text`` with the corpus stems each stands for (none if unknown)."""
        out: list[Term] = []
        for w in words(text):
            if w in STOPWORDS:
                continue
            stem = self.stem(w)
            if stem in self.df:
                out.append(Term(w, ((stem, 1.0),)))
            else:
                out.append(Term(w, self._near(w)))
        return out

    def _scores_for(self, stem: str) -> np.ndarray:
        scores = self._term_scores.get(stem)
        if scores is None:
            scores = np.asarray(self._bm25.get_scores([stem]), dtype=np.float32)
            self._term_scores[stem] = scores
        return scores

    def scores(self, terms: Sequence[Term]) -> np.ndarray:
        """BM25 score of every document for ``terms`` (a fuzzy match counts its weight)."""
        total = np.zeros(self.n_docs, dtype=np.float32)
        for term in terms:
            for stem, weight in term.stems:
                total += weight * self._scores_for(stem)
        return total

    def topical(self, terms: Sequence[Term]) -> int:
        """How many of ``terms`` name something specific in the corpus (known and not generic)."""
        return sum(1 for t in terms if t.known and t.stems[0][0] not in self.generic)

    def only_generic(self, terms: Sequence[Term]) -> bool:
        """True when the corpus knows only generic ``terms`` of the question and lacks at least one other."""
        known = [t for t in terms if t.known]
        return bool(known) and len(known) < len(terms) and all(t.stems[0][0] in self.generic for t in known)

    def coverage(self, terms: Sequence[Term]) -> float:
        """The IDF-weighted share of ``terms`` the corpus contains (1.0 when there are none)."""
        if not terms:
            return 1.0
        have = want = 0.0
        for term in terms:
            stem, weight = term.stems[0] if term.stems else (None, 0.0)
            w = self.idf(stem) if term.stems else self.idf(None)
            want += w
            have += w * weight
        return have / want
