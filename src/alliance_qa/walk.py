"""Find and read the corpus files: the folder walk, its limits, and reading one file safely."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .config import env_count
from .errors import CorpusError

SUFFIXES = (".txt", ".md")

ENV_MAX_FILES = "ALLIANCE_QA_MAX_FILES"
ENV_MAX_BYTES = "ALLIANCE_QA_MAX_BYTES"
#: At most this many corpus files (override: ``max_files=`` or ``ALLIANCE_QA_MAX_FILES``).
MAX_FILES = 2000
#: At most this many bytes of corpus files (override: ``max_bytes=`` or ``ALLIANCE_QA_MAX_BYTES``).
MAX_BYTES = 50_000_000
#: The walk gives up after this many files and folders (of any kind) per allowed corpus file.
WALK_ENTRIES_PER_FILE = 20


def _limit(value: int | None, env: str, default: int) -> int:
    """A walk limit: the keyword argument, else the ``env`` variable, else ``default``."""
    return value if value is not None else env_count(env, default, CorpusError)


def _walk(
    corpus_dir: Path, index_dir: Path | None, max_files: int | None, max_bytes: int | None,
    skipped: list[str] | None = None,
) -> list[tuple[str, str, os.stat_result | None]]:
    """The corpus files as ``(path relative to corpus_dir, POSIX style; full path; stat)``, in path order, within
    the limits (``stat`` is ``None`` if it fails; reading reports why).  ``skipped`` collects the relative paths of
    the other files that are not hidden (not read: not ``.txt`` or ``.md``).

    Plain strings, not :class:`~pathlib.Path`: this runs before every question (:func:`corpus_fingerprint`),
    and path objects cost ten times the ``stat`` calls over a thousand files.
    """
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"corpus folder {corpus_dir} does not exist: create it and put your .txt or .md files in it"
        )
    files_limit = _limit(max_files, ENV_MAX_FILES, MAX_FILES)
    bytes_limit = _limit(max_bytes, ENV_MAX_BYTES, MAX_BYTES)
    where = corpus_dir.resolve()
    if index_dir is not None and where in (index_dir.resolve(), *index_dir.resolve().parents):
        raise CorpusError(
            f"corpus folder {corpus_dir} contains the index folder {index_dir}: "
            "keep the index outside the corpus (set ALLIANCE_QA_INDEX or ALLIANCE_QA_CORPUS)"
        )
    hint = "point ALLIANCE_QA_CORPUS at the folder that holds only your documents, or raise"
    top = os.fspath(corpus_dir)
    found: list[tuple[str, str, os.stat_result | None]] = []
    seen = total = 0
    for root, dirs, files in os.walk(top, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        seen += len(dirs) + len(files)
        if seen > WALK_ENTRIES_PER_FILE * files_limit:
            raise CorpusError(
                f"corpus folder {corpus_dir} holds more than {WALK_ENTRIES_PER_FILE * files_limit:,} files and "
                f"folders (the walk stops at {WALK_ENTRIES_PER_FILE} x {ENV_MAX_FILES}={files_limit:,}): {hint} "
                f"{ENV_MAX_FILES}"
            )
        folder = os.path.relpath(root, top).replace(os.sep, "/") if root != top else ""
        inside = root if root.endswith(os.sep) else root + os.sep
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                if skipped is not None and not name.startswith("."):
                    skipped.append(f"{folder}/{name}" if folder else name)
                continue
            path = inside + name
            try:
                info: os.stat_result | None = os.stat(path)
            except OSError:
                info = None
            if info is not None and stat.S_ISREG(info.st_mode):
                total += info.st_size
            found.append((f"{folder}/{name}" if folder else name, path, info))
            if len(found) > files_limit:
                raise CorpusError(
                    f"corpus folder {corpus_dir} has more than {files_limit:,} .txt/.md files "
                    f"({ENV_MAX_FILES}={files_limit:,}): {hint} {ENV_MAX_FILES}"
                )
            if total > bytes_limit:
                raise CorpusError(
                    f"corpus folder {corpus_dir} has more than {bytes_limit:,} bytes of .txt/.md files "
                    f"({len(found):,} files, {total:,} bytes so far; {ENV_MAX_BYTES}={bytes_limit:,}): "
                    f"{hint} {ENV_MAX_BYTES}"
                )
    return sorted(found, key=lambda item: item[0].split("/"))  # the order of their Paths: part by part


def corpus_files(
    corpus_dir: Path, *, index_dir: Path | None = None, max_files: int | None = None, max_bytes: int | None = None,
    skipped: list[str] | None = None,
) -> list[Path]:
    """List the ``.txt`` and ``.md`` files under ``corpus_dir``, sorted, without following symlinked folders.

    Hidden files and folders are skipped; ``skipped`` collects the other files' relative paths.
    Raises :class:`CorpusError` when the folder is missing, contains ``index_dir``, or holds more than ``max_files``
    corpus files or ``max_bytes`` bytes of them (defaults: ``ALLIANCE_QA_MAX_FILES``,
    ``ALLIANCE_QA_MAX_BYTES``, else 2,000 files and 50 MB); the walk stops as soon
    as a limit is passed.
    """
    return [Path(path) for _, path, _ in _walk(corpus_dir, index_dir, max_files, max_bytes, skipped)]


def read_file(path: Path) -> bytes:
    """Read one corpus file; raise :class:`CorpusError` naming it and the reason it cannot be read.

    Symlinked files are read through the link.  A link that loops or dangles, a
    file without read permission, and anything that is not a regular file (a
    FIFO or a device, which could block or never end) are errors, never skipped.
    """
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CorpusError(
                f"corpus file {path} is a symbolic link loop ({path.name} -> {os.readlink(path)}): "
                "remove the link or point it at a real file"
            ) from exc
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise CorpusError(
                f"corpus file {path} is a broken symbolic link (to {os.readlink(path)}): "
                "remove the link or point it at a real file"
            ) from exc
        raise CorpusError(f"cannot read corpus file {path}: {exc.strerror or exc}; fix it or remove it") from exc
    if not stat.S_ISREG(info.st_mode):
        raise CorpusError(f"corpus file {path} is not a regular file (a FIFO, socket or device): remove it")
    try:
        return path.read_bytes()
    except PermissionError as exc:
        raise CorpusError(
            f"cannot read corpus file {path}: permission denied; make it readable (chmod a+r) or remove it"
        ) from exc
    except OSError as exc:
        raise CorpusError(f"cannot read corpus file {path}: {exc.strerror or exc}; fix it or remove it") from exc


def corpus_fingerprint(corpus_dir: Path, *, index_dir: Path | None = None) -> dict[str, tuple[int, int]]:
    """A cheap change detector: each corpus file's size and modification time in ns ({} if unreadable)."""
    try:
        found = _walk(corpus_dir, index_dir, None, None)
    except CorpusError:
        return {}
    return {name: (info.st_size, info.st_mtime_ns) for name, _, info in found if info}
