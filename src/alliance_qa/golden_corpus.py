"""Where ``alliance-qa eval`` runs a golden set: the configured corpus, or the one its header names.

A format-2 golden set names the corpus it was written for (``"corpus"``, a
folder relative to the repository root) or, for several documents side by
side, a ``"layout"`` mapping each document path to its source file.  Without
``--corpus``, eval runs such a set on that corpus, indexed into a temporary
folder that is removed afterwards, so it works from any folder and never
touches the configured index.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import AllianceQAError


def _header(golden: Path) -> dict[str, Any]:
    try:
        with golden.open(encoding="utf-8") as fh:
            first = json.loads(fh.readline() or "{}")
    except (OSError, ValueError):
        return {}  # read_golden reports the real problem
    return first if isinstance(first, dict) and "golden" in first else {}


def _root(golden: Path, relative: list[str]) -> Path | None:
    """The folder (the golden file's or one of its parents, or the current one) holding every ``relative`` path."""
    for base in [Path.cwd(), *golden.resolve().parents]:
        if all((base / r).exists() for r in relative):
            return base
    return None


@contextlib.contextmanager
def corpus_for(golden: Path, params: dict[str, Any]) -> Iterator[tuple[Path | None, Path | None]]:
    """Yield ``(corpus, index)`` to run ``golden`` on: ``(None, None)`` for the configured corpus.

    Raises :class:`AllianceQAError` when the header names a corpus that cannot be found.
    """
    header = _header(golden)
    if params.get("corpus") or not header or not (header.get("corpus") or header.get("layout")):
        yield None, None
        return
    layout: dict[str, str] = header.get("layout") or {}
    sources = list(layout.values()) if layout else [str(header["corpus"])]
    root = _root(golden, sources)
    if root is None:
        raise AllianceQAError(
            f"golden set {golden} was written for {', '.join(sources)}, which is not found from {Path.cwd()} or "
            f"beside the golden file: pass --corpus FOLDER"
        )
    with tempfile.TemporaryDirectory(prefix="alliance-qa-eval-") as tmp:
        if layout:
            corpus = Path(tmp) / "corpus"
            for document, source in layout.items():
                (corpus / document).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / source, corpus / document)
        else:
            corpus = root / str(header["corpus"])
        yield corpus, Path(tmp) / "index"
