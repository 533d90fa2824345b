"""An incremental build of a large index as a delta segment (:mod:`.segments`): work in proportion to the edit.

:func:`build_delta` runs instead of the whole build when the current build holds at
least :data:`MIN_TEXTS` texts.  It reads only the corpus files whose size or
modification time changed, embeds only their new texts, and takes everything else
from the current build by position, without reading it: each unchanged file's
sections and units are a range of the current build (its tables are sorted by
document), its keyword rows are its saved word counts, its common direction is
kept.  The new build folder links the current build's big files (its base) and
writes the new rows as a delta.  The result equals a fresh build: the same
sections, units, vectors and tables in the same order (tests check it).

It declines (returns ``None``, and the whole build runs, which writes one new
base: the merge) when the current build is not of this version's format, the model,
chunking, parser or normalization changed, the profile's overrides changed, or the
delta would hold more than :data:`MERGE_SHARE` of the base's texts, or delete more.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .build import (
    BuildReport,
    _as_embedder,
    _check_vectors,
    _pooled_units,
    _refuse_emptied_files,
    _separate_units,
    long_sections_warning,
)
from .chunk import Unit
from .config import env_count
from .corpus import PARSER_VERSION, Section, read_document
from .errors import BuildError
from .lexical import LexicalIndex, WordCounts
from .load import FORMAT_VERSION, LoadedIndex
from .prepared import Prepared, prepare
from .segments import Ordered, OrderedVectors, split, split_vectors
from .store import new_manifest, section_entry, write_build
from .walk import corpus_files

if TYPE_CHECKING:
    from .embed import Embedder

log = logging.getLogger(__name__)

#: A build with fewer texts than this is written whole (a few seconds at most); from here on an edit is a delta.
#: Override with ``ALLIANCE_QA_DELTA_MIN_TEXTS``.
MIN_TEXTS = 20_000
#: A delta may hold (or delete) up to this share of its base's texts; beyond it the build is written whole again.
#: Override with ``ALLIANCE_QA_DELTA_MERGE_SHARE`` (a fraction: more means rarer whole builds and a larger delta
#: to search exactly at every question).
MERGE_SHARE = 0.05
ENV_MIN_TEXTS = "ALLIANCE_QA_DELTA_MIN_TEXTS"
ENV_MERGE_SHARE = "ALLIANCE_QA_DELTA_MERGE_SHARE"


def min_texts() -> int:
    """:data:`MIN_TEXTS`, or ``ALLIANCE_QA_DELTA_MIN_TEXTS``."""
    return env_count(ENV_MIN_TEXTS, MIN_TEXTS, BuildError)


def merge_share() -> float:
    """:data:`MERGE_SHARE`, or ``ALLIANCE_QA_DELTA_MERGE_SHARE`` (above 0, at most 0.5)."""
    raw = os.environ.get(ENV_MERGE_SHARE, "").strip()
    if not raw:
        return MERGE_SHARE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 0.5:
        raise BuildError(f"{ENV_MERGE_SHARE}={raw!r} is not a share between 0 and 0.5: set it to e.g. {MERGE_SHARE}, "
                         "or unset it")
    return value


def large_enough(build: LoadedIndex) -> bool:
    """Whether ``build`` (the current one) holds enough texts for its next edit to be a delta."""
    return len(split(build.units)[0]) >= min_texts()


def _ranges(keys: np.ndarray, groups: int) -> np.ndarray | None:
    """Where each group's rows start in ``keys`` (sorted by group), plus the end; ``None`` if not sorted."""
    keys = np.asarray(keys)
    if len(keys) and bool((np.diff(keys) < 0).any()):
        return None
    return np.searchsorted(keys, np.arange(groups + 1))


def build_delta(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder | Callable[[], Embedder],
    previous: LoadedIndex,
    fingerprint: dict[str, tuple[int, int]],
    *,
    model: str,
    chunking: str,
    started: float,
) -> BuildReport | None:
    """Build ``index_dir`` from ``corpus_dir`` as ``previous`` (the current build, read under the build lock) plus
    a delta; ``None`` when a whole build should run instead (see the module docstring)."""
    from .profile import make_profile, profile_outdated

    prepared = previous.saved_prepared
    manifest = previous.manifest
    same = previous.unchanged_files(fingerprint)  # None: another parser or normalization, or no fingerprint
    if prepared is None or prepared.lexical.counts is None or same is None or manifest.get("format_version") != FORMAT_VERSION \
            or previous.model != model or manifest.get("chunking", "separate") != chunking:
        return None
    base_sections, old_delta_sections, old_section_order = split(previous.sections)
    base_units, old_delta_units, old_unit_order = split(previous.units)
    base_vectors, old_delta, _ = split_vectors(previous.vectors)
    if not large_enough(previous) or profile_outdated(previous, corpus_dir):
        return None
    documents = {path: d for d, path in enumerate(prepared.documents)}
    section_at = _ranges(prepared.section_doc, len(prepared.documents))
    unit_at = _ranges(prepared.unit_section, len(previous.sections))
    if section_at is None or unit_at is None:
        return None

    # The corpus now: each file kept whole from the current build (a document number) or read again (its sections).
    plan: list[tuple[str, int | list[Section]]] = []
    warnings: list[str] = []
    old_positions: list[int] = []  # the current build's sections of the files read again or removed
    whole: set[str] = set()
    for path in corpus_files(corpus_dir, index_dir=index_dir):
        rel = path.relative_to(corpus_dir).as_posix()
        d = documents.get(rel)
        if rel in same:
            if d is not None:
                plan.append((rel, d))
                whole.add(rel)
            continue
        parsed, more = read_document(path, rel)
        warnings += more
        if parsed:
            plan.append((rel, parsed))
    for rel, d in documents.items():
        if rel not in whole:
            old_positions += range(int(section_at[d]), int(section_at[d + 1]))
    if not plan:
        return None  # no text at all: the whole build says so
    new_sections = [s for _, entry in plan if isinstance(entry, list) for s in entry]
    if max(len(new_sections) + len(old_delta_sections), len(old_positions)) > merge_share() * len(base_sections):
        return None  # a large edit: the whole build (decided before anything is embedded)
    old_sections = [previous.sections[p] for p in old_positions]
    _refuse_emptied_files(corpus_dir, old_sections, new_sections)
    if [(s.id, s.content_hash) for s in old_sections] == [(s.id, s.content_hash) for s in new_sections]:
        for warning in warnings:
            log.warning(warning)
        return BuildReport.up_to_date(previous, index_dir, started, warnings)

    # Units of the files read again: their earlier units lend every vector they can (as in a whole build).
    old_unit_rows = np.concatenate([np.arange(unit_at[p], unit_at[p + 1]) for p in old_positions]).astype(np.int64) \
        if old_positions else np.zeros(0, np.int64)
    earlier = LoadedIndex(previous.path, manifest, old_sections, [previous.units[int(r)] for r in old_unit_rows],
                          np.asarray(previous.vectors[old_unit_rows], dtype=np.float32).reshape(len(old_unit_rows), -1),
                          previous.faiss_index) if old_positions else None
    long: list[str] = []
    if chunking == "separate":
        units, vectors, source, embedded = _separate_units(new_sections, earlier, embedder, long)
    else:
        units, vectors, source, embedded = _pooled_units(new_sections, earlier, embedder, long,
                                                         pool=chunking == "pooled", average=chunking == "averaged")
    if len(vectors) and vectors.shape[1] != previous.dimension:
        return None
    fresh_rows = np.flatnonzero(source == -1)
    if len(fresh_rows):
        _check_vectors(vectors[fresh_rows], [units[i].text for i in fresh_rows], model)
    warnings += long_sections_warning(long)

    old_units_read = earlier.units if earlier is not None else []
    same_section = {s.id: p for s, p in zip(old_sections, old_positions, strict=True)}
    section_src: list[np.ndarray] = []  # per build row: a current build row (>= 0), or -1 - the new row's number
    unit_src: list[np.ndarray] = []
    fresh_sections: list[Section] = []
    fresh_units: list[Unit] = []
    fresh_vectors: list[int] = []  # rows of `vectors`
    tables: dict[str, list[Any]] = {name: [] for name in ("unit_section", "unit_kind", "unit_sentence", "unit_counted",
                                                          "unit_common", "section_intro", "section_sentences")}
    section_doc: list[np.ndarray] = []
    commons: list[np.ndarray] = []
    words: list[WordCounts] = []
    at_section = at_unit = 0  # rows of the new build so far
    next_unit = 0  # next unit of `units` (the files read again, in order)
    for number, (_, entry) in enumerate(plan):
        if not isinstance(entry, list):  # kept whole: ranges of the current build
            a, b = int(section_at[entry]), int(section_at[entry + 1])
            ua, ub = int(unit_at[a]), int(unit_at[b])
            section_src.append(np.arange(a, b))
            unit_src.append(np.arange(ua, ub))
            tables["unit_section"].append(np.asarray(prepared.unit_section[ua:ub]) - a + at_section)
            for name in ("unit_kind", "unit_sentence", "unit_counted", "unit_common"):
                tables[name].append(np.asarray(getattr(prepared, name)[ua:ub]))
            tables["section_intro"].append(np.asarray(prepared.section_intro[a:b]))
            tables["section_sentences"].append(np.asarray(prepared.section_sentences[a:b]))
            commons.append(np.asarray(prepared.commons[entry]))
            words.append(prepared.lexical.counts.rows(a, b))
            section_doc.append(np.full(b - a, number, dtype=np.int32))
            at_section, at_unit = at_section + b - a, at_unit + ub - ua
            continue
        rows_here: list[int] = []  # rows of `units` for this document
        sources: list[int] = []
        for section in entry:
            p = same_section.get(section.id)
            sources.append(p if p is not None and previous.sections[p] == section else -1 - len(fresh_sections))
            if sources[-1] < 0:
                fresh_sections.append(section)
            while next_unit < len(units) and units[next_unit].section_id == section.id:
                rows_here.append(next_unit)
                next_unit += 1
        for row in rows_here:
            local = int(source[row])
            if 0 <= local < len(old_units_read) and old_units_read[local] == units[row]:
                unit_src.append(np.array([old_unit_rows[local]]))
            else:
                unit_src.append(np.array([-1 - len(fresh_units)]))
                fresh_units.append(units[row])
                fresh_vectors.append(row)
        section_src.append(np.array(sources, dtype=np.int64))
        alone = prepare(entry, [units[r] for r in rows_here], vectors[rows_here].reshape(len(rows_here), previous.dimension))
        tables["unit_section"].append(alone.unit_section + at_section)  # the document's tables, as a whole build's
        for name in ("unit_kind", "unit_sentence", "unit_counted", "unit_common", "section_intro", "section_sentences"):
            tables[name].append(getattr(alone, name))
        commons.append(alone.commons[0])
        assert alone.lexical.counts is not None
        words.append(alone.lexical.counts)
        section_doc.append(np.full(len(entry), number, dtype=np.int32))
        at_section, at_unit = at_section + len(entry), at_unit + len(rows_here)
    if next_unit != len(units):  # pragma: no cover - units come section by section, in order
        return None

    # Physical rows: the base's stay; the delta holds the current delta's rows still used, then the new ones.
    base_count, base_unit_count = len(base_sections), len(base_units)
    section_order, delta_sections, _ = _order(np.concatenate(section_src), old_section_order, base_count,
                                              old_delta_sections, fresh_sections)
    unit_order, delta_units, kept = _order(np.concatenate(unit_src), old_unit_order, base_unit_count, old_delta_units, fresh_units)
    delta_vectors = np.concatenate([old_delta[kept], vectors[fresh_vectors].reshape(len(fresh_vectors), previous.dimension)]).astype(np.float32)
    deleted = base_unit_count - int((unit_order < base_unit_count).sum())
    if max(len(delta_units), deleted) > merge_share() * base_unit_count:
        log.info("the delta would hold %d texts and delete %d of the base's %d: writing the whole build", len(delta_units),
                 deleted, base_unit_count)
        return None

    unit_section = np.concatenate(tables["unit_section"]).astype(np.int32)
    doc_of_section = np.concatenate(section_doc).astype(np.int32)
    lexical = LexicalIndex.from_counts(WordCounts.join(words), groups=doc_of_section.tolist())
    new_prepared = Prepared(unit_section, np.concatenate(tables["unit_kind"]).astype(np.int32),
                            np.concatenate(tables["unit_sentence"]).astype(np.int32),
                            np.concatenate(tables["unit_counted"]).astype(bool),
                            np.concatenate(tables["unit_common"]).astype(np.float32), doc_of_section,
                            np.concatenate(tables["section_intro"]).astype(bool),
                            np.concatenate(tables["section_sentences"]).astype(np.int32), tuple(rel for rel, _ in plan),
                            np.stack(commons).astype(np.float32), lexical)

    entries: dict[str, list[tuple[str, Any]]] = {}
    for section_id, info in manifest["sections"].items():
        entries.setdefault(info["source"], []).append((section_id, info))
    new_entries: dict[str, Any] = {}
    for rel, entry in plan:
        new_entries.update(entries[rel] if not isinstance(entry, list) else [(s.id, section_entry(s)) for s in entry])
    old_hashes = manifest["sections"]
    sections_embedded = sum(1 for s in new_sections if old_hashes.get(s.id, {}).get("hash") != s.content_hash)
    removed = sum(1 for s in old_sections if s.id not in new_entries)

    build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    build_manifest = new_manifest(build_id, model, previous.dimension, [], [], previous.faiss_index)
    build_manifest.update(counts={"sections": len(section_order), "units": len(unit_order)}, faiss=manifest["faiss"],
                          sections=new_entries, chunking=chunking, parser_version=PARSER_VERSION,
                          corpus_fingerprint={name: list(stamp) for name, stamp in fingerprint.items()},
                          delta={"sections": len(delta_sections), "units": len(delta_units), "base": manifest.get("delta", {}).get("base", previous.build_id)},
                          sha256={name: manifest["sha256"][name] for name in BASE_FILES})
    ordered_vectors = OrderedVectors(base_vectors, delta_vectors, unit_order)
    build = LoadedIndex(index_dir / "builds" / build_id, build_manifest, Ordered(base_sections, delta_sections, section_order),
                        Ordered(base_units, delta_units, unit_order), ordered_vectors, previous.faiss_index,
                        saved_prepared=new_prepared)
    profile = make_profile(build, _as_embedder(embedder), corpus_dir, previous=previous, changed=sections_embedded + removed)
    write_build(index_dir, build, previous.path, {"profile.json": profile.to_json()})
    report = BuildReport(index_dir, build_id, len(section_order), len(unit_order), embedded,
                         len(unit_order) - int((source == -1).sum()), removed, sections_embedded,
                         len(section_order) - sections_embedded, time.perf_counter() - started, warnings=tuple(warnings))
    for warning in warnings:
        log.warning(warning)
    log.info("%s (a delta of %d texts over %d)", report.summary(), len(delta_units), base_unit_count)
    return report


#: The files a build with a delta shares with the build it was made from (its base), linked, not copied.
BASE_FILES = ("sections.jsonl", "units.jsonl", "vectors.npy", "index.faiss", "sections.offsets.npy", "units.offsets.npy")


def _order(source: np.ndarray, old_order: np.ndarray, base: int, old_delta: Any, fresh: list[Any]) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """The new build's order (its physical row per row), its delta's rows and which rows of the current delta they
    keep, from ``source`` (per row: a row of the current build, or ``-1 - k`` for ``fresh[k]``), the current
    build's ``old_order`` and its ``old_delta`` rows."""
    physical = np.where(source >= 0, old_order[np.maximum(source, 0)], -1)
    from_old_delta = np.unique(physical[physical >= base])  # the current delta's rows still used, kept in their order
    delta = [old_delta[int(r) - base] for r in from_old_delta] + list(fresh)
    order = physical.copy()
    if len(from_old_delta):
        moved = physical >= base
        order[moved] = base + np.searchsorted(from_old_delta, physical[moved])
    new = source < 0
    order[new] = base + len(from_old_delta) + (-1 - source[new])
    return order.astype(np.int64), delta, from_old_delta - base
