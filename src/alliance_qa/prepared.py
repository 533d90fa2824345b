"""What the retriever needs from a build, computed once when the build is made and saved with it.

:func:`prepare` derives, from a build's sections, units and vectors:

* per unit: its section's position, its kind, its sentence, whether it counts
  for its section's dense score (an intro's copy of its document's title does
  not: it describes the whole document), and its component along its
  document's common direction (:mod:`alliance_qa.retrieve`);
* per section: its document, whether it is an intro, its number of sentences;
* per document: its path and common direction (the normalized mean of its unit vectors);
* the keyword index (:class:`~alliance_qa.lexical.LexicalIndex`): its tables,
  bm25s's own index files and each section's word counts (``words.npy``), from
  which an incremental build makes the next keyword index without reading the
  unchanged sections again.

:func:`save_prepared` writes these as plain files into a build folder (listed
in the manifest, checked like the others); :func:`load_prepared` reads them
back with the arrays memory-mapped.  A build made before they existed has them
computed in memory when it is first served, as every build used to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .lexical import LexicalIndex, LexicalTables, WordCounts
from .rows import write_json

if TYPE_CHECKING:
    from .corpus import Section
    from .load import Unit

#: The kinds of unit, in the order of their codes.
KINDS = ("title", "section", "sentence")
#: bm25s's file names for its arrays, vocabulary and parameters, as saved in a build folder.
BM25_NAMES = {
    "data_name": "bm25.data.npy", "indices_name": "bm25.indices.npy", "indptr_name": "bm25.indptr.npy",
    "vocab_name": "bm25.vocab.json", "params_name": "bm25.params.json",
}
#: The sections' word counts (added after the other tables: a build without them is still read lazily, and its
#: next edit is written whole).
WORD_COUNT_FILES = ("words.npy", "words.indptr.npy")
#: The files :func:`save_prepared` writes.
PREPARED_FILES = ("units.npy", "unit_common.npy", "sections.npy", "documents.json", "commons.npy", "lexical.json",
                  *BM25_NAMES.values(), *WORD_COUNT_FILES)


@dataclass(frozen=True)
class Prepared:
    """A build's retrieval tables (see the module docstring); arrays are indexed by unit row or section position."""

    unit_section: np.ndarray  # int32
    unit_kind: np.ndarray  # int32 code into KINDS
    unit_sentence: np.ndarray  # int32, -1 for a unit that is not one sentence
    unit_counted: np.ndarray  # bool: counts for its section's dense score
    unit_common: np.ndarray  # float32
    section_doc: np.ndarray  # int32
    section_intro: np.ndarray  # bool
    section_sentences: np.ndarray  # int32
    documents: tuple[str, ...]
    commons: np.ndarray  # float32 (documents, dimension)
    lexical: LexicalIndex


def group_rows(keys: np.ndarray, groups: int, chosen: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The rows (of ``chosen``, default all) grouped by their key in ``keys`` (0 .. ``groups`` - 1), each group in
    row order: ``(rows, starts)``, group g's rows being ``rows[starts[g]:starts[g + 1]]``."""
    rows = np.flatnonzero(chosen) if chosen is not None else np.arange(len(keys))
    rows = rows[np.argsort(keys[rows], kind="stable")]
    return rows, np.searchsorted(keys[rows], np.arange(groups + 1))


def bm25_text(section: Section) -> str:
    """A section's text for BM25: its title twice (a heading's words say what the section is about more than any
    one sentence does: a title field boost) and its text; an intro's title is the document's, so not repeated."""
    if section.intro or not section.title:
        return section.text
    return f"{section.title}\n{section.title}\n{section.text}"


def prepare(sections: Sequence[Section], units: Sequence[Unit], vectors: np.ndarray) -> Prepared:
    """Compute the retrieval tables of a build from its ``sections``, ``units`` and ``vectors``."""
    position = {s.id: i for i, s in enumerate(sections)}
    documents: dict[str, int] = {}
    section_doc = np.array([documents.setdefault(s.source, len(documents)) for s in sections], dtype=np.int32)
    section_intro = np.array([s.intro for s in sections], dtype=bool)
    codes = {kind: code for code, kind in enumerate(KINDS)}
    unit_section = np.array([position[u.section_id] for u in units], dtype=np.int32)
    unit_kind = np.array([codes[u.kind] for u in units], dtype=np.int32)
    unit_sentence = np.array([-1 if u.sentence is None else u.sentence for u in units], dtype=np.int32)
    unit_counted = np.array(
        [not (s.intro and u.text.strip() == s.title.strip()) for u, s in ((u, sections[position[u.section_id]]) for u in units)],
        dtype=bool,
    )
    data = np.asarray(vectors, dtype=np.float32)
    dimension = int(data.shape[1]) if data.ndim == 2 else 0
    unit_doc = section_doc[unit_section] if len(units) else np.zeros(0, np.int32)
    commons = np.zeros((max(len(documents), 1), dimension), dtype=np.float32)
    order, starts = group_rows(unit_doc, len(documents))  # each document's rows in their own order
    for d in range(len(documents)):
        mine = data[order[starts[d] : starts[d + 1]]]
        mean = mine.mean(axis=0) if len(mine) else commons[d]
        norm = float(np.linalg.norm(mean))
        commons[d] = mean / norm if norm > 0 else mean
    unit_common = np.zeros(len(units), dtype=np.float32)
    for first in range(0, len(units), 65536):  # in slices: one (units, dimension) temporary would double the memory
        rows = slice(first, first + 65536)
        unit_common[rows] = np.einsum("ij,ij->i", data[rows], commons[unit_doc[rows]])
    lexical = LexicalIndex([bm25_text(s) for s in sections], groups=section_doc.tolist())
    return Prepared(unit_section, unit_kind, unit_sentence, unit_counted, unit_common, section_doc, section_intro,
                    np.array([len(s.sentences) for s in sections], dtype=np.int32), tuple(documents), commons, lexical)


def save_prepared(prepared: Prepared, folder: Path) -> tuple[str, ...]:
    """Write ``prepared`` into the build ``folder``; return the names of the files written."""
    units = np.stack([prepared.unit_section, prepared.unit_kind, prepared.unit_sentence,
                      prepared.unit_counted.astype(np.int32)]) if len(prepared.unit_section) else np.zeros((4, 0), np.int32)
    np.save(folder / "units.npy", units.astype(np.int32), allow_pickle=False)
    np.save(folder / "unit_common.npy", prepared.unit_common, allow_pickle=False)
    np.save(folder / "sections.npy", np.stack([prepared.section_doc, prepared.section_intro.astype(np.int32),
                                               prepared.section_sentences]).astype(np.int32), allow_pickle=False)
    np.save(folder / "commons.npy", prepared.commons, allow_pickle=False)
    write_json(folder / "documents.json", list(prepared.documents), indent=None)
    write_json(folder / "lexical.json", prepared.lexical.tables.to_json(), indent=None)
    prepared.lexical.bm25.save(folder, show_progress=False, **BM25_NAMES)
    counts = prepared.lexical.counts
    assert counts is not None  # a build being written was just indexed
    np.save(folder / "words.npy", np.stack([counts.indices, counts.counts]).astype(np.int32), allow_pickle=False)
    np.save(folder / "words.indptr.npy", counts.indptr.astype(np.int64), allow_pickle=False)
    return PREPARED_FILES


def load_prepared(folder: Path, sections: int, units: int, dimension: int, *, words: bool = True) -> Prepared:
    """Read the tables :func:`save_prepared` wrote, the arrays memory-mapped, for a build of ``sections`` sections
    and ``units`` units (without ``words``, a build saved before the word counts: ``lexical.counts`` is ``None``);
    raises ``ValueError``, ``KeyError`` or ``TypeError`` (or ``OSError``) if any is malformed."""
    import bm25s

    def array(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        found = np.load(folder / name, mmap_mode="r", allow_pickle=False)
        if found.shape != shape or found.dtype != dtype:
            raise ValueError(f"{name} holds {found.dtype} {found.shape}, expected {np.dtype(dtype)} {shape}")
        return found

    unit_rows = array("units.npy", (4, units), np.int32)
    section_rows = array("sections.npy", (3, sections), np.int32)
    documents = tuple(str(d) for d in json.loads((folder / "documents.json").read_text(encoding="utf-8")))
    commons = array("commons.npy", (max(len(documents), 1), dimension), np.float32)
    tables = LexicalTables.from_json(json.loads((folder / "lexical.json").read_text(encoding="utf-8")))
    bm25 = bm25s.BM25.load(folder, mmap=True, show_progress=False, **BM25_NAMES)
    if tables.n_docs != sections or int(bm25.scores["num_docs"]) != sections:
        raise ValueError(f"the keyword index holds {tables.n_docs} sections, the build {sections}")
    counts = None
    if words:
        indptr = np.load(folder / "words.indptr.npy", mmap_mode="r", allow_pickle=False)
        word_rows = array("words.npy", (2, int(indptr[-1]) if len(indptr) else -1), np.int32)
        if indptr.shape != (sections + 1,) or indptr.dtype != np.int64:
            raise ValueError(f"the word counts do not match the {sections} sections of the build")
        counts = WordCounts(tables.words, indptr, word_rows[0], word_rows[1])
    return Prepared(unit_rows[0], unit_rows[1], unit_rows[2], unit_rows[3].astype(bool),
                    array("unit_common.npy", (units,), np.float32), section_rows[0], section_rows[1].astype(bool),
                    section_rows[2], documents, commons, LexicalIndex.from_saved(tables, bm25, counts))
