"""What ranking a question produces: every section's scores (:class:`Ranking`), the probes that choose quotes,
and, for a follow-up, the earlier topic it continues (:class:`Resolved`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .lexical import Term


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

    def promoted(self, position: int) -> Ranking:
        """This ranking with section ``position`` first: the sections above it are lowered to just below its score
        (its own score is unchanged, so no cutoff sees a better match than it is)."""
        scores = self.scores.copy()
        top = float(scores[position])
        above = scores >= top
        above[position] = False
        scores[above] = np.nextafter(np.float32(top), np.float32(-np.inf))
        return replace(self, scores=scores)

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


@dataclass(frozen=True)
class Resolved:
    """A question's ranking, and for a follow-up the ranking of the earlier topic it continues."""

    ranking: Ranking
    context: Ranking | None = None

    @property
    def support(self) -> float:
        """How well the article covers the question: the best area's score, or for a follow-up the better of
        that and the earlier topic's score for the same area (a follow-up inherits its topic's coverage)."""
        best = self.ranking.best
        own = float(self.ranking.scores[best])
        return own if self.context is None else max(own, float(self.context.scores[best]))
