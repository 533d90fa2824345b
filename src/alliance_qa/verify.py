"""Checking a build's files against its manifest: sizes, SHA-256, and stamps that spare re-hashing.

The manifest records each file's size and SHA-256, and (since format 2) a
*stamp* of each file as the build left it: its modification and change times
(ns) and inode.  On load every size is checked; a file is hashed again unless
its stamp is unchanged, as git trusts its index for files whose stat data has
not changed.  Any write to a file, a copy or a restore changes its stamp, so
such a file is hashed and damage shows; what a stamp cannot see is a change
made under the file system (a failing disk).  ``ALLIANCE_QA_VERIFY=full``
hashes every file on every load.

A stamp is trusted only if the file was last written well before the stamps
were taken (:data:`RACY_NS`): file times advance in clock ticks, and a write in
the same tick as the build's own would otherwise leave the stamp unchanged.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import IndexStateError

#: A file written less than this long before its stamp was taken is always hashed (coarse file-time ticks).
RACY_NS = 100_000_000
ENV_VERIFY = "ALLIANCE_QA_VERIFY"


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(info: os.stat_result) -> list[int]:
    return [info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def take_stamps(folder: Path, names: Iterable[str]) -> dict[str, Any]:
    """The stamps of ``names`` in ``folder``, for the manifest (taken after the files are written and hashed)."""
    return {"taken_ns": time.time_ns(), "files": {name: _stamp((folder / name).stat()) for name in names}}


def check_files(path: Path, manifest: dict[str, Any]) -> None:
    """Check every file the manifest lists: its size, and its SHA-256 unless its stamp shows it untouched.

    Raises :class:`IndexStateError` naming the damaged file; ``KeyError``/``TypeError``/``OSError`` for a
    malformed manifest or a missing file (the caller words those).
    """
    stamps = manifest.get("stamps") if os.environ.get(ENV_VERIFY, "").strip().lower() != "full" else None
    taken = int(stamps["taken_ns"]) if isinstance(stamps, dict) else 0
    known = stamps.get("files", {}) if isinstance(stamps, dict) else {}
    infos = {}
    for name, size in manifest["files"].items():
        info = infos[name] = (path / name).stat()
        if info.st_size != size:
            raise IndexStateError(
                f"index file {path / name} has {info.st_size} bytes, the manifest says {size}: "
                "it is damaged; run `alliance-qa build`"
            )
    for name, digest in manifest.get("sha256", {}).items():
        info = infos.get(name) or (path / name).stat()
        stamp = known.get(name)
        if stamp == _stamp(info) and info.st_mtime_ns < taken - RACY_NS:
            continue
        if file_sha256(path / name) != digest:
            raise IndexStateError(
                f"index file {path / name} does not match the checksum in its manifest: "
                "it is damaged; run `alliance-qa build`"
            )
