"""Read the corpus folder and split each document into sections and sentences.

Every ``.txt`` and ``.md`` file under the corpus folder (found by :mod:`alliance_qa.walk`,
within its file and byte limits) is read as UTF-8 and normalized (see
:mod:`alliance_qa.normalize`); :mod:`alliance_qa.docformat` finds each document's
title, intro and sections (numbered items in ``.txt``, headings in ``.md``).

* Text before a document's first section is its intro (``intro=True``), titled with
  the document's title; a document without sections is one section (``intro=False``).
* Section ids are ``"<path relative to the corpus, %-quoted>#<key>"``, the key being the
  printed number, ``intro``, or the slug of an un-numbered title (``-2``, ``-3`` on
  repeats within the document): unique across the corpus, and a function of the
  current files only, so an incremental build equals a fresh one.
* Empty files are skipped with a warning; a file that cannot be read or decoded
  raises :class:`~alliance_qa.errors.CorpusError` naming the file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

from .docformat import outline
from .errors import CorpusError
from .normalize import normalize
from .walk import SUFFIXES, corpus_files, corpus_fingerprint, read_file

__all__ = [
    "SUFFIXES",
    "Section",
    "corpus_files",
    "corpus_fingerprint",
    "parse_document",
    "read_corpus",
    "section_id",
    "slugify",
    "split_sentences",
]

log = logging.getLogger(__name__)


# A sentence ends at . ! or ? (plus closing quotes/brackets) before white space
# and a capital, digit or opening quote.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "no", "gen", "col", "jr", "sr"}


@dataclass(frozen=True)
class Section:
    """One part of a document: its intro, a numbered item or a heading's text.

    ``id`` is unique across the whole corpus and derived only from the current
    files (``"<relative path>#<key>"``, the key being the printed number, ``intro``,
    or the slug of an un-numbered title), so an incremental build and a fresh
    build of the same files agree.
    """

    id: str
    number: int | None
    title: str
    text: str
    source: str
    position: int
    sentences: tuple[str, ...] = field(default=(), compare=False, repr=False)
    document_title: str = ""
    intro: bool = False

    @property
    def document(self) -> str:
        """The document this section belongs to: its path relative to the corpus folder."""
        return self.source

    @property
    def label(self) -> str:
        """How answers cite the section: ``"Title (3)"``, ``"Title"`` or ``"Title (intro)"``."""
        if self.intro:
            return f"{self.title} (intro)"
        if self.number is not None:
            return f"{self.title} ({self.number})"
        return self.title

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the normalized document title, title and text: what decides re-embedding (computed once)."""
        return hashlib.sha256(f"{self.document_title}\n{self.title}\n{self.text}".encode()).hexdigest()


def document_title(sections: Iterable[Section], path: str) -> str:
    """The title of the document at ``path`` from its ``sections`` (read only as far as needed): its own title
    line, as the parser recorded it, else its intro's title, else the file name in words."""
    intro = ""
    for section in sections:
        title = str(getattr(section, "document_title", "") or "").strip()
        if title:
            return title
        if not intro and section.intro and section.title.strip():
            intro = section.title.strip()
    return intro or file_title(path)


def file_title(path: str) -> str:
    """The file name of ``path`` in words, for a document with no title of its own ("advanced-ssl.md" -> "Advanced
    ssl")."""
    return re.sub(r"[-_]+", " ", Path(path).stem).strip().capitalize() or path


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


def section_key(number: int | None, title: str, intro: bool) -> str:
    """The part of a section id that names it within its document."""
    if intro:
        return "intro"
    if number is not None:
        return str(number)
    return slugify(title)[:60].strip("-_") or "section"


def section_id(source: str, key: str) -> str:
    """``"<relative path>#<key>"``; the path is percent-quoted so an id has no white space."""
    return f"{quote(source, safe='/._-~')}#{key}"


def parse_document(text: str, source: str, *, normalizer: Callable[[str], str] = normalize) -> list[Section]:
    """Split one document's text into sections (normalized by ``normalizer``); ``source`` names the file.

    The rules for each format are in :mod:`alliance_qa.docformat`.  Text before the
    first section is the intro (``intro=True``, titled with the document's title);
    a document without sections is one section titled with the document's title.
    """
    text = normalizer(text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff"))
    shape = outline(text.split("\n"), markdown=source.lower().endswith(".md"))
    parts: list[tuple[int, int | None, str, str, bool]] = []  # position, number, title, body, intro
    head = _paragraphs(shape.head)
    doc_title = shape.title or file_title(source)
    if head and (head != shape.title or not shape.parts):  # a title line alone is no intro: sections carry it
        parts.append((0, None, doc_title, head, bool(shape.parts)))
    for position, part in enumerate(shape.parts, 1):
        body = _paragraphs(part.lines)
        if body:
            parts.append((position, part.number, part.title, body, False))

    sections: list[Section] = []
    seen: set[str] = set()
    for position, number, title, body, intro in parts:
        base = section_key(number, title, intro)
        key, n = base, 2
        while key in seen:
            key, n = f"{base}-{n}", n + 1
        seen.add(key)
        sections.append(
            Section(
                id=section_id(source, key),
                number=number,
                title=title,
                text=body,
                source=source,
                position=position,
                sentences=tuple(split_sentences(body)),
                document_title=doc_title,
                intro=intro,
            )
        )
    return sections


#: Recorded in each build's manifest: change it whenever :func:`parse_document` would split or title a file
#: differently, so that an incremental build parses again the files it would otherwise take unchanged from the
#: previous build (``read_corpus(reuse=...)``).
PARSER_VERSION = 2


def read_document(path: Path, rel: str, *, normalizer: Callable[[str], str] = normalize) -> tuple[list[Section], list[str]]:
    """Read and parse the corpus file ``path`` (named ``rel`` in the corpus); return its sections and any warnings
    (an empty file has no sections).  Raises :class:`CorpusError` for a file that is not UTF-8."""
    raw = read_file(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"corpus file {path} is not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); save it as UTF-8"
        ) from exc
    if not text.strip():
        return [], [f"skipped empty corpus file {rel}"]
    sections = parse_document(text, rel, normalizer=normalizer)
    return sections, duplicate_labels(sections, rel)


def duplicate_labels(sections: Sequence[Section], rel: str) -> list[str]:
    """A warning for each label repeated within one document (citations could not tell them apart)."""
    labels: set[str] = set()
    warnings = []
    for section in sections:
        if section.label.casefold() in labels:
            warnings.append(f"duplicate section {section.label!r} in {rel}: rename one so citations can tell them apart")
        labels.add(section.label.casefold())
    return warnings


#: The corpus folder's own settings file (title, section word, aliases, examples: :mod:`alliance_qa.profile`), not a document.
SETTINGS_FILE = "alliance-qa.toml"


def _names(paths: Sequence[str], shown: int = 5) -> str:
    """The first ``shown`` of ``paths``, and "..." when there are more."""
    return ", ".join(paths[:shown]) + (", ..." if len(paths) > shown else "")


def read_corpus(
    corpus_dir: Path,
    *,
    index_dir: Path | None = None,
    max_files: int | None = None,
    max_bytes: int | None = None,
    normalizer: Callable[[str], str] = normalize,
    reuse: Callable[[str], Sequence[Section] | None] | None = None,
) -> tuple[list[Section], list[str]]:
    """Read every document under ``corpus_dir``; return its sections and any warnings.

    ``normalizer`` turns each file's text into what is indexed (:func:`~alliance_qa.normalize.normalize`;
    the evaluation's raw baseline passes the identity).  ``reuse`` maps a file's relative path to the
    sections already parsed from it as it is now (an incremental build passes the previous build's for the
    files whose size and modification time are unchanged); such a file is not read again.

    Raises :class:`CorpusError` when the folder has no usable text, a file
    cannot be read as UTF-8, or :func:`corpus_files` refuses the folder (pass
    ``index_dir`` so a corpus that contains the index is refused).
    """
    others: list[str] = []
    files = corpus_files(corpus_dir, index_dir=index_dir, max_files=max_files, max_bytes=max_bytes, skipped=others)
    others = [name for name in others if name != SETTINGS_FILE]
    if not files:
        found = f" (it holds {_names(others)})" if others else ""
        raise CorpusError(
            f"corpus folder {corpus_dir} has no .txt or .md files{found}: add a document "
            "(e.g. copy the article from the repository's corpus/)"
        )
    sections: list[Section] = []
    warnings: list[str] = []
    if others:
        warnings.append(f"skipped {len(others)} file(s) that are not .txt or .md: {_names(others)}; "
                        "save them as text (.txt) or Markdown (.md) to have them read")
    for path in files:
        rel = path.relative_to(corpus_dir).as_posix()
        parsed = list((reuse(rel) if reuse is not None else None) or ())
        if parsed:
            warnings += duplicate_labels(parsed, rel)
        else:
            parsed, more = read_document(path, rel, normalizer=normalizer)
            warnings += more
        sections += parsed
    if not sections:
        names = _names([p.relative_to(corpus_dir).as_posix() for p in files])
        raise CorpusError(
            f"corpus folder {corpus_dir} has no text: its {len(files)} file(s) ({names}) are empty; "
            "add their text"
        )
    for warning in warnings:
        log.warning(warning)
    return sections, warnings
