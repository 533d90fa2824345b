"""Read the corpus folder and split each document into sections and sentences.

Every ``.txt`` and ``.md`` file under the corpus folder is read as UTF-8 and
normalized (see :mod:`alliance_qa.normalize`).

* In ``.txt`` files a numbered item, ``N. Title`` alone on its line, starts a section.
* In ``.md`` files a heading starts a section; ``## 3. Title`` keeps its number.
* Text before the first section is the intro (``number is None``).
* A file with no recognisable section becomes one intro section.
* Empty files are skipped with a warning; a file that cannot be read or decoded
  raises :class:`~alliance_qa.errors.CorpusError` naming the file.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorpusError
from .normalize import normalize

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")

_NUMBERED = re.compile(r"^\s{0,8}(\d{1,3})[.)]\s+(\S.{0,118})$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(\S.*?)\s*#*\s*$")
_HEADING_NUMBER = re.compile(r"^(\d{1,3})[.)]\s+(\S.*)$")
# A sentence ends at . ! or ? (plus closing quotes/brackets) before white space
# and a capital, digit or opening quote.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "no", "gen", "col", "jr", "sr"}


@dataclass(frozen=True)
class Section:
    """One part of a document: the intro or one numbered interest area."""

    id: str
    number: int | None
    title: str
    text: str
    source: str
    position: int
    sentences: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def label(self) -> str:
        """How answers cite the section: ``"Energy Resources (2)"`` or ``"Title (intro)"``."""
        return f"{self.title} ({self.number if self.number is not None else 'intro'})"

    @property
    def content_hash(self) -> str:
        """SHA-256 of the normalized title and text: what decides re-embedding."""
        return hashlib.sha256(f"{self.title}\n{self.text}".encode()).hexdigest()


def slugify(name: str) -> str:
    """Lower-case ``name`` and keep runs of letters and digits joined by ``-``."""
    slug = re.sub(r"[^\w]+", "-", normalize(name).lower()).strip("-_")
    return slug or "document"


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, each an exact substring of ``text``.

    Paragraph breaks always end a sentence.  Initials ("U. S.") and common
    abbreviations ("Dr.") do not.
    """
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        start = 0
        for match in _SENTENCE_END.finditer(paragraph):
            before = paragraph[start : match.start()].rsplit(None, 1)
            last_word = before[-1].lower() if before else ""
            if len(last_word) == 1 or last_word in _ABBREVIATIONS:
                continue
            sentences.append(paragraph[start : match.start() + 1].strip())
            start = match.end()
        sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def _paragraphs(lines: list[str]) -> str:
    """Join lines into paragraphs: strip each line, keep blank lines as breaks."""
    text = "\n".join(line.strip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _heading(line: str, markdown: bool) -> tuple[int | None, str] | None:
    if markdown:
        m = _HEADING.match(line)
        if not m:
            return None
        title = m.group(1)
        numbered = _HEADING_NUMBER.match(title)
        if numbered:
            return int(numbered.group(1)), numbered.group(2).strip()
        return None, title
    m = _NUMBERED.match(line)
    if not m or m.group(2).rstrip().endswith((".", ",", ";", ":")):
        return None
    return int(m.group(1)), m.group(2).strip()


def parse_document(text: str, source: str) -> list[Section]:
    """Split one document's text into sections (normalized); ``source`` names the file."""
    text = normalize(text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff"))
    markdown = source.lower().endswith(".md")
    slug = slugify(Path(source).stem)
    parts: list[tuple[int | None, str, list[str]]] = [(None, "", [])]
    for line in text.split("\n"):
        heading = _heading(line, markdown)
        if heading is not None:
            parts.append((heading[0], heading[1], []))
        else:
            parts[-1][2].append(line)

    sections: list[Section] = []
    seen: set[str] = set()
    for position, (number, title, lines) in enumerate(parts):
        body = _paragraphs(lines)
        if position == 0:
            if not body:
                continue
            title = body.split("\n", 1)[0].strip()[:120]
        elif not body and not title:
            continue
        base = f"{slug}-{'intro' if position == 0 else number if number is not None else f's{position}'}"
        sid, n = base, 2
        while sid in seen:
            sid, n = f"{base}-{n}", n + 1
        seen.add(sid)
        sections.append(
            Section(
                id=sid,
                number=number,
                title=title,
                text=body,
                source=source,
                position=position,
                sentences=tuple(split_sentences(body)),
            )
        )
    return sections


def corpus_files(corpus_dir: Path) -> list[Path]:
    """List the ``.txt`` and ``.md`` files under ``corpus_dir``, sorted, without following symlinked folders."""
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"corpus folder {corpus_dir} does not exist: create it and put the article's .txt or .md files in it"
        )
    found: list[Path] = []
    for root, dirs, files in os.walk(corpus_dir, followlinks=False, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            found.append(path)
    return sorted(found)


def _read_file(path: Path) -> bytes:
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


def read_corpus(corpus_dir: Path) -> tuple[list[Section], list[str]]:
    """Read every document under ``corpus_dir``; return its sections and any warnings.

    Raises :class:`CorpusError` when the folder has no usable text or a file
    cannot be read as UTF-8.
    """
    files = corpus_files(corpus_dir)
    if not files:
        raise CorpusError(
            f"corpus folder {corpus_dir} has no .txt or .md files: add the article (e.g. copy it from the repository's corpus/)"
        )
    sections: list[Section] = []
    warnings: list[str] = []
    titles: dict[str, str] = {}
    for path in files:
        rel = path.relative_to(corpus_dir).as_posix()
        raw = _read_file(path)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(
                f"corpus file {path} is not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); save it as UTF-8"
            ) from exc
        if not text.strip():
            warnings.append(f"skipped empty corpus file {rel}")
            continue
        for section in parse_document(text, rel):
            key = section.title.casefold()
            if key in titles:
                warnings.append(f"duplicate section title {section.title!r} in {rel} (also in {titles[key]})")
            titles.setdefault(key, rel)
            sections.append(section)
    if not sections:
        names = ", ".join(p.relative_to(corpus_dir).as_posix() for p in files[:5]) + (", ..." if len(files) > 5 else "")
        raise CorpusError(
            f"corpus folder {corpus_dir} has no text: its {len(files)} file(s) ({names}) are empty; "
            "add the article's text"
        )
    for warning in warnings:
        log.warning(warning)
    return sections, warnings


def corpus_fingerprint(corpus_dir: Path) -> dict[str, tuple[int, int]]:
    """A cheap change detector: each corpus file's size and modification time in ns."""
    stamp: dict[str, tuple[int, int]] = {}
    try:
        files = corpus_files(corpus_dir)
    except CorpusError:
        return stamp
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        stamp[path.relative_to(corpus_dir).as_posix()] = (st.st_size, st.st_mtime_ns)
    return stamp
