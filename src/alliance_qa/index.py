"""The index on disk: embed the corpus units, store them in FAISS, build incrementally and atomically.

Layout of the index folder (only ``README.md`` is kept in git)::

    index/
      current -> builds/20261130T120000-ab12cd   symlink, swapped atomically
      builds/<build id>/manifest.json               model, dimension, versions, hashes
      builds/<build id>/sections.jsonl              one section a line
      builds/<build id>/units.jsonl                 one embedded text a line (row i = vector i)
      builds/<build id>/vectors.npy                 float32 (units, dimension), L2-normalized
      builds/<build id>/index.faiss                 FAISS inner-product index over vectors.npy (see below)
      .build.lock                                   held while a build runs

A build reads the corpus, splits every section into *units* (its title, the
whole section in windows of at most ``WINDOW_WORDS`` words, and each sentence),
reuses the vector of every unit whose text hash is in the current build, embeds
the rest, writes a new build folder and then swaps the ``current`` symlink.  A
failure at any point (bad file, exception, Ctrl-C, SIGKILL) leaves ``current``
pointing at the previous, intact build.

The FAISS index type is chosen by size (:func:`make_faiss_index`): exact
``IndexFlatIP`` up to :data:`FLAT_MAX_VECTORS` vectors, where one search costs
under ~2 ms on one core; beyond that an IVF index with 8-bit codes, whose
``nprobe`` is calibrated at build time to reach :data:`IVF_TARGET_RECALL`, and
whose candidates :meth:`LoadedIndex.search` re-scores exactly from
``vectors.npy``, so every score it returns is the true cosine similarity.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from .corpus import Section, read_corpus, split_sentences
from .errors import BuildError, BuildLockedError, CorpusError, IndexStateError
from .normalize import NORMALIZATION_VERSION

if TYPE_CHECKING:
    from .embed import Embedder

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Longest run of words embedded as one text; MiniLM reads about 256 word pieces.
WINDOW_WORDS = 160
WINDOW_STRIDE = 120
#: Builds embedding more texts than this show a progress bar on a terminal.
PROGRESS_MIN_TEXTS = 32
#: Up to this many vectors the FAISS index is exact (``IndexFlatIP``, ~2 ms a search at 20,000 on one core).
FLAT_MAX_VECTORS = 20_000
#: Recall@10 against exact search that an IVF index's ``nprobe`` is calibrated to reach at build time.
IVF_TARGET_RECALL = 0.99
#: An approximate search fetches at least this many candidates and re-scores them exactly.
RERANK_CANDIDATES = 64
LOCK_TIMEOUT_S = float(os.environ.get("ALLIANCE_QA_LOCK_TIMEOUT", "300"))

KINDS = ("title", "section", "sentence")


@dataclass(frozen=True)
class Unit:
    """One embedded text: a section's title, a window of its text, or one sentence."""

    section_id: str
    kind: str
    text: str
    sentence: int | None = None

    @property
    def text_hash(self) -> str:
        """SHA-256 of the embedded text: equal hashes share one vector."""
        return hashlib.sha256(self.text.encode()).hexdigest()


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

    def summary(self) -> str:
        """One line for people: what was embedded, reused and removed."""
        if self.unchanged:
            return f"index is up to date: {self.sections} sections, {self.units} texts (nothing embedded)"
        return (
            f"built index: {self.sections} sections, {self.units} texts; "
            f"embedded {self.embedded} texts ({self.sections_embedded} sections), "
            f"reused {self.reused} texts ({self.sections_reused} sections), "
            f"removed {self.removed} sections, in {self.seconds:.2f} s"
        )


@dataclass
class LoadedIndex:
    """A build read into memory: its manifest, sections, units, vectors and FAISS index."""

    path: Path
    manifest: dict[str, Any]
    sections: list[Section]
    units: list[Unit]
    vectors: np.ndarray
    faiss_index: Any
    by_id: dict[str, Section] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {s.id: s for s in self.sections}
        self.exact = type(self.faiss_index).__name__.startswith("IndexFlat")

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

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(scores, unit rows)`` of the ``k`` units nearest ``vector``; rows past the end are dropped."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dimension:
            raise IndexStateError(
                f"question vector has dimension {query.shape[1]} but the index at {self.path} has {self.dimension}: "
                "run `alliance-qa build --full`"
            )
        total = int(self.faiss_index.ntotal)
        if self.exact:
            scores, rows = self.faiss_index.search(query, min(k, total))
            keep = rows[0] >= 0
            return scores[0][keep], rows[0][keep]
        # Approximate index: take more candidates, re-score them exactly from the stored vectors.
        _, found = self.faiss_index.search(query, min(max(k, RERANK_CANDIDATES), total))
        rows = found[0][found[0] >= 0]
        exact = self.vectors[rows] @ query[0]
        order = np.argsort(-exact, kind="stable")[:k]
        return exact[order].astype(np.float32), rows[order]


# --------------------------------------------------------------------------- units


def _word_windows(text: str, size: int = WINDOW_WORDS, stride: int = WINDOW_STRIDE) -> list[str]:
    """Cut ``text`` into overlapping windows of at most ``size`` words, each an exact substring."""
    if len(text.split()) <= size:  # the common case, without building every word's span
        return [text] if text.strip() else []
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    windows = []
    for start in range(0, len(spans), stride):
        chunk = spans[start : start + size]
        windows.append(text[chunk[0][0] : chunk[-1][1]])
        if start + size >= len(spans):
            break
    return windows


def section_units(section: Section) -> tuple[list[Unit], list[str]]:
    """Return the texts to embed for ``section`` and warnings about long texts."""
    warnings: list[str] = []
    units = [Unit(section.id, "title", section.title)] if section.title else []
    body = section.text if section.number is None or not section.title else f"{section.title}. {section.text}"
    windows = _word_windows(body)
    if len(windows) > 1:
        warnings.append(
            f"section {section.title!r} in {section.source} has {len(body.split())} words, more than the model "
            f"reads at once: embedded as {len(windows)} overlapping windows of {WINDOW_WORDS} words"
        )
    units += [Unit(section.id, "section", w) for w in windows]
    sentences = section.sentences or tuple(split_sentences(section.text))
    for i, sentence in enumerate(sentences):
        units += [Unit(section.id, "sentence", w, i) for w in _word_windows(sentence)]
    return units, warnings


# --------------------------------------------------------------------------- files


def _write_json(path: Path, data: Any, *, indent: int | None = 2) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")


_JSONL = json.JSONEncoder(ensure_ascii=False)  # one encoder for every row: json.dumps(**options) makes one per call


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(_JSONL.encode(row) + "\n")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    with contextlib.suppress(ValueError):  # one parse of the whole file is twice as fast as one per line
        rows = json.loads("[" + ",".join(lines) + "]")
        if len(rows) == len(lines):
            return list(rows)
    return [json.loads(line) for line in lines]  # a damaged line: fail on it, or read what each line holds


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def ivf_lists(count: int) -> int:
    """The number of IVF lists for ``count`` vectors: the power of two nearest sqrt(count), at least 16."""
    return max(16, 2 ** round(np.log2(max(count, 1)) / 2))


def make_faiss_index(vectors: np.ndarray, previous: Any = None, source: np.ndarray | None = None) -> Any:
    """Return an inner-product FAISS index holding ``vectors`` (row i has id i), its type chosen by size.

    Up to :data:`FLAT_MAX_VECTORS` rows: exact ``IndexFlatIP``.  Beyond: ``IVF<n>,SQ8``
    with ``n = ivf_lists(rows)`` and ``nprobe`` calibrated by :func:`calibrate_nprobe`.
    With ``previous`` (the last build's index) of the same shape, its training is
    reused; with ``source`` too (``source[i]`` is the row of ``previous`` that row i
    copies, or -1), the reused rows keep their list and code and only the others
    are assigned, and ``nprobe`` is kept while the row count stays within 10%.
    """
    import faiss

    count, dim = int(vectors.shape[0]), int(vectors.shape[1])
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    if count <= FLAT_MAX_VECTORS:
        flat = faiss.IndexFlatIP(dim)
        if count:
            flat.add(data)
        return flat
    nlist = ivf_lists(count)
    # FAISS and torch share one OpenMP runtime here: a thread count set for FAISS is torch's too, so it is
    # raised for k-means and list assignment only, then put back (lowering it halves embedding speed).
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(os.cpu_count() or threads)
    index: Any
    try:
        reusable = isinstance(previous, faiss.IndexIVFScalarQuantizer) and previous.d == dim and previous.nlist == nlist
        if reusable:
            index = faiss.clone_index(previous)
            index.reset()  # keeps the trained lists and quantizer ranges
        else:
            index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
            sample = np.random.default_rng(0).choice(count, min(count, 40 * nlist), replace=False)
            index.train(data[np.sort(sample)])
        if reusable and source is not None and len(source) == count:
            _copy_lists(previous, index, data, source)
        else:
            index.add(data)
        if reusable and source is not None and abs(count - previous.ntotal) <= 0.1 * previous.ntotal:
            index.nprobe = previous.nprobe
        else:
            index.nprobe = calibrate_nprobe(index, data)
    finally:
        faiss.omp_set_num_threads(threads)
    log.info("FAISS IVF%d,SQ8 over %d vectors, nprobe %d", nlist, count, index.nprobe)
    return index


def _copy_lists(previous: Any, index: Any, data: np.ndarray, source: np.ndarray) -> None:
    """Fill the empty, trained IVF ``index``: rows copied from ``previous`` keep its list and code; the rest are added."""
    import faiss

    count = len(source)
    old_to_new = np.full(int(previous.ntotal), -1, dtype=np.int64)
    reused = np.flatnonzero(source >= 0)
    firsts, where = np.unique(source[reused], return_index=True)  # a vector shared by equal texts is copied once
    old_to_new[firsts] = reused[where]
    placed = np.zeros(count, dtype=bool)
    lists, code_size = previous.invlists, previous.code_size
    for number in range(previous.nlist):
        size = lists.list_size(number)
        if not size:
            continue
        ids = old_to_new[faiss.rev_swig_ptr(lists.get_ids(number), size)]
        keep = ids >= 0
        if not keep.any():
            continue
        codes = faiss.rev_swig_ptr(lists.get_codes(number), size * code_size).reshape(size, code_size)[keep]
        new_ids = np.ascontiguousarray(ids[keep])
        index.invlists.add_entries(number, len(new_ids), faiss.swig_ptr(new_ids), faiss.swig_ptr(np.ascontiguousarray(codes)))
        placed[new_ids] = True
    index.ntotal = int(placed.sum())
    rest = np.flatnonzero(~placed)
    if len(rest):
        index.add_with_ids(np.ascontiguousarray(data[rest]), rest.astype(np.int64))
    if index.ntotal != count:  # pragma: no cover - a bug here must not write a wrong index
        raise BuildError(f"IVF index holds {index.ntotal} vectors after reusing lists, expected {count}")


def calibrate_nprobe(index: Any, vectors: np.ndarray, target: float = IVF_TARGET_RECALL, queries: int = 100) -> int:
    """Twice the smallest power-of-two ``nprobe`` whose re-scored top 10 finds ``target`` of the exact top 10.

    The sample queries are midpoints of two random stored vectors, so none of them
    is a stored vector itself (which IVF finds trivially).  Real questions sit
    further from every stored text than these midpoints (best cosine ~0.66 against
    ~0.83 on the synthetic corpora) and need more lists probed: at the nprobe that
    gives midpoints 0.99, questions measured 0.95-0.96; doubling it gives 0.975-0.985.
    """
    import faiss

    rng = np.random.default_rng(1)
    mixed = vectors[rng.integers(0, len(vectors), queries)] + vectors[rng.integers(0, len(vectors), queries)]
    mixed /= np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)
    truth, _ = faiss.knn(mixed, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    nprobe = 1
    while nprobe < index.nlist:
        index.nprobe = nprobe
        if approximate_recall(index, vectors, mixed, truth) >= target:
            break
        nprobe *= 2
    return min(2 * nprobe, int(index.nlist))


def approximate_recall(index: Any, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Recall@``k`` of ``index`` as :meth:`LoadedIndex.search` serves it, against exact scores ``truth``.

    ``truth`` holds each query's exact top-``k`` scores, best first; a result counts
    when its exact score reaches the ``k``-th (so ties with it count too).
    """
    _, found = index.search(queries, max(k, RERANK_CANDIDATES))
    hits = 0
    for i, rows in enumerate(found):
        rows = rows[rows >= 0]
        best = np.sort(vectors[rows] @ queries[i])[::-1][:k]
        hits += int(np.sum(best >= truth[i, k - 1] - 1e-5))
    return hits / (k * len(queries))


def current_build(index_dir: Path) -> Path | None:
    """The build folder ``index_dir/current`` points at, or ``None`` if there is none."""
    link = index_dir / "current"
    if not link.is_symlink() and not link.is_dir():
        return None
    target = link.resolve()
    return target if target.is_dir() else None


def read_build(path: Path) -> LoadedIndex:
    """Read and check one build folder; raise :class:`IndexStateError` saying what is wrong."""
    import faiss

    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexStateError(f"index build {path} has no manifest.json: run `alliance-qa build`") from exc
    except (OSError, ValueError) as exc:
        raise IndexStateError(f"index manifest {path / 'manifest.json'} is unreadable ({exc}): run `alliance-qa build`") from exc
    if not isinstance(manifest, dict):
        raise IndexStateError(f"index manifest {path / 'manifest.json'} is not a JSON object: run `alliance-qa build`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexStateError(
            f"index at {path} has format {manifest.get('format_version')!r}, this version reads {FORMAT_VERSION}: "
            "run `alliance-qa build`"
        )
    try:
        dim = int(manifest["dimension"])
        for info in manifest["sections"].values():  # used by stale_reasons and incremental builds
            if not isinstance(info["hash"], str):
                raise TypeError(f"section hash {info['hash']!r} is not a string")
        for name, size in manifest["files"].items():
            actual = (path / name).stat().st_size
            if actual != size:
                raise IndexStateError(
                    f"index file {path / name} has {actual} bytes, the manifest says {size}: "
                    "it is damaged; run `alliance-qa build`"
                )
        for name, digest in manifest.get("sha256", {}).items():
            if _file_sha256(path / name) != digest:
                raise IndexStateError(
                    f"index file {path / name} does not match the checksum in its manifest: "
                    "it is damaged; run `alliance-qa build`"
                )
        sections = [_section_from_row(row) for row in _read_jsonl(path / "sections.jsonl")]
        units = [Unit(**row) for row in _read_jsonl(path / "units.jsonl")]
        vectors = np.load(path / "vectors.npy", allow_pickle=False)
        try:
            faiss_index = faiss.read_index(str(path / "index.faiss"))
        except (RuntimeError, MemoryError) as exc:  # FAISS's own multi-line assertion text stays in the debug log
            log.debug("faiss.read_index(%s) failed: %s", path / "index.faiss", exc)
            raise IndexStateError(
                f"index file {path / 'index.faiss'} is not a readable FAISS index: it is damaged; run `alliance-qa build`"
            ) from exc
    except IndexStateError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, MemoryError) as exc:
        raise IndexStateError(f"index at {path} is damaged ({type(exc).__name__}: {exc}): run `alliance-qa build`") from exc
    counts = {"units.jsonl": len(units), "vectors.npy": int(vectors.shape[0]), "index.faiss": int(faiss_index.ntotal)}
    if len(set(counts.values())) != 1 or vectors.ndim != 2 or vectors.shape[1] != dim or faiss_index.d != dim:
        raise IndexStateError(
            f"index at {path} does not match its manifest (rows {counts}, dimension {dim}, "
            f"vectors {vectors.shape}, FAISS d={faiss_index.d}): run `alliance-qa build --full`"
        )
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
    return LoadedIndex(path, manifest, sections, units, vectors, faiss_index)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _section_from_row(row: dict[str, Any]) -> Section:
    return Section(
        id=row["id"],
        number=row["number"],
        title=row["title"],
        text=row["text"],
        source=row["source"],
        position=row["position"],
        sentences=tuple(row["sentences"]),
    )


def _section_row(section: Section) -> dict[str, Any]:
    return {
        "id": section.id,
        "number": section.number,
        "title": section.title,
        "text": section.text,
        "source": section.source,
        "position": section.position,
        "sentences": list(section.sentences),
        "hash": section.content_hash,
    }


def _unit_row(unit: Unit) -> dict[str, Any]:
    return {"section_id": unit.section_id, "kind": unit.kind, "text": unit.text, "sentence": unit.sentence}


def load_index(index_dir: Path) -> LoadedIndex:
    """Load the current build, falling back to the newest older build that reads cleanly.

    Raises :class:`IndexStateError` when there is no usable build at all.
    """
    current = current_build(index_dir)
    problems: list[str] = []
    candidates = [current] if current else []
    builds = index_dir / "builds"
    if builds.is_dir():
        older = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
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
            loaded.manifest["fallback_from"] = str(current) if current else None
        return loaded
    if not candidates:
        raise IndexStateError(f"no index in {index_dir}: run `alliance-qa build`")
    raise IndexStateError(f"no usable index in {index_dir} ({problems[0]})")


def stale_reasons(loaded: LoadedIndex, sections: list[Section], model: str) -> list[str]:
    """Say why ``loaded`` does not match the corpus ``sections`` and ``model``; empty when it does."""
    reasons = []
    manifest = loaded.manifest
    if manifest.get("model") != model:
        reasons.append(f"index was built with model {manifest.get('model')!r}, the configured model is {model!r}")
    if manifest.get("normalization_version") != NORMALIZATION_VERSION:
        reasons.append("index was built with another text normalization")
    built = {sid: info["hash"] for sid, info in manifest.get("sections", {}).items()}
    now = {s.id: s.content_hash for s in sections}
    changed = sum(1 for sid, h in now.items() if built.get(sid) != h)
    removed = len(set(built) - set(now))
    if changed or removed:
        reasons.append(f"corpus changed since the index was built ({changed} sections new or edited, {removed} removed)")
    return reasons


# --------------------------------------------------------------------------- build


@contextlib.contextmanager
def build_lock(index_dir: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive lock on ``index_dir`` for one build; wait up to ``timeout`` seconds."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_dir / ".build.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise BuildError(f"cannot write to index folder {index_dir} ({exc.strerror}): fix its permissions or set ALLIANCE_QA_INDEX") from exc
    deadline = time.monotonic() + timeout
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise BuildLockedError(
                        f"another build of {index_dir} is still running after {timeout:.0f} s: wait for it to finish, then retry"
                    ) from None
                if not told:
                    log.warning("another build of %s is running: waiting for it to finish", index_dir)
                    told = True
                time.sleep(0.1)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _progress(total: int) -> Any:
    """A tqdm bar on a terminal for builds above ``PROGRESS_MIN_TEXTS`` texts, else ``None``."""
    if total <= PROGRESS_MIN_TEXTS or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="embedding", unit="text", leave=False)


def _embed(embedder: Embedder, texts: list[str], batch: int = 256) -> np.ndarray:
    """Embed ``texts`` longest first, so each batch pads to similar lengths; rows come back in input order."""
    bar = _progress(len(texts))
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    parts = []
    try:
        for start in range(0, len(order), batch):
            chunk = [texts[i] for i in order[start : start + batch]]
            parts.append(embedder.encode(chunk))
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    if not parts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(parts)
    return out


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder | Callable[[], Embedder],
    *,
    model: str,
    full: bool = False,
    lock_timeout: float = LOCK_TIMEOUT_S,
) -> BuildReport:
    """Build ``index_dir`` from ``corpus_dir``, reusing unchanged vectors unless ``full``.

    ``embedder`` may be a loader callable, called only if something must be embedded.
    Writes a new build folder and swaps it in; on any failure the previous build
    stays current.  Raises :class:`CorpusError`, :class:`BuildError` or
    :class:`BuildLockedError`.
    """
    started = time.perf_counter()
    sections, warnings = read_corpus(corpus_dir)
    with build_lock(index_dir, lock_timeout):
        previous: LoadedIndex | None = None
        with contextlib.suppress(IndexStateError):
            previous = load_index(index_dir)
        if previous is not None and (previous.model != model or previous.manifest.get("normalization_version") != NORMALIZATION_VERSION):
            log.warning("index was built with model %s; re-embedding everything with %s", previous.model, model)
            full = True
        if previous is not None and not full:
            _refuse_emptied_files(corpus_dir, previous.sections, sections)
        if previous is not None and not full and not stale_reasons(previous, sections, model) and previous.path == current_build(index_dir):
            return BuildReport(index_dir, previous.build_id, len(sections), len(previous.units), 0, len(previous.units),
                               0, 0, len(sections), time.perf_counter() - started, unchanged=True, warnings=tuple(warnings))

        units: list[Unit] = []
        for section in sections:
            more, notes = section_units(section)
            units += more
            warnings += notes
        # Equal texts share one vector (keyed by the text itself, as by its hash); the rest are embedded.
        old_rows: dict[str, int] = {}
        if previous is not None and not full:
            old_rows = {u.text: i for i, u in enumerate(previous.units)}
        todo = list(dict.fromkeys(u.text for u in units if u.text not in old_rows))
        fresh = _embed(_as_embedder(embedder), todo) if todo else None
        new_rows = {text: i for i, text in enumerate(todo)}
        reused_count = sum(1 for u in units if u.text in old_rows)
        if fresh is not None:
            dimension = int(fresh.shape[1])
        elif previous is not None:
            dimension = int(previous.vectors.shape[1])
        else:
            dimension = 0
        vectors = np.empty((len(units), dimension), dtype=np.float32)
        source = np.array([old_rows.get(u.text, -1) for u in units], dtype=np.int64)
        if units:
            reuse = source >= 0
            if reuse.any() and previous is not None:
                vectors[reuse] = previous.vectors[source[reuse]]
            if fresh is not None:
                vectors[~reuse] = fresh[[new_rows[u.text] for u, r in zip(units, reuse, strict=True) if not r]]

        old_hashes = {sid: info["hash"] for sid, info in (previous.manifest["sections"].items() if previous else [])}
        sections_embedded = sum(1 for s in sections if full or old_hashes.get(s.id) != s.content_hash)
        removed = len(set(old_hashes) - {s.id for s in sections})
        build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        _write_build(index_dir, build_id, model, dimension, sections, units, vectors,
                     previous.path if previous is not None else None,
                     previous.faiss_index if previous is not None and not full else None, source)
        report = BuildReport(
            index_dir=index_dir,
            build_id=build_id,
            sections=len(sections),
            units=len(units),
            embedded=len(todo),
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


def _refuse_emptied_files(corpus_dir: Path, before: list[Section], after: list[Section]) -> None:
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


def _as_embedder(embedder: Embedder | Callable[[], Embedder]) -> Embedder:
    """Return ``embedder``, calling it first if it is a loader rather than a model."""
    if hasattr(embedder, "encode"):
        return embedder  # type: ignore[return-value]
    return embedder()


def _write_build(
    index_dir: Path,
    build_id: str,
    model: str,
    dimension: int,
    sections: list[Section],
    units: list[Unit],
    vectors: np.ndarray,
    previous: Path | None = None,
    previous_faiss: Any = None,
    source: np.ndarray | None = None,
) -> Path:
    """Write a complete build into a temporary folder, then swap ``current`` to it."""
    import faiss

    builds = index_dir / "builds"
    tmp = builds / f".tmp-{build_id}"
    final = builds / build_id
    try:
        builds.mkdir(parents=True, exist_ok=True)
        for leftover in builds.glob(".tmp-*"):  # from a killed build; we hold the lock
            shutil.rmtree(leftover, ignore_errors=True)
        for link in index_dir.glob(".current-*"):  # a symlink a killed build made but never swapped in
            link.unlink(missing_ok=True)
        tmp.mkdir()
        _write_jsonl(tmp / "sections.jsonl", [_section_row(s) for s in sections])
        _write_jsonl(tmp / "units.jsonl", [_unit_row(u) for u in units])
        np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
        faiss_index = make_faiss_index(vectors, previous_faiss, source)
        faiss.write_index(faiss_index, str(tmp / "index.faiss"))
        names = ["sections.jsonl", "units.jsonl", "vectors.npy", "index.faiss"]
        manifest = {
            "format_version": FORMAT_VERSION,
            "build_id": build_id,
            "model": model,
            "dimension": dimension,
            "normalization_version": NORMALIZATION_VERSION,
            "package_version": __version__,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": {"sections": len(sections), "units": len(units)},
            "faiss": {
                "type": type(faiss_index).__name__,
                "nlist": int(getattr(faiss_index, "nlist", 0)),
                "nprobe": int(getattr(faiss_index, "nprobe", 0)),
            },
            "files": {name: (tmp / name).stat().st_size for name in names},
            "sha256": {name: _file_sha256(tmp / name) for name in names},
            "sections": {
                s.id: {"hash": s.content_hash, "number": s.number, "title": s.title, "source": s.source} for s in sections
            },
        }
        _write_json(tmp / "manifest.json", manifest, indent=2 if len(sections) <= 1000 else None)  # indent is slow
        for name in [*names, "manifest.json"]:
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
        link_tmp = index_dir / f".current-{build_id}"
        os.symlink(Path("builds") / build_id, link_tmp)
        os.replace(link_tmp, index_dir / "current")
        _fsync_dir(index_dir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise BuildError(
                f"cannot write the index to {index_dir} ({exc.strerror or exc}); the previous index is unchanged. "
                "Fix the folder's permissions or free some disk space, then run `alliance-qa build`"
            ) from exc
        raise
    _prune(builds, keep=final, previous=previous)
    return final


def _prune(builds: Path, keep: Path, previous: Path | None = None) -> None:
    """Keep ``keep`` and the build it replaces (``previous``, the last good one); delete the rest.

    A damaged build that was current is deleted rather than kept in place of the last
    good one.  With no ``previous`` (no build could be read) only ``keep`` is left.
    """
    kept = {keep.name} | ({previous.name} if previous is not None else set())
    for old in builds.iterdir():
        if old.is_dir() and not old.name.startswith(".") and old.name not in kept:
            shutil.rmtree(old, ignore_errors=True)
