"""Reading the index: a build folder checked against its manifest, and the fallback to the last good build.

:func:`read_build` checks the manifest's format version, each file's size and
SHA-256 (:mod:`.verify`: a file whose stamp shows it untouched since the build is
not hashed again), row counts and dimension, and that every unit points at an
existing section.  A format-2 build is read without parsing its text: sections
and units are read one at a time when needed (:mod:`.rows`), the vectors and the
FAISS lists are memory-mapped and the retrieval tables loaded as saved
(:mod:`.prepared`); a format-1 build is read whole and its tables computed when
it is first served.  :func:`load_index` reads the build ``current`` points at,
or else the newest older build that reads cleanly.  The layout is described in
:mod:`.store`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .ann import is_exact
from .ann import search as ann_search
from .corpus import PARSER_VERSION, Section
from .errors import IndexStateError
from .normalize import NORMALIZATION_VERSION
from .prepared import KINDS, PREPARED_FILES, WORD_COUNT_FILES, Prepared, load_prepared, prepare
from .rows import JsonlRows, read_jsonl
from .segments import DELTA_FILES, Ordered, OrderedVectors, Segments
from .segments import search as segments_search
from .verify import check_files

if TYPE_CHECKING:  # profile.py reads a LoadedIndex
    from .profile import Profile

log = logging.getLogger(__name__)

#: Format 2 adds the line offsets of the JSON-lines files, the retrieval tables (:mod:`.prepared`) and file
#: stamps (:mod:`.verify`); a format-1 build still loads, its tables computed in memory.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
#: The data files of a build, besides ``manifest.json``.
DATA_FILES = ("sections.jsonl", "units.jsonl", "vectors.npy", "index.faiss")
#: The line offsets of the JSON-lines data files (:mod:`.rows`).
OFFSET_FILES = ("sections.offsets.npy", "units.offsets.npy")
#: Every file name a build folder of this version may hold besides JSON files.
LAYOUT_FILES = (*DATA_FILES, *OFFSET_FILES, *PREPARED_FILES, *DELTA_FILES)
#: The name of every build folder alliance-qa makes: UTC time and six hex digits.
BUILD_NAME = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}")


@dataclass(frozen=True)
class Unit:
    """One embedded text: a section's title, a window of its text, or one sentence."""

    section_id: str
    kind: str
    text: str
    sentence: int | None = None


@dataclass
class LoadedIndex:
    """A build: its manifest, sections, units, vectors and FAISS index.

    A build read from disk (format 2) has its sections and units read one at a
    time when needed (:class:`~alliance_qa.rows.JsonlRows`) and its vectors
    memory-mapped; one being built holds them in lists and arrays.
    """

    path: Path
    manifest: dict[str, Any]
    sections: Sequence[Section]
    units: Sequence[Unit]
    vectors: np.ndarray | OrderedVectors  # OrderedVectors for a build with a delta segment
    faiss_index: Any
    saved_profile: Profile | None = None  # the build's profile.json; None for a build made before profiles
    saved_prepared: Prepared | None = None  # the build's retrieval tables; None until computed for an older build

    def __post_init__(self) -> None:
        self.exact = is_exact(self.faiss_index)

    @functools.cached_property
    def segments(self) -> Segments | None:
        """How a build stored as a base and a delta (:mod:`.segments`) finds its vectors; ``None`` for one file each."""
        return Segments.of(self.vectors) if isinstance(self.vectors, OrderedVectors) else None

    @functools.cached_property
    def by_id(self) -> dict[str, Section]:
        """The sections by id (reads every section of a build on disk: for evaluation and tools, not questions)."""
        return {s.id: s for s in self.sections}

    @property
    def prepared(self) -> Prepared:
        """The retrieval tables saved with this build; computed in memory (once) for a build made before them."""
        if self.saved_prepared is None:
            self.saved_prepared = prepare(self.sections, self.units, np.asarray(self.vectors))
        return self.saved_prepared

    @property
    def profile(self) -> Profile:
        """The corpus profile saved with this build; derived (uncalibrated) for an older build without one."""
        if self.saved_profile is None:
            from .profile import make_profile

            self.saved_profile = make_profile(self, None, None)
        return self.saved_profile

    @property
    def build_id(self) -> str:
        """The build folder's name, unique per build."""
        return str(self.manifest["build_id"])

    @property
    def model(self) -> str:
        """The model setting the vectors were made with."""
        return str(self.manifest["model"])

    @property
    def dimension(self) -> int:
        """The vectors' dimension."""
        return int(self.manifest["dimension"])

    @property
    def corpus_fingerprint(self) -> dict[str, tuple[int, int]] | None:
        """The corpus fingerprint taken just before the build read it (``None`` for older builds)."""
        stamp = self.manifest.get("corpus_fingerprint")
        if not isinstance(stamp, dict):
            return None
        return {str(name): (int(v[0]), int(v[1])) for name, v in stamp.items()}

    def unchanged_files(self, fingerprint: dict[str, tuple[int, int]]) -> set[str] | None:
        """The corpus files whose size and modification time in ``fingerprint`` (the corpus now) are the ones this
        build read, so their sections are this build's; ``None`` when none can be taken that way (a build without a
        fingerprint, or read with another parser or normalization)."""
        stamps = self.corpus_fingerprint
        if stamps is None or self.manifest.get("parser_version") != PARSER_VERSION or \
                self.manifest.get("normalization_version") != NORMALIZATION_VERSION:
            return None
        return {name for name, stamp in fingerprint.items() if stamps.get(name) == tuple(stamp)}

    def sections_by_file(self, fingerprint: dict[str, tuple[int, int]]) -> Callable[[str], list[Section] | None] | None:
        """This build's sections of each corpus file whose size and modification time in ``fingerprint`` (the
        corpus now) are the ones this build read, for ``read_corpus(reuse=...)``: only the files that changed
        are parsed again.  ``None`` when nothing can be taken (another parser or normalization, an older build);
        ``alliance-qa build --full`` reads everything."""
        same = self.unchanged_files(fingerprint)
        if not same:
            return None
        by_file: dict[str, list[Section]] = {}
        for section in self.sections:
            if section.source in same:
                by_file.setdefault(section.source, []).append(section)
        return by_file.get

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(scores, unit rows)`` of the ``k`` units nearest ``vector``; rows past the end are dropped."""
        query = self._queries(vector)
        if self.segments is not None:
            return segments_search(self.faiss_index, self.segments, query, k, self.exact)
        return ann_search(self.faiss_index, np.asarray(self.vectors), query, k, self.exact)

    def search_many(self, vectors: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`search` for each row of ``vectors``: one FAISS call for them all when the index is exact and
        whole (no delta), which is many times faster than one call each (the calibration's hundreds of probes)."""
        queries = self._queries(vectors)
        if not self.exact or self.segments is not None or not len(queries):
            return [self.search(q, k) for q in queries]
        scores, rows = self.faiss_index.search(queries, min(k, int(self.faiss_index.ntotal)))
        return [(s[r >= 0], r[r >= 0]) for s, r in zip(scores, rows, strict=True)]

    def _queries(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (one, or one a row) as a float32 matrix; a vector of another model's dimension is refused."""
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        queries = queries.reshape(1, -1) if queries.ndim == 1 else queries
        if queries.ndim != 2 or queries.shape[1] != self.dimension:
            raise IndexStateError(
                f"question vector has dimension {queries.shape[-1]} but the index at {self.path} has {self.dimension}: "
                "run `alliance-qa build --full`"
            )
        return queries



def current_build(index_dir: Path) -> Path | None:
    """The build folder ``index_dir/current`` points at, or ``None`` if there is none."""
    link = index_dir / "current"
    if not link.is_symlink() and not link.is_dir():
        return None
    target = link.resolve()
    return target if target.is_dir() else None


def read_build(path: Path) -> LoadedIndex:
    """Read and check one build folder; raise :class:`IndexStateError` saying what is wrong."""
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexStateError(f"index build {path} has no manifest.json: run `alliance-qa build`") from exc
    except (OSError, ValueError) as exc:
        raise IndexStateError(f"index manifest {path / 'manifest.json'} is unreadable ({exc}): run `alliance-qa build`") from exc
    if not isinstance(manifest, dict):
        raise IndexStateError(f"index manifest {path / 'manifest.json'} is not a JSON object: run `alliance-qa build`")
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise IndexStateError(
            f"index at {path} has format {manifest.get('format_version')!r}, this version reads {FORMAT_VERSION}: "
            "run `alliance-qa build`"
        )
    prepared: Prepared | None = None
    try:
        dim = int(manifest["dimension"])
        for info in manifest["sections"].values():  # used by stale_reasons and incremental builds
            if not isinstance(info["hash"], str):
                raise TypeError(f"section hash {info['hash']!r} is not a string")
        check_files(path, manifest)
        # A build listing its offsets and tables is read lazily; one without (format 1, or a manifest rewritten
        # by hand) is read whole and checked row by row, as before.
        lazy = all(name in manifest["files"] and name in manifest.get("sha256", {})
                   for name in (*OFFSET_FILES, *PREPARED_FILES) if name not in WORD_COUNT_FILES)
        sections: Sequence[Section]
        units: Sequence[Unit]
        if lazy:
            sections = JsonlRows(path / "sections.jsonl", np.load(path / "sections.offsets.npy"), _section_from_row)
            units = JsonlRows(path / "units.jsonl", np.load(path / "units.offsets.npy"), _unit_from_row)
            vectors = np.load(path / "vectors.npy", mmap_mode="r", allow_pickle=False)
        else:
            sections = [_section_from_row(row) for row in read_jsonl(path / "sections.jsonl")]
            units = [_unit_from_row(row) for row in read_jsonl(path / "units.jsonl")]
            vectors = np.load(path / "vectors.npy", allow_pickle=False)
        faiss_index = _read_faiss(path / "index.faiss", mmap=lazy)
        counts = {"units.jsonl": len(units), "vectors.npy": int(vectors.shape[0]), "index.faiss": int(faiss_index.ntotal)}
        if len(set(counts.values())) != 1 or vectors.ndim != 2 or vectors.shape[1] != dim or faiss_index.d != dim:
            raise IndexStateError(
                f"index at {path} does not match its manifest (rows {counts}, dimension {dim}, "
                f"vectors {vectors.shape}, FAISS d={faiss_index.d}): run `alliance-qa build --full`"
            )
        if lazy and "delta" in manifest:  # a base and a delta segment, read in the build's order (segments.py)
            delta_vectors = np.load(path / "delta.vectors.npy", allow_pickle=False)
            delta_units = JsonlRows(path / "delta.units.jsonl", np.load(path / "delta.units.offsets.npy"), _unit_from_row)
            if len(delta_units) != len(delta_vectors):
                raise ValueError(f"the delta holds {len(delta_units)} texts but {len(delta_vectors)} vectors")
            sections = Ordered(sections, JsonlRows(path / "delta.sections.jsonl", np.load(path / "delta.sections.offsets.npy"),
                                                   _section_from_row), np.load(path / "order.sections.npy"))
            units = Ordered(units, delta_units, np.load(path / "order.units.npy"))
            vectors = OrderedVectors(vectors, delta_vectors, units.order)
            if (len(sections), len(units)) != (manifest["counts"]["sections"], manifest["counts"]["units"]):
                raise ValueError(f"the build's order holds {len(sections)} sections and {len(units)} texts, its manifest "
                                 f"{manifest['counts']['sections']} and {manifest['counts']['units']}")
        if lazy:
            prepared = load_prepared(path, len(sections), len(units), dim, words=WORD_COUNT_FILES[0] in manifest["files"])
            _check_prepared(path, prepared)
        else:
            _check_units(path, sections, units)
    except IndexStateError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, MemoryError) as exc:
        raise IndexStateError(f"index at {path} is damaged ({type(exc).__name__}: {exc}): run `alliance-qa build`") from exc
    loaded = LoadedIndex(path, manifest, sections, units, vectors, faiss_index, saved_prepared=prepared)
    if "profile.json" in manifest["files"]:
        from .profile import load_profile

        try:
            loaded.saved_profile = load_profile(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexStateError(f"index file {path / 'profile.json'} is damaged ({exc}): run `alliance-qa build`") from exc
    return loaded


def _read_faiss(path: Path, *, mmap: bool) -> Any:
    """Read a FAISS index, its inverted lists memory-mapped with ``mmap`` (where this FAISS can)."""
    import faiss

    flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) if mmap else 0
    try:
        return faiss.read_index(str(path), flags)
    except (RuntimeError, MemoryError) as exc:  # FAISS's own multi-line assertion text stays in the debug log
        log.debug("faiss.read_index(%s) failed: %s", path, exc)
        raise IndexStateError(f"index file {path} is not a readable FAISS index: it is damaged; run `alliance-qa build`") from exc


def _check_units(path: Path, sections: Sequence[Section], units: Sequence[Unit]) -> None:
    """Every unit points at an existing section (and sentence) and has a known kind."""
    by_id = {s.id: s for s in sections}
    for row, unit in enumerate(units):
        section = by_id.get(unit.section_id)
        if section is None or unit.kind not in KINDS or (
            unit.sentence is not None and not 0 <= unit.sentence < len(section.sentences)
        ):
            raise IndexStateError(
                f"index at {path} is inconsistent: text {row} ({unit.kind}) points at section "
                f"{unit.section_id!r} sentence {unit.sentence}, which sections.jsonl does not have: "
                "run `alliance-qa build --full`"
            )


def _check_prepared(path: Path, prepared: Prepared) -> None:
    """The saved tables' unit rows point at existing sections, sentences and kinds, and sections at documents."""
    n = len(prepared.section_doc)
    section = prepared.unit_section
    bad = (section < 0) | (section >= n) | (prepared.unit_kind < 0) | (prepared.unit_kind >= len(KINDS))
    if not bad.any() and n:
        limit = np.asarray(prepared.section_sentences)[np.clip(section, 0, n - 1)]
        bad |= (prepared.unit_sentence < -1) | (prepared.unit_sentence >= limit)
    bad_docs = bool(n) and not (int(prepared.section_doc.min()) >= 0 and int(prepared.section_doc.max()) < len(prepared.documents))
    if bool(np.any(bad)) or bad_docs or (len(section) and not n):
        rows = np.flatnonzero(bad)
        where = f"text {int(rows[0])}" if len(rows) else "a section"
        raise IndexStateError(f"index at {path} is inconsistent: {where} points outside the build's tables: run `alliance-qa build --full`")


def _section_from_row(row: dict[str, Any]) -> Section:
    return Section(
        id=row["id"],
        number=row["number"],
        title=row["title"],
        text=row["text"],
        source=row["source"],
        position=row["position"],
        sentences=tuple(row["sentences"]),
        document_title=row.get("document_title", ""),
        intro=bool(row.get("intro", False)),
    )


def _unit_from_row(row: dict[str, Any]) -> Unit:
    return Unit(**row)


def load_index(index_dir: Path) -> LoadedIndex:
    """Load the current build, falling back to the newest older build that reads cleanly.

    Raises :class:`IndexStateError` when there is no usable build at all.
    """
    current = current_build(index_dir)
    problems: list[str] = []
    candidates = [current] if current else []
    builds = index_dir / "builds"
    if builds.is_dir():
        older = sorted((p for p in builds.iterdir() if p.is_dir() and BUILD_NAME.fullmatch(p.name)), reverse=True)
        candidates += [p for p in older if p != current]
    for path in candidates:
        try:
            loaded = read_build(path)
        except IndexStateError as exc:
            problems.append(str(exc))
            log.warning("%s", exc)
            continue
        if path != current:
            log.warning("using the last good index build %s instead of the damaged current one", path.name)
        return loaded
    if not candidates:
        raise IndexStateError(f"no index in {index_dir}: run `alliance-qa build`")
    raise IndexStateError(f"no usable index in {index_dir} ({problems[0]})")


