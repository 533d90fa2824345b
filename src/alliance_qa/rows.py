"""JSON-lines files of a build, written with a table of line offsets and read back one row at a time.

A build's ``sections.jsonl`` and ``units.jsonl`` hold one JSON object a line;
:func:`write_jsonl` also returns where each line starts, saved beside them as
``<name>.offsets.npy``.  :class:`JsonlRows` maps the file into memory and parses
a row only when it is asked for, so loading a large index reads no text: a
question touches the few sections it cites.
"""

from __future__ import annotations

import contextlib
import json
import mmap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

import numpy as np

T = TypeVar("T")

_JSONL = json.JSONEncoder(ensure_ascii=False)  # one encoder for every row: json.dumps(**options) makes one per call
#: Parsed rows kept per file (a question touches a few sections; a whole-corpus answer many).
CACHE_ROWS = 4096


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """Write ``rows`` one JSON object a line; return the ``len(rows) + 1`` byte offsets where lines start and end."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    at = 0
    with path.open("wb") as fh:
        for i, row in enumerate(rows):
            line = (_JSONL.encode(row) + "\n").encode("utf-8")
            fh.write(line)
            at += len(line)
            offsets[i + 1] = at
    return offsets


def write_json(path: Path, data: Any, *, indent: int | None = 2) -> None:
    """Write ``data`` as one JSON document (UTF-8, non-ASCII kept) to ``path``."""
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")


def parse_jsonl(text: str) -> list[dict[str, Any]]:
    """Every row of JSON-lines ``text`` (raises ``ValueError`` on a damaged line)."""
    lines = [line for line in text.split("\n") if line.strip()]
    with contextlib.suppress(ValueError):  # one parse of the whole file is twice as fast as one per line
        rows = json.loads("[" + ",".join(lines) + "]")
        if len(rows) == len(lines):
            return list(rows)
    return [json.loads(line) for line in lines]  # a damaged line: fail on it, or read what each line holds


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every row of the JSON-lines file ``path`` (raises ``ValueError`` on a damaged line)."""
    return parse_jsonl(path.read_text(encoding="utf-8"))


class LazyRows(Sequence[T]):
    """A read-only sequence whose rows are made one at a time (:meth:`row`), compared by content."""

    def row(self, index: int) -> T:
        """Row ``index`` (0 <= index < len)."""
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self.row(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        i = int(index) + n if index < 0 else int(index)
        if not 0 <= i < n:
            raise IndexError(f"row {index} of {n}")
        return self.row(i)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence (a list, another file's rows) holding equal rows in the same order."""
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable-like: compared by content


class JsonlRows(LazyRows[T]):
    """The rows of a JSON-lines file as a read-only sequence, each parsed (by ``parse``) when first read.

    The file is mapped into memory when the sequence is made, so it stays readable
    even if its build folder is deleted later (an older build being pruned).
    Raises ``ValueError`` if ``offsets`` does not describe the file.
    """

    def __init__(self, path: Path, offsets: np.ndarray, parse: Callable[[dict[str, Any]], T]) -> None:
        self._offsets = np.asarray(offsets, dtype=np.int64)
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            bad = self._offsets.ndim != 1 or len(self._offsets) < 1 or self._offsets[0] != 0 or self._offsets[-1] != size
            if bad or (len(self._offsets) > 1 and bool((np.diff(self._offsets) <= 0).any())):
                raise ValueError(f"the line offsets of {path.name} do not match its {size} bytes")
            self._data: mmap.mmap | bytes = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._parse = parse
        self._cache: dict[int, T] = {}

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def row(self, index: int) -> T:
        """Row ``index``, parsed when first read (a few thousand are kept)."""
        found = self._cache.get(index)
        if found is None:
            found = self._parse(json.loads(self._data[self._offsets[index] : self._offsets[index + 1]]))
            if len(self._cache) >= CACHE_ROWS:
                self._cache.clear()
            self._cache[index] = found
        return found

    def __iter__(self) -> Iterator[T]:
        if not len(self):
            return iter(())
        return iter([self._parse(row) for row in parse_jsonl(bytes(self._data).decode("utf-8"))])
