"""The build pipeline: corpus sections -> units -> vectors (only new texts embedded) -> a new build swapped in.

A build reads the corpus, splits every section into *units* (its title, the
whole section in windows of at most ``WINDOW_WORDS`` words, and each sentence),
reuses the vector of every unit whose text is in the current build, embeds the
rest, chooses and fills the FAISS index (:mod:`.ann`) and writes a new build
folder that it swaps in (:mod:`.store`).  A failure at any point leaves
``current`` pointing at the previous, intact build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .ann import make_faiss_index
from .chunk import (
    Unit,
    Window,
    chunking_setting,
    section_key,
    section_units,
    section_windows,
    window_parts,
    word_count_tokens,
)
from .corpus import PARSER_VERSION, Section, corpus_fingerprint, read_corpus, read_document
from .embed import Progress, encode_windows, longest_first
from .errors import CorpusError, IndexStateError, ModelError
from .load import FORMAT_VERSION, LoadedIndex, current_build, load_index
from .normalize import NORMALIZATION_VERSION
from .render import counted
from .segments import split_vectors
from .store import LOCK_TIMEOUT_S, build_lock, new_manifest, write_build

if TYPE_CHECKING:
    from .embed import Embedder

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class BuildReport:
    """What a build did: counts of texts embedded and reused, sections changed and removed."""

    index_dir: Path
    build_id: str
    sections: int
    units: int
    embedded: int
    reused: int
    removed: int
    sections_embedded: int
    sections_reused: int
    seconds: float
    full: bool = False
    unchanged: bool = False
    warnings: tuple[str, ...] = ()

    @classmethod
    def up_to_date(cls, current: LoadedIndex, index_dir: Path, started: float, warnings: list[str]) -> BuildReport:
        """The report of a build that found ``current`` up to date and wrote nothing (``started``: its start time)."""
        return cls(index_dir, current.build_id, len(current.sections), len(current.units), 0, len(current.units), 0, 0,
                   len(current.sections), time.perf_counter() - started, unchanged=True, warnings=tuple(warnings))

    def summary(self) -> str:
        """One line for people: what was embedded, reused and removed."""
        if self.unchanged:
            return f"index is up to date: {counted(self.sections, 'section')}, {counted(self.units, 'text')} (nothing embedded)"
        return (
            f"built index: {counted(self.sections, 'section')}, {counted(self.units, 'text')}; "
            f"embedded {counted(self.embedded, 'text')} ({counted(self.sections_embedded, 'section')}), "
            f"reused {counted(self.reused, 'text')} ({counted(self.sections_reused, 'section')}), "
            f"removed {counted(self.removed, 'section')}, in {self.seconds:.2f} s"
        )



def stale_reasons(loaded: LoadedIndex, sections: list[Section], model: str) -> list[str]:
    """Say why ``loaded`` does not match the corpus ``sections`` and ``model``; empty when it does."""
    built = {sid: info["hash"] for sid, info in loaded.manifest.get("sections", {}).items()}
    now = {s.id: s.content_hash for s in sections}
    changed = sum(1 for sid, h in now.items() if built.get(sid) != h)
    return _reasons(loaded, model, changed, len(set(built) - set(now)))


def edited_reasons(loaded: LoadedIndex, corpus_dir: Path, fingerprint: dict[str, tuple[int, int]], model: str) -> list[str] | None:
    """:func:`stale_reasons` reading only the corpus files whose size or modification time in ``fingerprint`` (the
    corpus now) differ from those ``loaded`` was built from; ``None`` when that cannot tell (a build without a
    fingerprint, another parser or normalization, an unreadable corpus folder): read the whole corpus then.
    Raises :class:`CorpusError` for an edited file that cannot be read."""
    same = loaded.unchanged_files(fingerprint)
    if not fingerprint or same is None:
        return None
    edited = [name for name in fingerprint if name not in same]
    touched = {*edited, *(set(loaded.corpus_fingerprint or {}) - set(fingerprint))}
    entries = loaded.manifest["sections"]
    before = {sid for sid, info in entries.items() if info["source"] in touched} if touched else set()
    now: dict[str, str] = {}
    for name in edited:
        now.update((s.id, s.content_hash) for s in read_document(corpus_dir / name, name)[0])
    changed = sum(1 for sid, h in now.items() if entries.get(sid, {}).get("hash") != h)
    return _reasons(loaded, model, changed, len(before - set(now)))


def _reasons(loaded: LoadedIndex, model: str, changed: int, removed: int) -> list[str]:
    reasons = []
    manifest = loaded.manifest
    if manifest.get("model") != model:
        reasons.append(f"index was built with model {manifest.get('model')!r}, the configured model is {model!r}")
    if manifest.get("normalization_version") != NORMALIZATION_VERSION:
        reasons.append("index was built with another text normalization")
    if changed or removed:
        reasons.append(f"corpus changed since the index was built ({counted(changed, 'section')} new or edited, {removed} removed)")
    return reasons



# --------------------------------------------------------------------------- build


def _embed(embedder: Embedder, texts: list[str], batch: int = 256) -> np.ndarray:
    """Embed ``texts`` longest first (:func:`~alliance_qa.embed.longest_first`), so each batch pads to similar
    lengths; rows come back in input order."""
    bar = Progress(len(texts))
    order = longest_first(embedder, texts)
    parts = []
    try:
        for start in range(0, len(order), batch):
            chunk = [texts[i] for i in order[start : start + batch]]
            parts.append(embedder.encode(chunk))
            bar(len(chunk))
    finally:
        bar.close()
    if not parts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(parts)
    return out


def _separate_units(
    sections: list[Section], previous: LoadedIndex | None, embedder: Embedder | Callable[[], Embedder], notes: list[str]
) -> tuple[list[Unit], np.ndarray, np.ndarray, int]:
    """The "separate" scheme: every unit embedded alone; a unit whose text the previous build has reuses its vector.

    Returns ``(units, vectors, source rows in previous or -1, texts embedded)``.
    """
    units: list[Unit] = []
    for section in sections:
        more, long = section_units(section)
        units += more
        notes += long
    old_rows = {u.text: i for i, u in enumerate(previous.units)} if previous is not None else {}
    todo = list(dict.fromkeys(u.text for u in units if u.text not in old_rows))
    fresh = _embed(_as_embedder(embedder), todo) if todo else None
    source = np.array([old_rows.get(u.text, -1) for u in units], dtype=np.int64)
    vectors = np.empty((len(units), _dimension(fresh, previous)), dtype=np.float32)
    if units:
        reuse = source >= 0
        if reuse.any() and previous is not None:
            vectors[reuse] = previous.vectors[source[reuse]]
        if fresh is not None:
            new_rows = {text: i for i, text in enumerate(todo)}
            vectors[~reuse] = fresh[[new_rows[u.text] for u, r in zip(units, reuse, strict=True) if not r]]
    return units, vectors, source, len(todo)


#: The source of a unit whose vector is averaged from other units' (see :func:`_pooled_units`), not embedded.
AVERAGED = -2
#: In an averaged window, the first part (the title, or the first sentence) counts this many times its words. The
#: model's own vector of a window leans on its opening: over every window of the five test corpora (a public-domain
#: book's chapters among them), the averaged vector's cosine with the window's own vector rises from 0.901 (words
#: alone) to 0.911 (book 0.852 -> 0.879); 4 and more overshoot on most corpora.
AVERAGED_OPENING = 3.0


def _pooled_units(
    sections: list[Section], previous: LoadedIndex | None, embedder: Embedder | Callable[[], Embedder], notes: list[str],
    *, pool: bool = True, average: bool = False,
) -> tuple[list[Unit], np.ndarray, np.ndarray, int]:
    """The "pooled" scheme (:mod:`alliance_qa.chunk`): each new window read once, its units pooled from it; without
    ``pool``, "sentences" (each unit's text read alone) or, with ``average``, "averaged" (each title and sentence
    read alone, each window the mean of their vectors: :func:`~alliance_qa.chunk.window_parts`).

    A section whose :func:`~alliance_qa.chunk.section_key` the previous build has keeps
    its units and vectors.  Returns ``(units, vectors, source rows in previous, or -1 for a new vector, or
    :data:`AVERAGED`, texts embedded)``.
    """
    old: dict[str, list[int]] = {}
    old_units = list(previous.units) if previous is not None else []  # one read of a build on disk, not one a row
    if previous is not None:
        rows_of: dict[str, list[int]] = {}
        for row, unit in enumerate(old_units):
            rows_of.setdefault(unit.section_id, []).append(row)
        for section in previous.sections:
            old.setdefault(section_key(section), rows_of.get(section.id, []))
    old_text = {u.text: i for i, u in enumerate(old_units)} if not pool else {}
    keys = [section_key(s) for s in sections]
    model = _as_embedder(embedder) if any(k not in old for k in keys) else None
    budget = int(getattr(model, "max_tokens", 256)) - 2
    count = getattr(model, "count_tokens", None) or word_count_tokens
    units: list[Unit] = []
    source: list[int] = []
    windows: dict[tuple[str, tuple[Any, ...]], int] = {}  # equal windows (same text and spans) are read once
    plan: list[Window] = []
    targets: list[tuple[int, int]] = []  # (first unit row, window number)
    averaged: list[tuple[int, list[int]]] = []  # (window unit row, rows of the units it averages)
    for section, key in zip(sections, keys, strict=True):
        rows = old.get(key)
        if rows is not None and previous is not None:
            units += [u if u.section_id == section.id else dataclasses.replace(u, section_id=section.id)
                      for u in (old_units[r] for r in rows)]
            source += rows
            continue
        made, _, long = section_windows(section, budget, count, pool=pool)
        if long:
            notes.append(f"section {section.title!r} in {section.source} has {len(section.text.split())} words: "
                         f"read as {sum(1 for w in made if any(u.kind == 'section' for u in w.units))} consecutive windows")
        first_row = len(units)
        parts = window_parts([w.units[0] for w in made]) if average else {}  # one unit per window without pool
        for position, window in enumerate(made):
            if not pool and window.text in old_text:  # a text embedded alone (or averaged from the same texts)
                units += window.units
                source.append(old_text[window.text])
                continue
            if position in parts:
                averaged.append((len(units), [first_row + p for p in parts[position]]))
                units += window.units
                source.append(AVERAGED)
                continue
            number = windows.setdefault((window.text, window.spans), len(plan))
            if number == len(plan):
                plan.append(window)
            targets.append((len(units), number))
            units += window.units
            source += [-1] * len(window.units)
    fresh: list[np.ndarray] = []
    if plan and model is not None:
        progress = Progress(len(plan))
        try:
            fresh = encode_windows(model, plan, step=progress)
        finally:
            progress.close()
    dimension = int(fresh[0].shape[1]) if fresh else _dimension(None, previous)
    vectors = np.empty((len(units), dimension), dtype=np.float32)
    rows_src = np.array(source, dtype=np.int64)
    if previous is not None and (rows_src >= 0).any():
        vectors[rows_src >= 0] = previous.vectors[rows_src[rows_src >= 0]]
    for first, number in targets:
        vectors[first : first + len(fresh[number])] = fresh[number]
    for row, rows in averaged:  # weighted by length, as the model's own mean over a text's word pieces would be,
        weights = np.array([len(units[r].text.split()) for r in rows], dtype=np.float32)
        weights[0] *= AVERAGED_OPENING  # and leaning on the window's opening, as the model's own window vector does
        mean = (vectors[rows] * weights[:, None]).sum(axis=0)
        vectors[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    if plan:
        log.info("read %d windows through the model for %d new texts", len(plan), int((rows_src == -1).sum()))
    return units, vectors, rows_src, int((rows_src == -1).sum()) if pool else len(plan)


def _dimension(fresh: np.ndarray | None, previous: LoadedIndex | None) -> int:
    if fresh is not None:
        return int(fresh.shape[1])
    return int(previous.vectors.shape[1]) if previous is not None else 0


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder | Callable[[], Embedder],
    *,
    model: str,
    full: bool = False,
    lock_timeout: float = LOCK_TIMEOUT_S,
    chunking: str | None = None,
) -> BuildReport:
    """Build ``index_dir`` from ``corpus_dir``, reusing unchanged vectors unless ``full``.

    ``embedder`` may be a loader callable, called only if something must be embedded.
    Writes a new build folder and swaps it in; on any failure the previous build
    stays current.  ``chunking`` chooses how sections become units
    (:func:`~alliance_qa.chunk.chunking_setting`; unset, an index keeps its own).  Raises :class:`CorpusError`,
    :class:`BuildError` or :class:`BuildLockedError`.
    """
    started = time.perf_counter()
    earlier: LoadedIndex | None = None
    with contextlib.suppress(IndexStateError):
        earlier = load_index(index_dir)
    chunking = chunking_setting(chunking, earlier.manifest.get("chunking", "separate") if earlier is not None else None)
    fingerprint = corpus_fingerprint(corpus_dir, index_dir=index_dir)  # before reading: an edit made during the build shows as a change
    from . import delta  # imports this module: a small edit of a large build is a delta segment

    if earlier is not None and not full and delta.large_enough(earlier):  # a small edit of a large build: a delta
        with build_lock(index_dir, lock_timeout):
            if earlier.path == current_build(index_dir):
                report = delta.build_delta(corpus_dir, index_dir, embedder, earlier, fingerprint, model=model,
                                           chunking=chunking, started=started)
                if report is not None:
                    return report
    if earlier is not None and not full:  # read its sections once: the parse reuse, the emptied-file check and
        earlier.sections = list(earlier.sections)  # the unit reuse each walk all of them
    reuse = None if full or earlier is None else earlier.sections_by_file(fingerprint)
    sections, warnings = read_corpus(corpus_dir, index_dir=index_dir, reuse=reuse)
    with build_lock(index_dir, lock_timeout):
        previous: LoadedIndex | None = None
        with contextlib.suppress(IndexStateError):
            previous = load_index(index_dir)
        if previous is not None and earlier is not None and previous.path == earlier.path:
            previous = earlier  # the same build: keep what was already read of it
        if previous is not None and (previous.model != model or previous.manifest.get("normalization_version") != NORMALIZATION_VERSION):
            log.warning("index was built with model %s; re-embedding everything with %s", previous.model, model)
            full = True
        if previous is not None and previous.manifest.get("chunking", "separate") != chunking:
            log.info("index was built with chunking %s; re-embedding everything", previous.manifest.get("chunking", "separate"))
            full = True
        if previous is not None and not full:
            _refuse_emptied_files(corpus_dir, previous.sections, sections)
        from .profile import profile_outdated

        if previous is not None and not full and not stale_reasons(previous, sections, model) and previous.path == current_build(index_dir) \
                and not profile_outdated(previous, corpus_dir) and previous.manifest.get("format_version") == FORMAT_VERSION:
            return BuildReport.up_to_date(previous, index_dir, started, warnings)

        long: list[str] = []
        if chunking == "separate":
            units, vectors, source, embedded = _separate_units(sections, None if full else previous, embedder, long)
        else:
            units, vectors, source, embedded = _pooled_units(sections, None if full else previous, embedder, long,
                                                             pool=chunking == "pooled", average=chunking == "averaged")
        fresh_rows = np.flatnonzero(source == -1)  # the model's new vectors (not the averaged windows)
        if len(fresh_rows):
            _check_vectors(vectors[fresh_rows], [units[i].text for i in fresh_rows], model)
        reused_count = int((source >= 0).sum())
        dimension = int(vectors.shape[1])
        warnings += long_sections_warning(long)

        old_hashes = {sid: info["hash"] for sid, info in (previous.manifest["sections"].items() if previous else [])}
        sections_embedded = sum(1 for s in sections if full or old_hashes.get(s.id) != s.content_hash)
        removed = len(set(old_hashes) - {s.id for s in sections})
        build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        in_faiss = source  # per unit, the row of the previous build's FAISS index it copies (its base's rows only)
        if previous is not None:
            base, _, order = split_vectors(previous.vectors)
            physical = np.where(source >= 0, order[np.maximum(source, 0)], -1)
            in_faiss = np.where(physical < len(base), physical, -1)
        faiss_index = make_faiss_index(vectors, previous.faiss_index if previous is not None and not full else None, in_faiss)
        build = LoadedIndex(index_dir / "builds" / build_id, new_manifest(build_id, model, dimension, sections, units, faiss_index),
                            sections, units, vectors, faiss_index)
        build.manifest["chunking"] = chunking
        build.manifest["parser_version"] = PARSER_VERSION
        build.manifest["corpus_fingerprint"] = {name: list(stamp) for name, stamp in fingerprint.items()}
        # Derived data saved with the build goes here, as {file name: JSON}, e.g. the corpus profile.
        extra: dict[str, Any] = {}
        from .profile import make_profile  # the corpus profile: titles, parties, examples, calibrated cutoffs

        extra["profile.json"] = make_profile(build, _as_embedder(embedder), corpus_dir, previous=None if full else previous,
                                             changed=sections_embedded + removed).to_json()
        write_build(index_dir, build, previous.path if previous is not None else None, extra)
        report = BuildReport(
            index_dir=index_dir,
            build_id=build_id,
            sections=len(sections),
            units=len(units),
            embedded=embedded,
            reused=reused_count,
            removed=removed,
            sections_embedded=sections_embedded,
            sections_reused=len(sections) - sections_embedded,
            seconds=time.perf_counter() - started,
            full=full,
            warnings=tuple(warnings),
        )
        log.info("%s", report.summary())
        return report


def long_sections_warning(long: list[str]) -> list[str]:
    """One warning for the sections embedded in several windows (normal for real text), each logged at info level
    (shown with ``--verbose``)."""
    for note in long:
        log.info("%s", note)
    if not long:
        return []
    verb = "was" if len(long) == 1 else "were"
    return [f"{counted(len(long), 'section')} {verb} longer than the model reads at once and {verb} "
            f"embedded in several windows (run with -v for the list)"]


def _refuse_emptied_files(corpus_dir: Path, before: Sequence[Section], after: Sequence[Section]) -> None:
    """Raise :class:`CorpusError` if a file still in the corpus lost every section it had (all but the intro).

    Such an edit is far more often a mistake (a truncated save, a bad paste) than
    intended; ``alliance-qa build --full`` builds it anyway.
    """
    had: dict[str, int] = {}
    for section in before:
        if section.position > 0:
            had[section.source] = had.get(section.source, 0) + 1
    has = {s.source for s in after if s.position > 0}
    intro_only = {s.source for s in after if s.position == 0}
    for source, count in sorted(had.items()):
        if source not in has and (corpus_dir / source).exists():
            left = "only its intro" if source in intro_only else "no text"
            raise CorpusError(
                f"corpus file {corpus_dir / source} now has {left}, but the index has {count} sections from it: "
                "refusing to delete every section, the current index is unchanged. If you meant it, "
                "run `alliance-qa build --full`"
            )


def _check_vectors(vectors: np.ndarray, texts: list[str], model: str) -> None:
    """Raise :class:`ModelError` if any vector is NaN, infinite or of zero length (a damaged model)."""
    norms = np.linalg.norm(vectors, axis=1)
    bad = np.flatnonzero(~np.isfinite(norms) | (norms < 1e-6))
    if len(bad):
        raise ModelError(
            f"embedding model {model!r} gave {len(bad)} of {len(texts)} vectors that are NaN or of zero length "
            f"(the first for {texts[bad[0]][:60]!r}): its weights look damaged; the current index is unchanged. "
            "Reinstall the model or set ALLIANCE_QA_MODEL to a working one, then run `alliance-qa build --full`"
        )


def _as_embedder(embedder: Embedder | Callable[[], Embedder]) -> Embedder:
    """Return ``embedder``, calling it first if it is a loader rather than a model."""
    if hasattr(embedder, "encode"):
        return embedder  # type: ignore[return-value]
    return embedder()


