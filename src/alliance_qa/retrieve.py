"""Rank the sections of a loaded index for one question: dense at three granularities, plus BM25.

Everything but the question vector is prepared once per loaded index, when the
:class:`Retriever` is made: unit -> section / kind / sentence maps, every unit's
component along the corpus's common direction, each sentence's stems, and a BM25
index over the sections with its typo-tolerant vocabulary
(:mod:`alliance_qa.lexical`).  A question then costs one FAISS search (all units
of a small index, the nearest :data:`CANDIDATE_UNITS` of a large one), BM25 for
its few words, and numpy reductions over those candidates; the sentences of the
few sections shown are scored last, from the stored vectors.

**Dense score of a section.**  Each unit (the section's title, its text window(s),
each of its sentences) is compared with the question after removing, from both,
part of the corpus's *common direction* (the mean of all unit vectors): every
section of this article is about North Korea and Russia, and without this step a
question that merely names them looks close to every section, and closest to the
intro that names them most.  With ``c`` that unit direction and ``g = 2b - b^2``
(``b`` = :data:`COMMON_COMPONENT`), the reduced cosine follows from the plain one
with no second search: ``(u.q - g (u.c)(q.c)) / sqrt((1 - g (u.c)^2)(1 - g (q.c)^2))``.
A section's dense score is a weighted sum of its best title, window and sentence
similarities (:data:`KIND_WEIGHTS`).  A document's own title (the first line of
its intro) is not counted for the intro: it describes the whole document.

**Fusion.**  The section score is the dense score plus :data:`LEXICAL_WEIGHT`
times its BM25 score over normalized, stemmed, typo-corrected words.  BM25 is
zero when no question word is in the corpus (pure paraphrases), so it only ever
adds evidence; the dense part carries paraphrases, BM25 carries keywords, names
and misspellings.

**Quotes.**  Within a section, sentences are ranked by their plain cosine
similarity to the question plus :data:`SENTENCE_LEXICAL_WEIGHT` times the IDF of
the question words they contain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .corpus import Section
from .index import LoadedIndex
from .lexical import LexicalIndex, Term, words

#: Weights of a section's best title, text-window and sentence similarity in its dense score.
KIND_WEIGHTS = {"title": 0.2, "section": 0.5, "sentence": 0.3}
#: How much of the corpus's mean direction is removed from question and units before comparing (0 = plain cosine).
COMMON_COMPONENT = 0.5
#: Weight of a section's BM25 score in its fused score.
LEXICAL_WEIGHT = 0.12
#: Weight of the question words' IDF a sentence contains when choosing the sentences to quote.
SENTENCE_LEXICAL_WEIGHT = 0.08
#: A second sentence is quoted when it scores within this much of the best one.
QUOTE_MARGIN = 0.12
#: At most this many sentences are quoted per section.
MAX_QUOTES = 2
#: An index of up to this many units is scored in full; a larger one from its nearest :data:`CANDIDATE_UNITS`.
FULL_SCAN_UNITS = 4096
CANDIDATE_UNITS = 512

_KIND_CODES = {kind: code for code, kind in enumerate(KIND_WEIGHTS)}


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
class Probe:
    """A question (or an earlier one, for a follow-up) as used to rank sentences: its vector, words and weight."""

    vector: np.ndarray
    terms: tuple[Term, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Ranking:
    """Every section's scores for one question (arrays indexed like ``Retriever.sections``).

    ``probes`` are the question vectors and words that choose the sentences to
    quote (one, or a follow-up's and its earlier topic's).
    """

    scores: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    terms: tuple[Term, ...] = ()
    probes: tuple[Probe, ...] = field(default=(), repr=False)

    @property
    def order(self) -> list[int]:
        """Section positions, best first."""
        return [int(i) for i in np.argsort(-self.scores, kind="stable")]

    def top(self, k: int) -> list[int]:
        """The positions of the ``k`` best sections, best first (without sorting them all)."""
        if k >= len(self.scores):
            return self.order
        part = np.argpartition(-self.scores, k - 1)[:k]
        return [int(i) for i in part[np.argsort(-self.scores[part], kind="stable")]]

    @property
    def best(self) -> int:
        """Position of the best section."""
        return int(np.argmax(self.scores))

    def blend(self, other: Ranking, weight: float) -> Ranking:
        """Mix in ``other`` (an earlier question's ranking) with ``weight`` against this one's 1."""
        return Ranking.combine([self, other], [1.0, weight])

    @staticmethod
    def combine(rankings: Sequence[Ranking], weights: Sequence[float]) -> Ranking:
        """The weighted mean of ``rankings``' scores; the first one's question words are kept."""
        w = np.asarray(weights, dtype=np.float32) / float(sum(weights))

        def mean(name: str) -> np.ndarray:
            return np.asarray(sum(wi * getattr(r, name) for wi, r in zip(w, rankings, strict=True)), dtype=np.float32)

        return Ranking(
            scores=mean("scores"),
            dense=mean("dense"),
            lexical=mean("lexical"),
            terms=rankings[0].terms,
            probes=Ranking.mix_probes(rankings, weights),
        )

    @staticmethod
    def mix_probes(rankings: Sequence[Ranking], weights: Sequence[float]) -> tuple[Probe, ...]:
        """The probes of ``rankings``, each ranking's share scaled by ``weights`` (summing to 1)."""
        total = float(sum(weights))
        return tuple(
            Probe(p.vector, p.terms, p.weight * w / total)
            for r, w in zip(rankings, weights, strict=True)
            for p in r.probes
        )


class Retriever:
    """Hybrid retrieval over one loaded index: dense title/section/sentence similarity fused with BM25."""

    def __init__(self, index: LoadedIndex) -> None:
        self.index = index
        self.sections: list[Section] = list(index.sections)
        n = self._n = len(self.sections)
        position = {s.id: i for i, s in enumerate(self.sections)}
        units = index.units
        vectors = np.asarray(index.vectors, dtype=np.float32)
        self._vectors = vectors
        self._unit_section = np.fromiter((position[u.section_id] for u in units), dtype=np.int64, count=len(units))
        self._unit_kind = np.fromiter((_KIND_CODES.get(u.kind, -1) for u in units), dtype=np.int64, count=len(units))
        # A document's title (the first line of its intro) describes the whole document, not its intro.
        intro_titles = {s.id: s.title.strip() for s in self.sections if s.number is None}
        for row, unit in enumerate(units):
            if unit.section_id in intro_titles and unit.text.strip() == intro_titles[unit.section_id]:
                self._unit_kind[row] = -1
        has_kind = np.zeros((len(KIND_WEIGHTS), n), dtype=bool)
        counted = self._unit_kind >= 0
        has_kind[self._unit_kind[counted], self._unit_section[counted]] = True
        self._has_kind = has_kind
        # The corpus's common direction and every unit's component along it.
        mean = vectors.mean(axis=0) if len(vectors) else np.zeros(index.dimension, np.float32)
        norm = float(np.linalg.norm(mean))
        self._common = (mean / norm).astype(np.float32) if norm > 0 else mean.astype(np.float32)
        self._gamma = 2 * COMMON_COMPONENT - COMMON_COMPONENT**2
        self._unit_common = vectors @ self._common if len(vectors) else np.zeros(0, np.float32)
        self._unit_scale = np.sqrt(np.maximum(1.0 - self._gamma * self._unit_common**2, 1e-6))
        # Each section's sentence units, for quoting; each sentence's stems, for its lexical share.
        sentence_rows: dict[int, list[tuple[int, int]]] = {}
        for row, unit in enumerate(units):
            if unit.kind == "sentence" and unit.sentence is not None:
                sentence_rows.setdefault(position[unit.section_id], []).append((unit.sentence, row))
        self._sentence_rows = {
            i: (np.array([j for j, _ in pairs], dtype=np.int64), np.array([r for _, r in pairs], dtype=np.int64))
            for i, pairs in sentence_rows.items()
        }
        window_rows: dict[int, list[int]] = {}
        for row, unit in enumerate(units):
            if unit.kind == "section":
                window_rows.setdefault(position[unit.section_id], []).append(row)
        self.lexical = LexicalIndex([self._document(s) for s in self.sections])
        self._sentence_stems = [
            [frozenset(self.lexical.stem(w) for w in words(sentence)) for sentence in s.sentences] for s in self.sections
        ]
        self._candidates = len(units) if len(units) <= FULL_SCAN_UNITS else CANDIDATE_UNITS
        self._gists = [self._find_gist(i, window_rows.get(i, [])) for i in range(n)]
        #: Answers that depend only on this index (the whole-article ones), computed once.
        self.memo: dict[object, object] = {}

    @staticmethod
    def _document(section: Section) -> str:
        return section.text if section.number is None or not section.title else f"{section.title}\n{section.text}"

    # ------------------------------------------------------------------ scoring

    def _dense(self, sims: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Sections' weighted best similarities from the candidate units ``rows`` and their ``sims``."""
        kinds = self._unit_kind[rows]
        keep = kinds >= 0
        sims, rows, kinds = sims[keep], rows[keep], kinds[keep]
        floor = float(sims.min()) if len(sims) else 0.0  # what a unit that was not a candidate scores at most
        best = np.full((len(KIND_WEIGHTS), self._n), -np.inf, dtype=np.float32)
        np.maximum.at(best, (kinds, self._unit_section[rows]), sims)
        best[np.isneginf(best) & self._has_kind] = floor
        overall = best.max(axis=0)
        overall[np.isneginf(overall)] = floor
        # A section without units of one kind (e.g. no title) counts its best unit of any kind instead.
        best = np.where(np.isneginf(best), overall, best)
        weights = np.array(list(KIND_WEIGHTS.values()), dtype=np.float32)[:, None]
        return np.asarray((weights * best).sum(axis=0), dtype=np.float32)

    def rank(self, text: str, vector: np.ndarray) -> Ranking:
        """Score every section for the normalized question ``text`` and its ``vector`` (one FAISS search)."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self._candidates:
            raw, rows = self.index.search(query, self._candidates)
        else:  # an index with no units at all
            raw, rows = np.zeros(0, np.float32), np.zeros(0, np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        q_common = float(query @ self._common)
        q_scale = float(np.sqrt(max(1.0 - self._gamma * q_common**2, 1e-6)))
        reduced = (raw - self._gamma * self._unit_common[rows] * q_common) / (self._unit_scale[rows] * q_scale)
        dense = self._dense(reduced.astype(np.float32), rows)
        terms = tuple(self.lexical.terms(text))
        lexical = self.lexical.scores(terms)
        return Ranking(
            scores=dense + LEXICAL_WEIGHT * lexical,
            dense=dense,
            lexical=lexical,
            terms=terms,
            probes=(Probe(query, terms),),
        )

    # ------------------------------------------------------------------ hits and quotes

    def sentence_scores(self, position: int, ranking: Ranking) -> list[tuple[int, float]]:
        """``[(sentence index, quote score)]`` for section ``position``, best first."""
        found = self._sentence_rows.get(position)
        if found is None:
            return []
        indices, rows = found
        stems = self._sentence_stems[position]
        totals = np.zeros(len(rows), dtype=np.float32)
        for probe in ranking.probes:
            sims = self._vectors[rows] @ probe.vector
            weights = [(s, w * self.lexical.idf(s)) for t in probe.terms for s, w in t.stems]
            overlap = np.array([sum(w for s, w in weights if s in stems[j]) for j in indices], dtype=np.float32)
            totals += probe.weight * (sims + SENTENCE_LEXICAL_WEIGHT * overlap)
        best: dict[int, float] = {}
        for j, value in zip(indices.tolist(), totals.tolist(), strict=True):
            best[j] = max(best.get(j, -np.inf), value)  # a long sentence embedded in windows: its best window
        return sorted(best.items(), key=lambda item: -item[1])

    def quote_candidates(self, position: int, ranking: Ranking) -> list[tuple[str, float]]:
        """The sentences of section ``position`` with their quote scores, best first.

        A sentence repeating the document's title (the first line of an intro) is
        left out, unless it is all the section has.
        """
        section = self.sections[position]
        ranked = [(section.sentences[j], v) for j, v in self.sentence_scores(position, ranking)]
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
        return [self.hit(i, ranking) for i in ranking.top(k)]

    def search(self, vector: np.ndarray, k: int = 5, text: str = "") -> list[Hit]:
        """Return up to ``k`` sections best first for the normalized question ``text`` and its ``vector``."""
        return self.hits(self.rank(text, vector), k)

    # ------------------------------------------------------------------ summaries

    def _find_gist(self, position: int, windows: list[int]) -> str:
        """The sentence of section ``position`` nearest (by the stored vectors) to its text ``windows``' mean."""
        section = self.sections[position]
        found = self._sentence_rows.get(position)
        if found is None or not windows:
            return section.sentences[0] if section.sentences else section.text
        indices, rows = found
        sims = self._vectors[rows] @ self._vectors[windows].mean(axis=0)
        candidates = [
            (float(v), int(j)) for j, v in zip(indices, sims, strict=True)
            if section.sentences[int(j)].strip() != section.title.strip()
        ]
        return section.sentences[max(candidates)[1]] if candidates else section.sentences[0]

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
