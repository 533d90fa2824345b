"""Rank the sections of a loaded index for one question.

The question is normalized like the corpus and embedded once; FAISS returns the
nearest units (titles, section windows, sentences) and each section is scored
from its best units.  The sentences of a section are ranked with the vectors
already in memory, so nothing but the question is embedded at query time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .corpus import Section
from .index import LoadedIndex

#: How many nearest units FAISS returns per question before grouping by section.
CANDIDATE_UNITS = 64
#: Weights of a section's best title, section-window and sentence similarity.
KIND_WEIGHTS = {"title": 0.2, "section": 0.4, "sentence": 0.4}


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


class Retriever:
    """Dense retrieval over one loaded index, at title, section and sentence level."""

    def __init__(self, index: LoadedIndex) -> None:
        self.index = index
        self.rows_by_section: dict[str, dict[str, list[int]]] = {}
        for row, unit in enumerate(index.units):
            self.rows_by_section.setdefault(unit.section_id, {}).setdefault(unit.kind, []).append(row)

    def score_sections(self, vector: np.ndarray) -> dict[str, float]:
        """Score every candidate section for the question ``vector`` (higher is better)."""
        scores, rows = self.index.search(vector, CANDIDATE_UNITS)
        best: dict[str, dict[str, float]] = {}
        for score, row in zip(scores.tolist(), rows.tolist(), strict=True):
            unit = self.index.units[row]
            kinds = best.setdefault(unit.section_id, {})
            kinds[unit.kind] = max(kinds.get(unit.kind, -1.0), score)
        result = {}
        for section_id, kinds in best.items():
            floor = min(kinds.values())
            result[section_id] = sum(w * kinds.get(kind, floor) for kind, w in KIND_WEIGHTS.items())
        return result

    def rank_sentences(self, section: Section, vector: np.ndarray) -> list[tuple[int, float]]:
        """Rank ``section``'s sentences by similarity to ``vector``: ``[(sentence index, score)]``, best first."""
        rows = self.rows_by_section.get(section.id, {}).get("sentence", [])
        if not rows:
            return []
        sims = self.index.vectors[rows] @ vector.astype(np.float32)
        best: dict[int, float] = {}
        for row, sim in zip(rows, sims.tolist(), strict=True):
            i = self.index.units[row].sentence
            if i is not None:
                best[i] = max(best.get(i, -1.0), sim)
        return sorted(best.items(), key=lambda item: -item[1])

    def hit(self, section: Section, score: float, vector: np.ndarray, quotes: int = 2) -> Hit:
        """Make a :class:`Hit` for ``section``, quoting its ``quotes`` sentences nearest ``vector``."""
        ranked = self.rank_sentences(section, vector)
        chosen = [section.sentences[i] for i, _ in ranked[:quotes]] or [section.text]
        return Hit(
            number=section.number,
            title=section.title,
            score=round(float(score), 4),
            quote=chosen[0],
            quotes=tuple(chosen),
            section_id=section.id,
            section_text=section.text,
            source=section.source,
        )

    def search(self, vector: np.ndarray, k: int = 5) -> list[Hit]:
        """Return up to ``k`` sections best first for the question ``vector``."""
        scored = sorted(self.score_sections(vector).items(), key=lambda item: -item[1])[:k]
        return [self.hit(self.index.by_id[sid], score, vector) for sid, score in scored]
