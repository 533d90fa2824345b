"""A build stored as an immutable *base* segment plus a small *delta* segment, seen as one build.

A large index is not rewritten for a small edit (:mod:`.delta`): the new build
folder hard-links the previous build's big files (sections, units, vectors and
FAISS index: the base, never modified) and writes beside them only what changed
(``delta.*`` files: the new sections, units and vectors) and two *order* arrays
that say, for every section and unit of the build in corpus order, which row of
the base or the delta holds it (row ``b`` of the base, or ``len(base) + d`` for
row ``d`` of the delta).  A base row no order names is deleted (a tombstone by
omission).  Readers see a gap-free build equal to a fresh one:

* :class:`Ordered` — the sections or units, each row parsed when first read;
* :class:`OrderedVectors` — the vectors, gathered for the rows asked for;
* :func:`search` — the base's FAISS index and an exact search of the delta's
  vectors, deleted rows dropped, rows given in the build's own numbering.

A full build (``alliance-qa build --full``, or a delta grown past
:data:`alliance_qa.delta.MERGE_SHARE` of the base) writes everything again as one
base: the merge.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .ann import search as ann_search
from .rows import LazyRows

T = TypeVar("T")

#: The delta segment's files, and the order arrays (in a build folder that has a delta).
DELTA_FILES = ("delta.sections.jsonl", "delta.sections.offsets.npy", "delta.units.jsonl", "delta.units.offsets.npy",
               "delta.vectors.npy", "order.sections.npy", "order.units.npy")


def _checked(order: np.ndarray, base: int, delta: int) -> np.ndarray:
    """``order`` as int64, or ``ValueError`` if it names a row outside the ``base`` + ``delta`` rows."""
    order = np.asarray(order, dtype=np.int64)
    if order.ndim != 1 or (len(order) and (int(order.min()) < 0 or int(order.max()) >= base + delta)):
        raise ValueError(f"an order names rows outside its {base} + {delta} rows")
    return order


class Ordered(LazyRows[T]):
    """The rows of ``base`` then ``delta`` (each a sequence), read in the order of ``order``."""

    def __init__(self, base: Sequence[T], delta: Sequence[T], order: np.ndarray) -> None:
        self.base, self.delta = base, delta
        self.order = _checked(order, len(base), len(delta))

    def __len__(self) -> int:
        return len(self.order)

    def row(self, index: int) -> T:
        """Row ``index`` of the build: a row of the base or of the delta."""
        row = int(self.order[index])
        n = len(self.base)
        return self.base[row] if row < n else self.delta[row - n]

    def __iter__(self) -> Iterator[T]:
        rows = [*self.base, *self.delta]  # one read of each segment, not one per row
        return iter([rows[i] for i in self.order.tolist()])


class OrderedVectors:
    """The vectors of ``base`` then ``delta`` in the order of ``order``, gathered for the rows indexed."""

    def __init__(self, base: np.ndarray, delta: np.ndarray, order: np.ndarray) -> None:
        self.base, self.delta = base, delta
        if base.ndim != 2 or delta.ndim != 2 or base.shape[1] != delta.shape[1]:
            raise ValueError(f"base vectors {base.shape} and delta vectors {delta.shape} do not fit together")
        self.order = _checked(order, len(base), len(delta))
        self.shape = (len(self.order), int(base.shape[1]))
        self.ndim = 2
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.order)

    def physical(self, rows: Any) -> np.ndarray:
        """The vectors of physical ``rows`` (base rows, then delta rows numbered after them)."""
        rows = np.asarray(rows, dtype=np.int64)
        n = len(self.base)
        out = np.empty((*rows.shape, self.shape[1]), dtype=np.float32)
        low = rows < n
        out[low] = self.base[rows[low]]
        out[~low] = self.delta[rows[~low] - n]
        return out

    def __getitem__(self, rows: Any) -> np.ndarray:
        if isinstance(rows, (int, np.integer)):
            return self.physical(np.array([self.order[rows]]))[0]
        return self.physical(self.order[rows])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self.physical(self.order)
        return whole if dtype is None else whole.astype(dtype)


def split(rows: Sequence[T]) -> tuple[Sequence[T], Sequence[T], np.ndarray]:
    """A build's rows as ``(base, delta, order)``: an :class:`Ordered`'s parts, or all base, in order."""
    if isinstance(rows, Ordered):
        return rows.base, rows.delta, rows.order
    return rows, [], np.arange(len(rows), dtype=np.int64)


def split_vectors(vectors: np.ndarray | OrderedVectors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A build's vectors as ``(base, delta, order)``, as :func:`split` gives its rows."""
    if isinstance(vectors, OrderedVectors):
        return vectors.base, np.asarray(vectors.delta), vectors.order
    return vectors, np.zeros((0, vectors.shape[1]), np.float32), np.arange(len(vectors), dtype=np.int64)


def inverse(order: np.ndarray, physical: int) -> np.ndarray:
    """For each of ``physical`` rows, its position in ``order`` (-1 for a deleted row)."""
    where = np.full(physical, -1, dtype=np.int64)
    where[order] = np.arange(len(order), dtype=np.int64)
    return where


@dataclass(frozen=True)
class Segments:
    """How a build with a delta finds its vectors: the ordered vectors, each physical row's unit row (-1 when
    deleted, :func:`inverse`) and how many base rows are deleted."""

    vectors: OrderedVectors
    where: np.ndarray
    deleted: int

    @classmethod
    def of(cls, vectors: OrderedVectors) -> Segments:
        """The segments of ``vectors``."""
        where = inverse(vectors.order, len(vectors.base) + len(vectors.delta))
        return cls(vectors, where, len(vectors.base) - int((where[: len(vectors.base)] >= 0).sum()))


def search(faiss_index: Any, segments: Segments, query: np.ndarray, k: int, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(scores, rows)`` of the ``k`` vectors of the build nearest the one-row ``query``.

    The base's FAISS index is searched for ``k`` more than its deleted rows (at most
    :data:`alliance_qa.delta.MERGE_SHARE` of it), which are then dropped; the delta's
    vectors are searched exactly.  Rows are the build's unit rows.
    """
    vectors, where, deleted = segments.vectors, segments.where, segments.deleted
    base_total = len(vectors.base)
    scores, rows = ann_search(faiss_index, vectors.base, query, min(k + deleted, base_total), exact) if base_total else (
        np.zeros(0, np.float32), np.zeros(0, np.int64))
    if len(vectors.delta):
        delta_scores = (np.asarray(vectors.delta) @ query[0]).astype(np.float32)
        top = np.argsort(-delta_scores, kind="stable")[:k]
        scores = np.concatenate([scores, delta_scores[top]])
        rows = np.concatenate([rows.astype(np.int64), top.astype(np.int64) + base_total])
    mapped = where[rows]
    keep = mapped >= 0
    scores, mapped = scores[keep], mapped[keep]
    best = np.lexsort((mapped, -scores))[:k]  # by score, ties by row as one index would
    return scores[best], mapped[best]
