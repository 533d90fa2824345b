"""Rank the sections of a loaded index for one question: dense at three granularities, plus BM25.

Everything but the question vector is prepared once per build and saved with it
(:mod:`alliance_qa.prepared`): unit -> section / kind / sentence maps, every unit's
component along its document's common direction, and a BM25 index over the
sections with its typo-tolerant vocabulary (:mod:`alliance_qa.lexical`); making a
:class:`Retriever` only groups those arrays, and a section's sentence stems and
gist are made when first needed.  A question then costs one FAISS search (all units
of a small index, the nearest :data:`CANDIDATE_UNITS` of a large one), BM25 for
its few words, and numpy reductions over those candidates; the sentences of the
few sections shown are scored last, from the stored vectors.

**Dense score of a section.**  Each unit (the section's title, its text window(s),
each of its sentences) is compared with the question after removing, from both,
part of the corpus's *common direction* (the mean of all unit vectors): every
section of a document is about the same few subjects (its parties, its product), and without this step a
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

**Acronyms.**  A question word written in capitals ("UN", "NATO", in a question that is not all capitals)
matches a corpus word only if the corpus writes it in capitals somewhere (of the first
:data:`ACRONYM_SECTIONS` sections holding it): the "UN" of a question is not the "Un" of a name.

**Numbers named in titles.**  A question naming a dotted number ("What changed in 0.28.1?", "What does 4.1.2
say?") puts first the section whose title holds it (a release, a numbered sub-section), at its own score.

**Quotes.**  Within a section, sentences are ranked by their plain cosine
similarity to the question plus :data:`SENTENCE_LEXICAL_WEIGHT` times the IDF of
the question words they contain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .corpus import Section, document_title
from .embed import model_words
from .lexical import Term, words
from .load import LoadedIndex
from .normalize import normalize
from .prepared import group_rows
from .ranking import Probe, Ranking
from .segments import OrderedVectors
from .types import Hit

__all__ = ["Hit", "Probe", "Ranking", "Retriever"]

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

#: A question word of 2 to 5 capitals is an acronym; its capital form is looked for in at most this many of the
#: sections holding its stem (past them it is taken as written in capitals somewhere).
ACRONYM_SECTIONS = 64
_ACRONYM = re.compile(r"\b[A-Z]{2,5}\b")
#: A dotted number in a question ("0.28.1", "4.1.2"): a section whose title holds it comes first; at most this
#: many sections holding all its parts are looked at.
_DOTTED = re.compile(r"(?<![\w.])\d{1,4}(?:\.\d{1,4}){1,3}(?![\w]|\.\d)")
TITLED_NUMBER_SECTIONS = 64

_KIND_CODES = {kind: code for code, kind in enumerate(KIND_WEIGHTS)}


class Retriever:
    """Hybrid retrieval over one loaded index: dense title/section/sentence similarity fused with BM25."""

    def __init__(self, index: LoadedIndex) -> None:
        self.index = index
        prepared = index.prepared  # saved with the build (computed in memory for a build made before that)
        self.sections: Sequence[Section] = index.sections
        n = self._n = len(self.sections)
        # Gathered row by row for a build with a delta segment (segments.py), mapped from disk otherwise.
        self._vectors = index.vectors if isinstance(index.vectors, OrderedVectors) else np.asarray(index.vectors, dtype=np.float32)
        self._unit_section = np.asarray(prepared.unit_section, dtype=np.int64)
        # An intro's copy of the document title describes the whole document, not its intro: not counted for it.
        # (A caption-like line of names, e.g. under a photo, is counted: it is what answers "who is pictured";
        # leaving it out lost two of the article's golden questions and changed nothing on the other corpora.)
        self._unit_kind = np.where(prepared.unit_counted, prepared.unit_kind, -1).astype(np.int64)
        self._intro = np.asarray(prepared.section_intro, dtype=bool)
        #: Each document (path relative to the corpus folder) and its sections' positions, in reading order.
        section_doc = np.asarray(prepared.section_doc, dtype=np.int64)
        by_doc, bounds = group_rows(section_doc, len(prepared.documents))
        self.documents: dict[str, list[int]] = {
            name: by_doc[bounds[d] : bounds[d + 1]].tolist() for d, name in enumerate(prepared.documents)
        }
        has_kind = np.zeros((len(KIND_WEIGHTS), n), dtype=bool)
        counted = self._unit_kind >= 0
        has_kind[self._unit_kind[counted], self._unit_section[counted]] = True
        self._has_kind = has_kind
        # Each document's common direction (the mean of its unit vectors) and every unit's component along its
        # own document's: a document about X and Y does not make questions naming X or Y drift to it, and adding
        # documents does not change another document's scores.
        self._unit_doc = section_doc[self._unit_section]
        self._commons = np.asarray(prepared.commons, dtype=np.float32)
        self._gamma = 2 * COMMON_COMPONENT - COMMON_COMPONENT**2
        self._unit_common = np.asarray(prepared.unit_common)
        self._unit_scale = np.sqrt(np.maximum(1.0 - self._gamma * self._unit_common**2, 1e-6)).astype(np.float32)
        # Each section's sentence units (for quoting) and text windows (for its gist), in row order.
        self._sentence_rows = group_rows(self._unit_section, n, (prepared.unit_kind == _KIND_CODES["sentence"]) & (prepared.unit_sentence >= 0))
        self._window_rows = group_rows(self._unit_section, n, prepared.unit_kind == _KIND_CODES["section"])
        self._unit_sentence = np.asarray(prepared.unit_sentence, dtype=np.int64)
        self.lexical = prepared.lexical
        self.lexical.use_dictionary(model_words(index.model))
        self._sentence_stems: dict[int, list[frozenset[str]]] = {}  # each sentence's stems, made when first quoted
        self._candidates = len(self._unit_section) if len(self._unit_section) <= FULL_SCAN_UNITS else CANDIDATE_UNITS
        self._gists: dict[int, str] = {}
        #: Answers that depend only on this index (the whole-article ones), computed once.
        self.memo: dict[object, object] = {}

    def _sentences_of(self, position: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Section ``position``'s sentence units: ``(sentence indices, unit rows)``, or ``None`` if it has none."""
        order, starts = self._sentence_rows
        rows = order[starts[position] : starts[position + 1]]
        return (self._unit_sentence[rows], rows) if len(rows) else None

    def _stems_of(self, position: int) -> list[frozenset[str]]:
        """The stems of each sentence of section ``position`` (for a sentence's lexical share)."""
        found = self._sentence_stems.get(position)
        if found is None:
            stem = self.lexical.stem
            found = [frozenset(stem(w) for w in words(sentence)) for sentence in self.sections[position].sentences]
            self._sentence_stems[position] = found
        return found

    # ------------------------------------------------------------------ documents

    def is_intro(self, position: int) -> bool:
        """Whether section ``position`` is its document's intro (the text before its first heading)."""
        return bool(self._intro[position])

    def document_title(self, document: str) -> str:
        """The title of ``document`` (:func:`alliance_qa.corpus.document_title`; usually its first section's)."""
        return document_title((self.sections[i] for i in self.documents.get(document, [])), document)

    def topical(self, terms: Sequence[Term]) -> int:
        """How many of ``terms`` name something specific in the corpus (see :meth:`LexicalIndex.topical`)."""
        return self.lexical.topical(terms)

    def only_generic(self, terms: Sequence[Term]) -> bool:
        """True when the corpus knows only generic ``terms`` (see :meth:`LexicalIndex.only_generic`)."""
        return self.lexical.only_generic(terms)

    # ------------------------------------------------------------------ scoring

    def _dense(self, sims: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Sections' weighted best similarities from the candidate units ``rows`` and their ``sims``."""
        kinds = self._unit_kind[rows]
        keep = kinds >= 0
        sims, rows, kinds = sims[keep], rows[keep], kinds[keep]
        floor = float(sims.min()) if len(sims) else 0.0  # what a unit that was not a candidate scores at most
        weights = np.array(list(KIND_WEIGHTS.values()), dtype=np.float32)[:, None]
        # A section with no candidate unit scores the floor at every kind; only the candidates' sections are
        # worked out, on arrays of their size (at 100,000 sections, not three passes over all of them).
        dense = np.full(self._n, (weights[:, 0] * np.float32(floor)).sum(), dtype=np.float32)
        sections, where = np.unique(self._unit_section[rows], return_inverse=True)
        best = np.full((len(KIND_WEIGHTS), len(sections)), -np.inf, dtype=np.float32)
        np.maximum.at(best, (kinds, where), sims)
        best[np.isneginf(best) & self._has_kind[:, sections]] = floor
        overall = best.max(axis=0)
        overall[np.isneginf(overall)] = floor
        # A section without units of one kind (e.g. no title) counts its best unit of any kind instead.
        best = np.where(np.isneginf(best), overall, best)
        dense[sections] = (weights * best).sum(axis=0)
        return dense

    def rank(self, text: str, vector: np.ndarray, found: tuple[np.ndarray, np.ndarray] | None = None) -> Ranking:
        """Score every section for the normalized question ``text`` and its ``vector`` (one FAISS search, unless
        ``found`` already holds its ``(scores, unit rows)``)."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if found is not None:
            raw, rows = found
        elif self._candidates:
            raw, rows = self.index.search(query, self._candidates)
        else:  # an index with no units at all
            raw, rows = np.zeros(0, np.float32), np.zeros(0, np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        q_common = (self._commons @ query)[self._unit_doc[rows]]
        q_scale = np.sqrt(np.maximum(1.0 - self._gamma * q_common**2, 1e-6))
        reduced = (raw - self._gamma * self._unit_common[rows] * q_common) / (self._unit_scale[rows] * q_scale)
        dense = self._dense(reduced.astype(np.float32), rows)
        terms = self._acronyms(text, tuple(self.lexical.terms(text)))
        lexical = self.lexical.scores(terms)
        ranking = Ranking(
            scores=dense + LEXICAL_WEIGHT * lexical,
            dense=dense,
            lexical=lexical,
            terms=terms,
            probes=(Probe(query, terms),),
        )
        named = self._titled_number(text, ranking)
        return ranking if named is None else ranking.promoted(named)

    def _titled_number(self, text: str, ranking: Ranking) -> int | None:
        """The best-scoring section whose title holds a dotted number the question names ("What changed in
        0.28.1?", "What does 4.1.2 say?"), if it is not first already; ``None`` otherwise."""
        numbers = _DOTTED.findall(text)
        if not numbers:
            return None
        found: list[int] = []
        for number in numbers[:3]:
            parts = [self.lexical.stem(p) for p in number.split(".")]
            if not all(part in self.lexical.df for part in parts):
                continue
            holding = self.lexical.containing(parts[0])
            for part in parts[1:]:
                holding = np.intersect1d(holding, self.lexical.containing(part), assume_unique=True)
            exact = re.compile(rf"(?<![\w.]){re.escape(number)}(?![\w]|\.\d)")
            found += [p for p in holding[:TITLED_NUMBER_SECTIONS].tolist() if exact.search(self.sections[p].title)]
        if not found:
            return None
        best = max(found, key=lambda p: float(ranking.scores[p]))
        return None if best == ranking.best else best

    def _acronyms(self, text: str, terms: tuple[Term, ...]) -> tuple[Term, ...]:
        """``terms`` with each acronym of ``text`` ("UN") unknown where the corpus never writes it in capitals."""
        letters = sum(c.isalpha() for c in text)
        capitals = {w.casefold(): w for w in _ACRONYM.findall(text)}
        if not capitals or sum(c.isupper() for c in text) * 2 > letters:  # none, or a question in capitals
            return terms
        return tuple(
            Term(t.word, ()) if t.word in capitals and t.known and not self._in_capitals(capitals[t.word], t.stems[0][0])
            else t
            for t in terms
        )

    def _in_capitals(self, acronym: str, stem: str) -> bool:
        """Whether a section holding ``stem`` writes ``acronym`` in capitals (see :data:`ACRONYM_SECTIONS`)."""
        holding = self.lexical.containing(stem)
        if len(holding) > ACRONYM_SECTIONS:
            return True
        written = re.compile(rf"(?<![^\W\d_]){acronym}(?![^\W\d_])")
        for position in holding.tolist():
            section = self.sections[position]
            text = f"{section.title}\n{section.text}"
            if written.search(text) or (not text.isascii() and written.search(normalize(text))):
                return True
        return False

    def rank_many(self, texts: Sequence[str], vectors: np.ndarray) -> list[Ranking]:
        """:meth:`rank` for many questions, their FAISS searches made in one call."""
        if not self._candidates:
            return [self.rank(t, v) for t, v in zip(texts, vectors, strict=True)]
        found = self.index.search_many(np.asarray(vectors), self._candidates)
        return [self.rank(t, v, f) for t, v, f in zip(texts, vectors, found, strict=True)]

    # ------------------------------------------------------------------ hits and quotes

    def sentence_scores(self, position: int, ranking: Ranking) -> list[tuple[int, float]]:
        """``[(sentence index, quote score)]`` for section ``position``, best first."""
        found = self._sentences_of(position)
        if found is None:
            return []
        indices, rows = found
        stems = self._stems_of(position)
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
        intro = self.is_intro(position)
        kept = [(s, v) for s, v in ranked if not (intro and s.strip() == section.title.strip())]
        return kept or ranked or [(section.text, 0.0)]

    def hit(self, position: int, ranking: Ranking) -> Hit:
        """Make a :class:`Hit` for section ``position``, quoting its sentences that best match the question."""
        ranked = self.quote_candidates(position, ranking)
        top = ranked[0][1]
        chosen = tuple(s for s, v in ranked[:MAX_QUOTES] if v >= top - QUOTE_MARGIN)
        return self.source(position, chosen, round(float(ranking.scores[position]), 4))

    def source(self, position: int, quotes: tuple[str, ...], score: float = 1.0) -> Hit:
        """Section ``position`` as a hit or citation quoting ``quotes``; marks scoped when there are several documents."""
        section = self.sections[position]
        return Hit(
            number=section.number,
            title=section.title,
            score=score,
            quote=quotes[0],
            quotes=quotes,
            section_id=section.id,
            section_text=section.text,
            document=section.source,
            document_title=self.document_title(section.source),
            intro=self.is_intro(position),
            scope=section.source if len(self.documents) > 1 else "",
        )

    def hits(self, ranking: Ranking, k: int = 5) -> list[Hit]:
        """The ``k`` best sections of ``ranking`` as hits, best first."""
        return [self.hit(i, ranking) for i in ranking.top(k)]

    def search(self, vector: np.ndarray, k: int = 5, text: str = "") -> list[Hit]:
        """Return up to ``k`` sections best first for the normalized question ``text`` and its ``vector``."""
        return self.hits(self.rank(text, vector), k)

    # ------------------------------------------------------------------ summaries

    def _find_gist(self, position: int) -> str:
        """The sentence of section ``position`` nearest (by the stored vectors) to its text windows' mean."""
        section = self.sections[position]
        found = self._sentences_of(position)
        order, starts = self._window_rows
        windows = order[starts[position] : starts[position + 1]]
        if found is None or not len(windows):
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
        found = self._gists.get(position)
        if found is None:
            found = self._gists[position] = self._find_gist(position)
        return found

    def intro_gist(self, position: int, count: int = 2) -> list[str]:
        """The first ``count`` sentences of substance of section ``position`` (not its title line or a caption)."""
        section = self.sections[position]
        found = [
            s for s in section.sentences
            if s.strip() != section.title.strip() and len(s.split()) >= 8 and not s.rstrip().endswith(":")
        ]
        return found[:count] or [self.gist(position)]
