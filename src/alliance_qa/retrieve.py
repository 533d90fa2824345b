"""Rank the sections of a loaded index for one question: dense at three granularities, plus BM25.

Everything but the question vector is prepared once per loaded index, when the
:class:`Retriever` is made: the unit vectors with the corpus's common direction
removed, the unit -> section and unit -> sentence maps, and two BM25 indexes
(sections and sentences) with their typo-tolerant vocabulary
(:mod:`alliance_qa.lexical`).  A question then costs one matrix-vector product
over the unit vectors (what FAISS ``IndexFlatIP`` does) plus a few numpy
reductions over sections and sentences.

**Dense score of a section.**  Each unit (the section's title, its text window(s),
each of its sentences) is compared with the question after removing, from both,
part of the corpus's *common direction* (the mean of all unit vectors): every
section of this article is about North Korea and Russia, and without this step
a question that merely names them looks close to every section, and closest to
the intro that names them most.  A section's dense score is a weighted sum of
its best title, window and sentence similarities (:data:`KIND_WEIGHTS`).

**Fusion.**  The section score is the dense score plus :data:`LEXICAL_WEIGHT`
times its BM25 score over normalized, stemmed, typo-corrected words.  BM25 is
zero when no question word is in the corpus (pure paraphrases), so it only ever
adds evidence; the dense part carries paraphrases, BM25 carries keywords, names
and misspellings.

**Quotes.**  Within a section, sentences are ranked by their plain cosine
similarity to the question plus :data:`SENTENCE_LEXICAL_WEIGHT` times their
own BM25 score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .corpus import Section
from .index import LoadedIndex
from .lexical import LexicalIndex, Term

#: Weights of a section's best title, text-window and sentence similarity in its dense score.
KIND_WEIGHTS = {"title": 0.2, "section": 0.5, "sentence": 0.3}
#: How much of the corpus's mean direction is removed from question and units before comparing (0 = plain cosine).
COMMON_COMPONENT = 0.5
#: Weight of a section's BM25 score in its fused score.
LEXICAL_WEIGHT = 0.12
#: Weight of a sentence's BM25 score when choosing the sentences to quote.
SENTENCE_LEXICAL_WEIGHT = 0.08
#: A second sentence is quoted when it scores within this much of the best one.
QUOTE_MARGIN = 0.12
#: At most this many sentences are quoted per section.
MAX_QUOTES = 2


@dataclass(frozen=True)
class Hit:
    """One section matching a question, with the sentences it would quote, best first."""

    number: int | None
    title: str
    score: float
    quote: str
    quotes: tuple[str, ...]
    section_id: str
    section_text: str
    source: str

    @property
    def label(self) -> str:
        """``"Energy Resources (2)"``, or ``"Title (intro)"`` for the intro."""
        return f"{self.title} ({self.number if self.number is not None else 'intro'})"


@dataclass(frozen=True)
class Ranking:
    """Every section's scores for one question (arrays indexed like ``Retriever.sections``)."""

    scores: np.ndarray
    dense: np.ndarray
    raw_dense: np.ndarray
    lexical: np.ndarray
    sentence_scores: np.ndarray
    terms: tuple[Term, ...] = field(default=())

    @property
    def order(self) -> list[int]:
        """Section positions, best first."""
        return [int(i) for i in np.argsort(-self.scores, kind="stable")]

    @property
    def best(self) -> int:
        """Position of the best section."""
        return int(np.argmax(self.scores))

    def blend(self, other: Ranking, weight: float) -> Ranking:
        """Mix in ``other`` (an earlier question's ranking) with ``weight`` against this one's 1."""
        return Ranking.combine([self, other], [1.0, weight])

    @staticmethod
    def combine(rankings: Sequence[Ranking], weights: Sequence[float]) -> Ranking:
        """The weighted mean of ``rankings``' scores; the first one's question terms are kept."""
        w = np.asarray(weights, dtype=np.float32) / float(sum(weights))

        def mean(name: str) -> np.ndarray:
            return np.asarray(sum(wi * getattr(r, name) for wi, r in zip(w, rankings, strict=True)), dtype=np.float32)

        return Ranking(
            scores=mean("scores"),
            dense=mean("dense"),
            raw_dense=mean("raw_dense"),
            lexical=mean("lexical"),
            sentence_scores=mean("sentence_scores"),
            terms=rankings[0].terms,
        )


def _max_by_group(values: np.ndarray, groups: np.ndarray, size: int, fill: float = 0.0) -> np.ndarray:
    """The maximum of ``values`` per group id in ``[0, size)``; ``fill`` for empty groups."""
    out = np.full(size, -np.inf, dtype=np.float32)
    np.maximum.at(out, groups, values)
    out[np.isneginf(out)] = fill
    return out


class Retriever:
    """Hybrid retrieval over one loaded index: dense title/section/sentence similarity fused with BM25."""

    def __init__(self, index: LoadedIndex) -> None:
        self.index = index
        self.sections: list[Section] = list(index.sections)
        position = {s.id: i for i, s in enumerate(self.sections)}
        n = len(self.sections)
        units = index.units
        self._unit_section = np.array([position[u.section_id] for u in units], dtype=np.int64)
        vectors = np.asarray(index.vectors, dtype=np.float32)
        self._vectors = vectors
        # A document's title (the first line of its intro) describes the whole document, not its intro: it is
        # not evidence for the intro section, or every "what does X want from Y" question would land there.
        document_level = np.array(
            [self.sections[position[u.section_id]].number is None
             and u.text.strip() == self.sections[position[u.section_id]].title.strip() for u in units],
            dtype=bool,
        )
        self._kinds = {
            kind: np.flatnonzero(np.array([u.kind == kind for u in units], dtype=bool) & ~document_level)
            for kind in KIND_WEIGHTS
        }
        self._scored = np.flatnonzero(~document_level)
        # Sentences: one flat list over all sections; sentence units map onto it.
        self._sentences: list[tuple[int, int]] = [(i, j) for i, s in enumerate(self.sections) for j in range(len(s.sentences))]
        flat = {key: k for k, key in enumerate(self._sentences)}
        rows, ids = [], []
        for row, unit in enumerate(units):
            if unit.kind == "sentence" and unit.sentence is not None and (position[unit.section_id], unit.sentence) in flat:
                rows.append(row)
                ids.append(flat[(position[unit.section_id], unit.sentence)])
        self._sentence_rows = np.array(rows, dtype=np.int64)
        self._sentence_ids = np.array(ids, dtype=np.int64)
        self._sentence_section = np.array([i for i, _ in self._sentences], dtype=np.int64)
        # The corpus's common direction, removed in part from units and questions.
        mean = vectors.mean(axis=0) if len(vectors) else np.zeros(index.dimension, np.float32)
        norm = float(np.linalg.norm(mean))
        self._common = (mean / norm).astype(np.float32) if norm > 0 else mean.astype(np.float32)
        reduced = vectors - COMMON_COMPONENT * np.outer(vectors @ self._common, self._common)
        lengths = np.linalg.norm(reduced, axis=1, keepdims=True)
        self._reduced = (reduced / np.where(lengths > 0, lengths, 1.0)).astype(np.float32)
        self.lexical = LexicalIndex([self._document(s) for s in self.sections])
        self.sentence_lexical = LexicalIndex(
            [self.sections[i].sentences[j] for i, j in self._sentences] or [""]
        )
        self._n = n
        self._gists = [self._find_gist(i) for i in range(n)]
        #: Answers that depend only on this index (the whole-article ones), computed once.
        self.memo: dict[object, object] = {}

    def _find_gist(self, position: int) -> str:
        """The sentence of section ``position`` nearest (by the stored vectors) to the section as a whole."""
        section = self.sections[position]
        rows = self._kinds["section"][self._unit_section[self._kinds["section"]] == position]
        ids = np.flatnonzero(self._sentence_section == position)
        if not len(rows) or not len(ids):
            return section.sentences[0] if section.sentences else section.text
        centre = self._vectors[rows].mean(axis=0)
        sims = _max_by_group(
            self._vectors[self._sentence_rows] @ centre, self._sentence_ids, len(self._sentences), fill=-1.0
        )[ids]
        candidates = [
            (float(v), self._sentences[k][1]) for k, v in zip(ids, sims, strict=True)
            if section.sentences[self._sentences[k][1]].strip() != section.title.strip()
        ] or [(0.0, 0)]
        return section.sentences[max(candidates)[1]] if section.sentences else section.text

    def gist(self, position: int) -> str:
        """The sentence that best sums up section ``position`` (chosen once, from the stored vectors)."""
        return self._gists[position]

    def intro_gist(self, position: int, count: int = 2) -> list[str]:
        """The first ``count`` sentences of substance of section ``position`` (not its title line or a caption)."""
        section = self.sections[position]
        found = [
            s for s in section.sentences
            if s.strip() != section.title.strip() and len(s.split()) >= 8 and not s.rstrip().endswith(":")
        ]
        return found[:count] or [self.gist(position)]

    @staticmethod
    def _document(section: Section) -> str:
        return section.text if section.number is None or not section.title else f"{section.title}\n{section.text}"

    # ------------------------------------------------------------------ scoring

    def _dense(self, sims: np.ndarray) -> np.ndarray:
        total = np.zeros(self._n, dtype=np.float32)
        for kind, weight in KIND_WEIGHTS.items():
            rows = self._kinds[kind]
            if len(rows):
                best = _max_by_group(sims[rows], self._unit_section[rows], self._n, fill=np.nan)
                # A section without units of this kind (e.g. no title) counts its other kinds instead.
                total += weight * np.where(np.isnan(best), 0.0, best)
                missing = np.isnan(best)
                if missing.any():
                    total[missing] += weight * self._fallback(sims, missing)
        return total

    def _fallback(self, sims: np.ndarray, missing: np.ndarray) -> np.ndarray:
        best = _max_by_group(sims[self._scored], self._unit_section[self._scored], self._n, fill=0.0)
        return best[missing]

    def rank(self, text: str, vector: np.ndarray) -> Ranking:
        """Score every section for the normalized question ``text`` and its ``vector``."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self._vectors.shape[1]:
            from .errors import IndexStateError

            raise IndexStateError(
                f"question vector has dimension {query.shape[0]} but the index at {self.index.path} has "
                f"{self._vectors.shape[1]}: run `alliance-qa build --full`"
            )
        raw = self._vectors @ query
        reduced_q = query - COMMON_COMPONENT * float(query @ self._common) * self._common
        length = float(np.linalg.norm(reduced_q)) or 1.0
        reduced = (self._reduced @ reduced_q) / length
        dense = self._dense(reduced)
        raw_dense = self._dense(raw)
        terms = tuple(self.lexical.terms(text))
        lexical = self.lexical.scores(terms)
        sentence_dense = _max_by_group(raw[self._sentence_rows], self._sentence_ids, len(self._sentences), fill=0.0)
        sentence_lexical = self.sentence_lexical.scores(terms)[: len(self._sentences)]
        return Ranking(
            scores=dense + LEXICAL_WEIGHT * lexical,
            dense=dense,
            raw_dense=raw_dense,
            lexical=lexical,
            sentence_scores=sentence_dense + SENTENCE_LEXICAL_WEIGHT * sentence_lexical,
            terms=terms,
        )

    # ------------------------------------------------------------------ hits and quotes

    def quote_candidates(self, position: int, ranking: Ranking) -> list[tuple[str, float]]:
        """The sentences of section ``position`` with their quote scores, best first.

        A sentence repeating the document's title (the first line of an intro) is
        left out, unless it is all the section has.
        """
        section = self.sections[position]
        ids = np.flatnonzero(self._sentence_section == position)
        ranked = sorted(
            ((section.sentences[self._sentences[k][1]], float(ranking.sentence_scores[k])) for k in ids),
            key=lambda item: -item[1],
        )
        kept = [(s, v) for s, v in ranked if not (section.number is None and s.strip() == section.title.strip())]
        return kept or ranked or [(section.text, 0.0)]

    def hit(self, position: int, ranking: Ranking) -> Hit:
        """Make a :class:`Hit` for section ``position``, quoting its sentences that best match the question."""
        section = self.sections[position]
        ranked = self.quote_candidates(position, ranking)
        top = ranked[0][1]
        chosen = [s for s, v in ranked[:MAX_QUOTES] if v >= top - QUOTE_MARGIN]
        return Hit(
            number=section.number,
            title=section.title,
            score=round(float(ranking.scores[position]), 4),
            quote=chosen[0],
            quotes=tuple(chosen),
            section_id=section.id,
            section_text=section.text,
            source=section.source,
        )

    def hits(self, ranking: Ranking, k: int = 5) -> list[Hit]:
        """The ``k`` best sections of ``ranking`` as hits, best first."""
        return [self.hit(i, ranking) for i in ranking.order[:k]]

    def search(self, vector: np.ndarray, k: int = 5, text: str = "") -> list[Hit]:
        """Return up to ``k`` sections best first for the normalized question ``text`` and its ``vector``."""
        return self.hits(self.rank(text, vector), k)
