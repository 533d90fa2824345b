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
  "exchanges", "organisation" -> "organization"); a word of 6 letters
  or more also matches a corpus word with the same first letter that shares 80%
  of its letters in order ("educatoin" -> "educational").  Such a match counts
  a little less than an exact one.  A word the embedding model has whole in its
  own vocabulary is spelled as meant, not a slip: it matches only another form
  of itself the stemmer missed ("speak" -> "speaker") or its other national
  spelling ("colour" -> "color"), never a neighbour ("wine" -> "wire", "bold" ->
  "bolt"), which gave off-topic questions words they lack.
* A demonym folds into its place ("Indian" -> "India", "Cuban" -> "Cuba")
  when the corpus has the place's stem.
* BM25 (bm25s, Lucene variant) scores each document; the per-term score vectors
  are cached, so a question is a sum of a few small numpy arrays.
* *Generic* stems are those found in at least half of the sections of every
  corpus document that has them (a document's ubiquitous names, such as the two
  parties of an article about two countries): a question sharing only those with
  the corpus is about its names, not about anything it says (see
  :meth:`LexicalIndex.only_generic`).  They are counted per document, so adding
  documents does not change them.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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

#: Typo matching per question: at most this many unknown words, each at most this long (no real word is longer).
MAX_FUZZY_WORDS = 12
MAX_FUZZY_LETTERS = 30

#: Two stems must share at least this many first letters to count as forms of one word (see :func:`variant`).
VARIANT_PREFIX = 5

_TOKEN = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-case word tokens of ``text`` (letters and digits; apostrophe parts split off)."""
    return [w for w in _TOKEN.findall(text.casefold()) if len(w) > 1 or w.isdigit()]


def folded(stem: str, places: frozenset[str]) -> str:
    """A Snowball ``stem`` with a demonym folded into its place when the corpus has the place ("cuban" -> "cuba")."""
    return stem[:-1] if stem.endswith("n") and stem[:-1] in places else stem


def max_edits(word: str) -> int:
    """How many edits a misspelling of ``word`` may have: none below 4 letters, 1 up to 8, else 2."""
    return 0 if len(word) < 4 else 1 if len(word) <= 8 else 2


#: British spellings and their American forms (either may be the corpus's): "colour"/"color", "centre"/"center",
#: "organise"/"organize", "analyse"/"analyze", "catalogue"/"catalog", "defence"/"defense", "travelled"/"traveled".
_NATIONAL = ((re.compile(r"(?<=[a-z]{2})our"), "or"), (re.compile(r"([bt])re(s|d)?$"), r"\1er\2"), (re.compile(r"is(e|ed|es|ing|ation)"), r"iz\1"),
             (re.compile(r"ys(e|ed|es|ing)$"), r"yz\1"), (re.compile(r"ogue$"), "og"), (re.compile(r"ence$"), "ense"),
             (re.compile(r"ll(ed|ing|er)$"), r"l\1"))


def american(word: str) -> str:
    """``word`` with British spellings made American ("colour" -> "color", "centre" -> "center")."""
    for pattern, replacement in _NATIONAL:
        word = pattern.sub(replacement, word)
    return word


def variant(stem: str, other: str) -> bool:
    """Whether two stems are forms of one word the stemmer missed ("speak"/"speaker", "drive"/"driven",
    "organis"/"organ"): they agree on all but at most the last letter of the shorter, and on at least
    :data:`VARIANT_PREFIX` letters."""
    shorter = min(len(stem), len(other))
    common = next((i for i, (a, b) in enumerate(zip(stem, other, strict=False)) if a != b), shorter)
    return common >= max(VARIANT_PREFIX, shorter - 1)


@dataclass(frozen=True)
class Term:
    """One topical word of a question and the corpus stems it stands for, with their weights."""

    word: str
    stems: tuple[tuple[str, float], ...]

    @property
    def known(self) -> bool:
        """Whether the corpus has this word (exactly or as a near spelling)."""
        return bool(self.stems)


@dataclass(frozen=True)
class WordCounts:
    """How often each word of the vocabulary occurs in each document: a CSR matrix (documents x words) over
    the sorted ``words``, stop words left out.  Saved with a build (:mod:`.prepared`), so an incremental build
    tokenizes only the sections that changed and joins the others' rows (:meth:`join`)."""

    words: tuple[str, ...]  # sorted
    indptr: np.ndarray  # int64, documents + 1
    indices: np.ndarray  # int32, a column of ``words`` per entry, ascending within a row
    counts: np.ndarray  # int32

    @property
    def documents(self) -> int:
        """How many documents (rows) this holds."""
        return len(self.indptr) - 1

    def rows(self, start: int, stop: int) -> WordCounts:
        """Documents ``start`` .. ``stop`` - 1 (the vocabulary unchanged; :meth:`join` drops unused words)."""
        a, b = int(self.indptr[start]), int(self.indptr[stop])
        return WordCounts(self.words, self.indptr[start : stop + 1] - a, self.indices[a:b], self.counts[a:b])

    @classmethod
    def join(cls, parts: Sequence[WordCounts]) -> WordCounts:
        """The documents of ``parts``, in order, over the sorted union of the words they use.

        Parts sharing one vocabulary (rows of one saved build) are remapped together: the cost is one pass over
        each distinct vocabulary, not one per part."""
        vocabularies: dict[int, tuple[tuple[str, ...], list[np.ndarray]]] = {}
        for part in parts:
            vocabularies.setdefault(id(part.words), (part.words, []))[1].append(part.indices)
        used: set[str] = set()
        for words, indices in vocabularies.values():
            found = np.unique(np.concatenate(indices)) if indices else np.zeros(0, np.int32)
            used.update(words[i] for i in found.tolist())
        vocabulary = sorted(used)
        where = {w: i for i, w in enumerate(vocabulary)}
        remaps = {key: np.array([where.get(w, -1) for w in words], dtype=np.int32) for key, (words, _) in vocabularies.items()}
        indptr, indices, counts, at = [np.zeros(1, np.int64)], [], [], 0
        for part in parts:
            indices.append(remaps[id(part.words)][part.indices] if len(part.indices) else np.zeros(0, np.int32))
            counts.append(part.counts)
            indptr.append(part.indptr[1:] + at)
            at += int(part.indptr[-1])
        return cls(tuple(vocabulary), np.concatenate(indptr).astype(np.int64),
                   np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, np.int32),
                   np.concatenate(counts).astype(np.int32) if counts else np.zeros(0, np.int32))


def count_words(documents: Sequence[str]) -> WordCounts:
    """Tokenize each document once (:func:`words`, stop words left out) into a :class:`WordCounts`."""
    from collections import Counter

    rows = [Counter(w for w in words(d) if w not in STOPWORDS) for d in documents]
    vocabulary = sorted({w for row in rows for w in row})
    column = {w: i for i, w in enumerate(vocabulary)}
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indices: list[int] = []
    counts: list[int] = []
    for i, row in enumerate(rows):
        for c in sorted(column[w] for w in row):
            indices.append(c)
            counts.append(row[vocabulary[c]])
        indptr[i + 1] = len(indices)
    return WordCounts(tuple(vocabulary), indptr, np.array(indices, dtype=np.int32), np.array(counts, dtype=np.int32))


def _generic(present: Any, group: np.ndarray, stems: Sequence[str]) -> frozenset[str]:
    """The *generic* ``stems``: found in at least half of the documents (and at least two) of every group that has
    them.  ``present`` is the (documents x stems) 0/1 matrix, ``group`` each document's group (its corpus file): a
    stem counts per group, so adding a file about other things neither makes a file's own names specific nor
    another file's ordinary words generic."""
    from scipy import sparse

    if not present.shape[0]:
        return frozenset()
    groups = int(group.max()) + 1
    size = np.bincount(group, minlength=groups)
    member = sparse.csr_matrix((np.ones(len(group)), (group, np.arange(len(group)))), shape=(groups, len(group)))
    per_group = (member @ present).tocoo()  # documents of each group that have each stem
    need = np.maximum(2, np.ceil(size / 2))
    short = np.zeros(len(stems), dtype=bool)
    short[per_group.col[per_group.data < need[per_group.row]]] = True
    has = np.zeros(len(stems), dtype=bool)
    has[per_group.col] = True
    return frozenset(s for s, ok in zip(stems, has & ~short, strict=True) if ok)


#: bm25s's parameters (its defaults: the Lucene variant); the arrays are computed here, as bm25s would.
BM25_K1, BM25_B = 1.5, 0.75
#: The token bm25s indexes for a document without words, so every document has a length.
EMPTY_TOKEN = "\u2205"


def _bm25(matrix: Any, stems: Sequence[str]) -> bm25s.BM25:
    """A bm25s index (Lucene BM25) over the (documents x stems) term counts ``matrix``, computed in arrays."""
    from scipy import sparse

    n = matrix.shape[0]
    lengths = np.asarray(matrix.sum(axis=1)).ravel()
    empty = np.flatnonzero(lengths == 0)
    vocabulary = list(stems)
    if len(empty):  # as bm25s is given it: one placeholder token
        filler = sparse.csr_matrix((np.ones(len(empty)), (empty, np.zeros(len(empty), np.int64))), shape=(n, 1))
        matrix = sparse.hstack([matrix, filler], format="csr")
        vocabulary.append(EMPTY_TOKEN)
        lengths = np.asarray(matrix.sum(axis=1)).ravel()
    by_stem = matrix.tocsc()
    by_stem.sort_indices()
    df = np.diff(by_stem.indptr)
    idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
    tf = by_stem.data
    rows = by_stem.indices
    average = float(lengths.mean()) if n else 1.0
    tfc = tf / (tf + BM25_K1 * (1 - BM25_B + BM25_B * lengths[rows] / average))
    column = np.repeat(np.arange(len(vocabulary)), df)
    bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B)
    bm25.scores = {"data": (idf[column] * tfc).astype(np.float32), "indices": rows.astype(np.int32),
                   "indptr": by_stem.indptr.astype(np.int64), "num_docs": n}
    bm25.vocab_dict = {s: i for i, s in enumerate(vocabulary)}
    bm25.vocab_dict[""] = len(vocabulary)  # as bm25s.index adds it
    bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
    bm25.nonoccurrence_array = None  # the Lucene variant has none
    return bm25


@dataclass(frozen=True)
class LexicalTables:
    """What a :class:`LexicalIndex` derives from its documents besides BM25; saved with a build (:mod:`.prepared`)."""

    n_docs: int
    words: tuple[str, ...]  # the corpus vocabulary (surface words, stop words left out), sorted
    stems: tuple[str, ...]  # the stem of each word
    df: dict[str, int]  # how many documents have each stem
    generic: frozenset[str]
    places: frozenset[str]  # raw Snowball stems of 4+ letters: a demonym folds into one ("cuban" -> "cuba")

    def to_json(self) -> dict[str, Any]:
        """The tables as JSON data (sorted, so equal tables give equal files)."""
        return {"n_docs": self.n_docs, "words": list(self.words), "stems": list(self.stems), "df": self.df,
                "generic": sorted(self.generic), "places": sorted(self.places)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LexicalTables:
        """Tables read back from :meth:`to_json`'s data; raises ``KeyError``/``TypeError``/``ValueError`` if malformed."""
        words, stems = tuple(map(str, data["words"])), tuple(map(str, data["stems"]))
        if len(words) != len(stems):
            raise ValueError(f"{len(words)} words but {len(stems)} stems")
        return cls(int(data["n_docs"]), words, stems, {str(k): int(v) for k, v in data["df"].items()},
                   frozenset(map(str, data["generic"])), frozenset(map(str, data["places"])))


class LexicalIndex:
    """BM25 and typo-tolerant term matching over a fixed list of normalized documents.

    ``groups`` gives each document's group (here: which corpus file a section
    comes from), for :attr:`generic`; BM25 itself is over all documents.
    :meth:`from_saved` makes the same index from tables and a BM25 index saved at build time.
    """

    def __init__(
        self, documents: Sequence[str], groups: Sequence[int] | None = None, dictionary: frozenset[str] = frozenset()
    ) -> None:
        self._from_counts(count_words(documents), groups)
        self.use_dictionary(dictionary)

    @classmethod
    def from_counts(cls, counts: WordCounts, groups: Sequence[int] | None = None) -> LexicalIndex:
        """The index of the documents whose words ``counts`` holds (:func:`count_words`, or rows of saved ones
        joined with :meth:`WordCounts.join`): equal to the index made from their text."""
        index = cls.__new__(cls)
        index._from_counts(counts, groups)
        return index

    def _from_counts(self, counts: WordCounts, groups: Sequence[int] | None) -> None:
        """Derive the tables and BM25 from ``counts``, in arrays: stems, document frequencies, generic stems."""
        from scipy import sparse

        n = counts.documents
        raw = Stemmer.Stemmer("english").stemWords(list(counts.words))
        places = frozenset(s for s in raw if len(s) >= 4)
        stems = [folded(s, places) for s in raw]
        unique = sorted(set(stems))
        column = {s: i for i, s in enumerate(unique)}
        stem_of_word = np.array([column[s] for s in stems], dtype=np.int32)
        matrix = sparse.csr_matrix((counts.counts.astype(np.float64), stem_of_word[counts.indices] if len(stems) else counts.indices,
                                    counts.indptr), shape=(n, len(unique)))
        matrix.sum_duplicates()  # the words of one stem add up
        present = matrix.copy()
        present.data[:] = 1.0
        df_array = np.asarray(present.sum(axis=0)).ravel().astype(np.int64) if n else np.zeros(len(unique), np.int64)
        df = {s: int(d) for s, d in zip(unique, df_array, strict=True)}
        group = np.asarray(list(groups) if groups is not None else [0] * n, dtype=np.int64)
        generic = _generic(present, group, unique)
        tables = LexicalTables(n, counts.words, tuple(stems), df, generic, places)
        self._setup(tables, _bm25(matrix, unique), counts)

    @classmethod
    def from_saved(cls, tables: LexicalTables, bm25: bm25s.BM25, counts: WordCounts | None = None) -> LexicalIndex:
        """The index whose tables and BM25 index were computed (by ``__init__``) and saved at build time."""
        index = cls.__new__(cls)
        index._setup(tables, bm25, counts)
        return index

    def _setup(self, tables: LexicalTables, bm25: bm25s.BM25 | None, counts: WordCounts | None = None) -> None:
        self.tables = tables
        #: The documents' word counts this index was derived from (``None`` for a build saved without them).
        self.counts = counts
        self._stemmer = Stemmer.Stemmer("english")
        self._stem_cache: dict[str, str] = {}
        self._places = tables.places
        self.n_docs = tables.n_docs
        self.vocabulary: dict[str, str] = dict(zip(tables.words, tables.stems, strict=True))  # surface word -> stem
        self._initials: dict[str, list[str]] = {}  # corpus words by first letter, made when first needed
        self.df = tables.df
        self.generic = tables.generic
        self._bm25 = bm25
        self._term_scores: dict[str, np.ndarray] = {}
        self._fuzzy: dict[str, tuple[tuple[str, float], ...]] = {}
        #: Correctly spelled words (lower case): such a word is not taken for a misspelling of another word.
        self.dictionary: frozenset[str] = frozenset()

    def use_dictionary(self, dictionary: frozenset[str]) -> None:
        """Take ``dictionary`` (the embedding model's whole words) as the correctly spelled words from now on."""
        if dictionary != self.dictionary:
            self.dictionary = dictionary
            self._fuzzy = {}

    @property
    def bm25(self) -> bm25s.BM25:
        """The BM25 index (bm25s) over the documents' stems."""
        assert self._bm25 is not None
        return self._bm25

    def _by_initial(self, letter: str) -> list[str]:
        """The corpus words starting with ``letter``, sorted: a slice of the sorted vocabulary."""
        found = self._initials.get(letter)
        if found is None:
            ordered = self.tables.words
            found = list(ordered[bisect.bisect_left(ordered, letter) : bisect.bisect_left(ordered, chr(ord(letter) + 1))])
            self._initials[letter] = found
        return found

    def stem(self, word: str) -> str:
        """The Snowball stem of a lower-case ``word`` (cached)."""
        stem = self._stem_cache.get(word)
        if stem is None:
            stem = folded(self._stemmer.stemWord(word), self._places)
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
            # A word of the model's vocabulary is spelled as meant ("wine" is not a slip for "wire"): it matches
            # only another form of itself or its other national spelling ("speak" -> "speaker", "colour" -> "color").
            real = word in self.dictionary

            def take(surface: str, weight: float) -> None:
                stem = self.vocabulary[surface]
                if not real or variant(self.stem(word), stem) or self.stem(american(word)) == self.stem(american(surface)):
                    best[stem] = max(best.get(stem, 0.0), weight)

            # Typos seldom hit the first letter; requiring it avoids "lights" -> "rights" and keeps the scan short.
            same_initial = self._by_initial(word[0])
            limit = max_edits(word)
            if limit:
                for surface, dist, _ in process.extract(word, same_initial, scorer=OSA.distance, score_cutoff=limit,
                                                        limit=5):
                    take(surface, FUZZY_WEIGHT * (1.0 - 0.1 * (dist - 1)))
            if len(word) >= LONG_WORD:
                for surface, ratio, _ in process.extract(word, same_initial, scorer=fuzz.ratio,
                                                         score_cutoff=LONG_WORD_RATIO, limit=5):
                    take(surface, FUZZY_WEIGHT * ratio / 100.0)
            found = tuple(sorted(best.items(), key=lambda item: -item[1]))
            if len(self._fuzzy) < 10_000:
                self._fuzzy[word] = found
        return found

    def terms(self, text: str) -> list[Term]:
        """The topical words of ``text`` with the corpus stems each stands for (none if unknown)."""
        out: list[Term] = []
        unknown = 0
        for w in words(text):
            if w in STOPWORDS:
                continue
            stem = self.stem(w)
            if stem in self.df:
                out.append(Term(w, ((stem, 1.0),)))
            else:  # typo matching is bounded: a few unknown words a question, none absurdly long
                unknown += 1
                fuzzy = unknown <= MAX_FUZZY_WORDS and len(w) <= MAX_FUZZY_LETTERS
                out.append(Term(w, self._near(w) if fuzzy else ()))
        return out

    def _scores_for(self, stem: str) -> np.ndarray:
        scores = self._term_scores.get(stem)
        if scores is None:
            scores = np.asarray(self.bm25.get_scores([stem]), dtype=np.float32)
            self._term_scores[stem] = scores
        return scores

    def containing(self, stem: str) -> np.ndarray:
        """The positions of the documents that contain ``stem``, in order."""
        return np.flatnonzero(self._scores_for(stem) > 0)

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

    def outweighed(self, terms: Sequence[Term], position: int, names: frozenset[str] = frozenset()) -> bool:
        """True when the question words the corpus lacks weigh more (IDF) than its specific words found in
        document ``position``: "Is PLA filament biodegradable?" shares a product with a section, not what it asks.

        Generic stems (the document's ubiquitous names) count for neither side; ``names`` (lower-cased words of
        the parties' other names, which the text may never use) are not foreign.
        """
        specific = foreign = 0.0
        for term in terms:
            if term.known:
                stem, weight = term.stems[0]
                if stem not in self.generic and self._scores_for(stem)[position] > 0:
                    specific += weight * self.idf(stem)
            elif term.word not in names:
                foreign += self.idf(None)
        return foreign > specific
