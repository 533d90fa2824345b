"""The index on disk: build folders, the ``current`` symlink, the lock, checks on load and fallback.

Layout of the index folder (only ``README.md`` is kept in git)::

    index/
      current -> builds/20261130T120000-ab12cd   symlink, swapped atomically
      builds/<build id>/manifest.json               model, dimension, versions, hashes
      builds/<build id>/sections.jsonl              one section a line
      builds/<build id>/units.jsonl                 one embedded text a line (row i = vector i)
      builds/<build id>/vectors.npy                 float32 (units, dimension), L2-normalized
      builds/<build id>/index.faiss                 FAISS inner-product index over vectors.npy (see ann.py)
      builds/<build id>/*.offsets.npy               where each line of the .jsonl files starts (rows.py)
      builds/<build id>/units.npy, lexical.json ... the retrieval tables and keyword index (prepared.py)
      builds/<build id>/profile.json                the corpus profile (profile.py)
      builds/<build id>/delta.*, order.*.npy        a delta over linked base files (delta.py, segments.py)
      .build.lock                                   held while a build runs

:func:`write_build` writes a complete build into ``builds/.tmp-<id>/``, fsyncs it,
renames it and then swaps the ``current`` symlink; a failure at any point (bad
file, exception, Ctrl-C, SIGKILL) leaves ``current`` pointing at the previous,
intact build.  :func:`load_index` checks every file against the manifest and
falls back to the newest older build that reads cleanly.  The manifest lists
every file with its size, SHA-256 and stamp (:mod:`.verify`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .corpus import Section
from .errors import BuildError, BuildLockedError
from .load import BUILD_NAME, DATA_FILES, FORMAT_VERSION, LAYOUT_FILES, OFFSET_FILES, LoadedIndex, Unit
from .normalize import NORMALIZATION_VERSION
from .prepared import save_prepared
from .rows import write_json, write_jsonl
from .segments import DELTA_FILES, Ordered, OrderedVectors
from .verify import file_sha256, take_stamps

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = float(os.environ.get("ALLIANCE_QA_LOCK_TIMEOUT", "300"))
#: Written when alliance-qa takes an empty (or new) folder as its index folder; nothing is written without it.
MARKER = ".alliance-qa-index"


# --------------------------------------------------------------------------- files


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _section_row(section: Section) -> dict[str, Any]:
    return {
        "id": section.id,
        "number": section.number,
        "title": section.title,
        "text": section.text,
        "source": section.source,
        "position": section.position,
        "sentences": list(section.sentences),
        "document_title": section.document_title,
        "intro": section.intro,
        "hash": section.content_hash,
    }


def _unit_row(unit: Unit) -> dict[str, Any]:
    return {"section_id": unit.section_id, "kind": unit.kind, "text": unit.text, "sentence": unit.sentence}


# --------------------------------------------------------------------------- ownership


def is_our_build(path: Path) -> bool:
    """Whether ``path`` is a build folder alliance-qa wrote: our name, only our files, its manifest names it.

    A build whose manifest is missing or unreadable (damaged) still counts when the rest holds;
    anything else in ``builds/`` belongs to someone else and is never deleted.
    """
    if path.is_symlink() or not path.is_dir() or not BUILD_NAME.fullmatch(path.name):
        return False
    for entry in path.iterdir():
        if entry.is_symlink() or not entry.is_file() or not (entry.name in LAYOUT_FILES or entry.name.endswith(".json")):
            return False
    try:
        with (path / "manifest.json").open("rb") as fh:
            head = fh.read(4096)  # the build id comes first; a large build's manifest is tens of MB
        named = re.search(rb'"build_id": *"([^"]*)"', head)
        if named:
            return named.group(1).decode("utf-8", "replace") == path.name
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return not isinstance(manifest, dict) or manifest.get("build_id", path.name) == path.name


def _our_link(path: Path, pattern: str) -> bool:
    """Whether ``path`` is a symlink we made: it points at ``builds/<build id>`` and its name fits ``pattern``."""
    if not path.is_symlink() or not re.fullmatch(pattern, path.name):
        return False
    parts = Path(os.readlink(path)).parts
    return len(parts) == 2 and parts[0] == "builds" and bool(BUILD_NAME.fullmatch(parts[1]))


def _ours_at_top(entry: Path) -> bool:
    """Whether ``entry``, directly in an index folder, is something alliance-qa makes there."""
    name = entry.name
    if name in ("current", MARKER) or name.startswith(".current-"):
        return _our_link(entry, r"current|\.current-.*") or (name == MARKER and entry.is_file())
    if name == ".build.lock":
        return entry.is_file() and not entry.is_symlink() and entry.stat().st_size == 0
    if name == "cache":  # the calibration's question-bank vectors (calibrate.bank_vectors)
        return entry.is_dir() and not entry.is_symlink() and all(
            re.fullmatch(r"\.?bank-[0-9a-f]+\.npy(\.[0-9]+\.tmp)?", p.name) and p.is_file() for p in entry.iterdir()
        )
    if name == "README.md":  # the index/README.md of this project's repository
        return entry.is_file() and "alliance-qa" in entry.read_text(encoding="utf-8", errors="replace")[:4096]
    return False


def _foreign_entries(index_dir: Path) -> list[str]:
    """What in ``index_dir`` an earlier alliance-qa (before the marker) would not have made."""
    foreign = []
    for entry in sorted(index_dir.iterdir()):
        if entry.name == "builds" and entry.is_dir() and not entry.is_symlink():
            for build in sorted(entry.iterdir()):
                tmp = build.name.startswith(".tmp-") and BUILD_NAME.fullmatch(build.name[5:]) and build.is_dir()
                if not (tmp or is_our_build(build)):
                    foreign.append(f"builds/{build.name}")
        elif not _ours_at_top(entry):
            foreign.append(entry.name)
    return foreign


def claim_folder(index_dir: Path) -> None:
    """Make sure ``index_dir`` is ours to write: marked, or new, empty, or an index an earlier version made.

    Raises :class:`BuildError` naming the folder when it holds anything else, or when its
    ``current`` is not a symlink we made; nothing in it is touched then.
    """
    marker = index_dir / MARKER
    if not marker.is_file():
        index_dir.mkdir(parents=True, exist_ok=True)
        foreign = _foreign_entries(index_dir)
        if foreign:
            shown = ", ".join(repr(name) for name in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise BuildError(
                f"index folder {index_dir} is not empty and was not made by alliance-qa (it holds {shown}): refusing "
                "to write there, so nothing in it is deleted or replaced. Set --index or ALLIANCE_QA_INDEX to a new or empty folder"
            )
        write_json(marker, {"made_by": "alliance-qa", "package_version": __version__})
        log.info("index folder %s is now marked as alliance-qa's (%s)", index_dir, MARKER)
    current = index_dir / "current"
    if (current.exists() or current.is_symlink()) and not _our_link(current, "current"):
        kind = "a symlink to " + os.readlink(current) if current.is_symlink() else ("a folder" if current.is_dir() else "a file")
        raise BuildError(
            f"index folder {index_dir} has a 'current' that alliance-qa did not make ({kind}): refusing to replace it. "
            "Move it away, or set --index or ALLIANCE_QA_INDEX to another folder"
        )


@contextlib.contextmanager
def build_lock(index_dir: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive lock on ``index_dir`` for one build; wait up to ``timeout`` seconds."""
    try:
        claim_folder(index_dir)
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



def new_manifest(build_id: str, model: str, dimension: int, sections: list[Section], units: list[Unit], faiss_index: Any) -> dict[str, Any]:
    """The manifest of a build about to be written; :func:`write_build` adds each file's size and SHA-256."""
    return {
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
        "sections": {s.id: section_entry(s) for s in sections},
    }


def section_entry(section: Section) -> dict[str, Any]:
    """A section's entry in the manifest: its content hash, number, title and file."""
    return {"hash": section.content_hash, "number": section.number, "title": section.title, "source": section.source}


def write_build(index_dir: Path, build: LoadedIndex, previous: Path | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write ``build`` (not yet on disk) into a temporary folder, then swap ``current`` to it.

    A build with a delta (:mod:`.delta`) links the base files of ``previous`` and writes only its delta.

    ``extra`` maps more file names of the build folder to JSON data (e.g. ``profile.json``);
    they are listed in the manifest and checked on load like the data files.
    """
    builds = index_dir / "builds"
    tmp = builds / f".tmp-{build.build_id}"
    final = builds / build.build_id
    try:
        builds.mkdir(parents=True, exist_ok=True)
        for leftover in builds.glob(".tmp-*"):  # from a killed build; we hold the lock
            if BUILD_NAME.fullmatch(leftover.name[5:]) and leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
        for link in index_dir.glob(".current-*"):  # a symlink a killed build made but never swapped in
            if _our_link(link, r"\.current-.*"):
                link.unlink(missing_ok=True)
        tmp.mkdir()
        if isinstance(build.sections, Ordered) and isinstance(build.units, Ordered) and isinstance(build.vectors, OrderedVectors):
            if previous is None:
                raise ValueError("a build with a delta needs the build it was made from")
            written = _write_delta(tmp, build.sections, build.units, build.vectors, previous)
        else:
            written = _write_whole(tmp, build)
        prepared = save_prepared(build.prepared, tmp)
        for name, data in (extra or {}).items():
            write_json(tmp / name, data)
        names = [*written, *prepared, *(extra or {})]
        known = build.manifest.get("sha256", {})  # a delta's linked base files: as the build they come from says
        for name in names:
            if name not in known:
                with open(tmp / name, "rb") as fh:
                    os.fsync(fh.fileno())
        manifest = dict(build.manifest)
        manifest["files"] = {name: (tmp / name).stat().st_size for name in names}
        manifest["sha256"] = {name: known[name] if name in known else file_sha256(tmp / name) for name in names}
        manifest["stamps"] = take_stamps(tmp, names)
        write_json(tmp / "manifest.json", manifest, indent=2 if len(build.sections) <= 1000 else None)  # indent is slow
        with open(tmp / "manifest.json", "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        link_tmp = index_dir / f".current-{build.build_id}"
        os.symlink(Path("builds") / build.build_id, link_tmp)
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
    build.path = final
    build.manifest = manifest
    _prune(builds, keep=final, previous=previous)
    return final


def _write_rows(folder: Path, name: str, rows: list[dict[str, Any]]) -> None:
    """Write ``<name>.jsonl`` and its line offsets, ``<name>.offsets.npy`` (:mod:`.rows`)."""
    np.save(folder / f"{name}.offsets.npy", write_jsonl(folder / f"{name}.jsonl", rows), allow_pickle=False)


def _write_whole(tmp: Path, build: LoadedIndex) -> list[str]:
    """Write every row, vector and the FAISS index of ``build`` into ``tmp``; return the names written."""
    import faiss

    _write_rows(tmp, "sections", [_section_row(s) for s in build.sections])
    _write_rows(tmp, "units", [_unit_row(u) for u in build.units])
    np.save(tmp / "vectors.npy", np.asarray(build.vectors), allow_pickle=False)
    try:
        faiss.write_index(build.faiss_index, str(tmp / "index.faiss"))
    except RuntimeError as exc:  # FAISS reports a failed write (e.g. disk full) this way, the OS reason last
        reason = re.search(r"\(([^()]+)\)\s*$", str(exc))
        text = reason.group(1) if reason else "FAISS could not write index.faiss"
        raise OSError(errno.ENOSPC if "space" in text else errno.EIO, text) from exc
    return [*DATA_FILES, *OFFSET_FILES]


def _write_delta(tmp: Path, sections: Ordered[Section], units: Ordered[Unit], vectors: OrderedVectors, previous: Path) -> list[str]:
    """Link the base files of ``previous`` into ``tmp`` and write the delta's rows, vectors and the orders.

    Older builds are pruned first (all but ``previous``): removing a linked file changes the shared file's
    stamp, which must happen before the new build takes its stamps (:mod:`.verify`).
    """
    _prune(tmp.parent, keep=previous)
    for name in (*DATA_FILES, *OFFSET_FILES):
        try:
            os.link(previous / name, tmp / name)
        except OSError:  # a file system without hard links: a copy (slower, the same bytes and checksum)
            shutil.copyfile(previous / name, tmp / name)
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
    _write_rows(tmp, "delta.sections", [_section_row(s) for s in sections.delta])
    _write_rows(tmp, "delta.units", [_unit_row(u) for u in units.delta])
    np.save(tmp / "delta.vectors.npy", np.asarray(vectors.delta, dtype=np.float32), allow_pickle=False)
    np.save(tmp / "order.sections.npy", sections.order, allow_pickle=False)
    np.save(tmp / "order.units.npy", units.order, allow_pickle=False)
    return [*DATA_FILES, *OFFSET_FILES, *DELTA_FILES]


def _prune(builds: Path, keep: Path, previous: Path | None = None) -> None:
    """Keep ``keep`` and the build it replaces (``previous``, the last good one); delete our other builds.

    A damaged build that was current is deleted rather than kept in place of the last
    good one.  With no ``previous`` (no build could be read) only ``keep`` is left.
    Only folders :func:`is_our_build` recognizes are deleted; anything else stays.
    """
    kept = {keep.name} | ({previous.name} if previous is not None else set())
    for old in builds.iterdir():
        if old.name not in kept and is_our_build(old):
            shutil.rmtree(old, ignore_errors=True)
