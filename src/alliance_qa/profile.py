"""The corpus profile: what the user-facing text knows about the corpus, derived at build time.

Nothing about any particular text is written in the code: titles, the word for a
section, the parties of a two-party document and the names that stand for them,
example questions and the abstention cutoffs all come from the corpus itself
(:func:`make_profile`), saved with each build as ``profile.json``.

* **Title**: a document's Markdown ``#`` heading or first line; for several documents, a short joined title.
* **Section word**: "section", unless the document names its own units next to
  their count ("the top 12 tips ...", "seven habits") -- then that noun.
* **Parties**: the two names that occur in at least half of a document's
  sections, with the names that stand for each: demonyms by suffix rules when
  the corpus uses them ("Cuban", "Chilean"), and a capital or leader named
  beside its country ("X's capital, Y", "President Y of X").
* **Examples**: questions made from section titles, each kept only if it
  retrieves its own section at build time.
* **Overrides**: an optional ``alliance-qa.toml`` in the corpus folder (``title``,
  ``section_word``, ``examples``, and an ``[aliases]`` table of name -> other names).

An incremental build reuses what did not change (:func:`make_profile` with
``previous``): a document's title, section word and parties when none of its
sections changed, and the calibrated cutoffs while the sections changed since
they were calibrated stay under :data:`RECALIBRATE_SHARE` of the corpus (a
one-section edit in a large corpus barely moves them; a small corpus is
recalibrated at every change, which costs it little).
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .corpus import SETTINGS_FILE, document_title
from .errors import CorpusError
from .parties import Parties, parties_of
from .parties import demonyms as demonyms  # re-exported for callers of the profile API
from .render import counted
from .render import plural as plural  # re-exported: the profile's section word in the plural

if TYPE_CHECKING:
    from .corpus import Section
    from .embed import Embedder
    from .load import LoadedIndex

log = logging.getLogger(__name__)
T = TypeVar("T")

PROFILE_FILE = "profile.json"
PROFILE_VERSION = 1
#: How many example questions are kept.
MAX_EXAMPLES = 4
DEFAULT_SECTION_WORD = "section"
#: An incremental build keeps the previous cutoffs until the sections changed since they were calibrated
#: reach this share of the corpus; ``alliance-qa build --full`` always recalibrates.
RECALIBRATE_SHARE = 0.01


_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "twenty": 20,
}
#: Words that may stand between a count and the noun naming the units ("10 key lessons").
_UNIT_ADJECTIVES = {"key", "main", "top", "major", "important", "essential", "simple", "basic", "big", "great",
                    "core", "little", "best", "most", "common", "useful", "practical", "golden", "fundamental"}
_NOT_UNITS = {"years", "days", "months", "weeks", "hours", "minutes", "percent", "people", "times", "miles",
              "dollars", "million", "billion", "thousand", "hundred", "men", "women", "members", "countries"}


@dataclass(frozen=True)
class DocumentProfile:
    """One document: its path (relative to the corpus folder), title, section word, section count and parties.

    ``parties`` is empty unless the document is about two sides; each party is
    ``(name, other names)`` with the other names lower-cased.
    """

    path: str
    title: str
    section_word: str
    sections: int
    parties: Parties = ()
    fingerprint: str = ""  # of its sections' ids and content (see :func:`document_fingerprint`)


@dataclass(frozen=True)
class Profile:
    """What the answers, the web chat and the CLI say about the corpus (see the module docstring)."""

    title: str
    section_word: str = DEFAULT_SECTION_WORD
    examples: tuple[str, ...] = ()
    documents: tuple[DocumentProfile, ...] = ()
    abstain_below: float = 0.0
    names_only_below: float = 0.0
    calibration: dict[str, Any] = field(default_factory=dict, compare=False)
    overrides_sha256: str = ""  # of alliance-qa.toml when the build was made ("" without one)

    @property
    def parties(self) -> Parties:
        """The parties of every two-party document, each name once."""
        seen: dict[str, tuple[str, ...]] = {}
        for document in self.documents:
            for name, aliases in document.parties:
                seen[name] = tuple(dict.fromkeys((*seen.get(name, ()), *aliases)))
        return tuple(seen.items())

    def document_of(self, names: Sequence[str]) -> DocumentProfile | None:
        """The first document whose parties include every one of ``names`` (canonical names), or ``None``."""
        for document in self.documents:
            if set(names) <= {name for name, _ in document.parties}:
                return document
        return None

    def section_words(self, count: int) -> str:
        """``"3 sections"`` / ``"1 section"`` with this corpus's word for a section."""
        return counted(count, self.section_word)

    def to_json(self) -> dict[str, Any]:
        """The JSON object saved as ``profile.json``."""
        return {
            "version": PROFILE_VERSION,
            "title": self.title,
            "section_word": self.section_word,
            "examples": list(self.examples),
            "documents": [
                {
                    "path": d.path,
                    "title": d.title,
                    "section_word": d.section_word,
                    "sections": d.sections,
                    "parties": [{"name": n, "aliases": list(a)} for n, a in d.parties],
                    "fingerprint": d.fingerprint,
                }
                for d in self.documents
            ],
            "abstain_below": self.abstain_below,
            "names_only_below": self.names_only_below,
            "calibration": self.calibration,
            "overrides_sha256": self.overrides_sha256,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        """Read what :meth:`to_json` wrote; raise ``ValueError``/``KeyError``/``TypeError`` if it is malformed."""
        if not isinstance(data, dict):
            raise TypeError(f"profile is a {type(data).__name__}, not a JSON object")
        documents = tuple(
            DocumentProfile(
                path=str(d["path"]),
                title=str(d["title"]),
                section_word=str(d["section_word"]),
                sections=int(d["sections"]),
                parties=tuple((str(p["name"]), tuple(str(a) for a in p["aliases"])) for p in d.get("parties", [])),
                fingerprint=str(d.get("fingerprint", "")),
            )
            for d in data["documents"]
        )
        return cls(
            title=str(data["title"]),
            section_word=str(data["section_word"]),
            examples=tuple(str(e) for e in data["examples"]),
            documents=documents,
            abstain_below=float(data["abstain_below"]),
            names_only_below=float(data["names_only_below"]),
            calibration=dict(data.get("calibration") or {}),
            overrides_sha256=str(data.get("overrides_sha256", "")),
        )


def singular(word: str) -> str:
    """The reverse of :func:`~alliance_qa.render.plural` for regular nouns."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(?:ss|x|z|ch|sh)es$", word):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


# --------------------------------------------------------------------------- overrides


@dataclass(frozen=True)
class Overrides:
    """What ``alliance-qa.toml`` sets; empty fields are derived."""

    title: str | None = None
    section_word: str | None = None
    examples: tuple[str, ...] = ()
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()


def overrides_sha256(corpus_dir: Path) -> str:
    """SHA-256 of ``corpus_dir/alliance-qa.toml``, or ``""`` when there is none (or it cannot be read)."""
    import hashlib

    try:
        return hashlib.sha256((corpus_dir / SETTINGS_FILE).read_bytes()).hexdigest()
    except OSError:
        return ""


def profile_outdated(loaded: LoadedIndex, corpus_dir: Path) -> bool:
    """Whether the build ``loaded`` needs a new profile: it has none (made before profiles), its calibration
    predates a cutoff (``foreign_below``), or ``alliance-qa.toml`` changed since it was made.  The next build
    then reuses every vector."""
    saved = loaded.saved_profile
    return (
        saved is None
        or saved.overrides_sha256 != overrides_sha256(corpus_dir)
        or "foreign_below" not in saved.calibration
    )


def read_overrides(corpus_dir: Path) -> Overrides:
    """Read ``corpus_dir/alliance-qa.toml`` if it exists; raise :class:`CorpusError` naming what is wrong."""
    path = corpus_dir / SETTINGS_FILE
    if not path.is_file():
        return Overrides()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read {path} ({exc}): make it a readable UTF-8 TOML file, or delete it") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"{path} is not valid TOML ({exc}): fix that line, or delete the file") from exc
    known = {"title", "section_word", "examples", "aliases"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CorpusError(f"{path} has unknown setting(s) {', '.join(unknown)}: use only {', '.join(sorted(known))}")

    def text(key: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise CorpusError(f"{path}: {key} = {value!r} must be a non-empty string, e.g. {key} = \"...\"")
        return " ".join(value.split())

    examples = data.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(e, str) and e.strip() for e in examples):
        raise CorpusError(f"{path}: examples = {examples!r} must be a list of questions, e.g. examples = [\"...?\"]")
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
        isinstance(v, list) and all(isinstance(a, str) and a.strip() for a in v) for v in aliases.values()
    ):
        raise CorpusError(
            f"{path}: aliases = {aliases!r} must be a table of name = [other names], e.g. "
            "[aliases] then \"Name\" = [\"Other name\"]"
        )
    return Overrides(
        title=text("title"),
        section_word=text("section_word"),
        examples=tuple(" ".join(e.split()) for e in examples),
        aliases=tuple((" ".join(k.split()), tuple(" ".join(a.split()) for a in v)) for k, v in aliases.items()),
    )


# --------------------------------------------------------------------------- derivation


def section_word(sections: Sequence[Section], title: str) -> str:
    """The noun the document uses for its own sections, next to their count; "section" if it uses none.

    Looks in the title and the intro for "<count> [adjective] <noun>" where the
    count is the number of numbered sections ("the top 12 tips", "Seven Habits").
    """
    numbered = [s for s in sections if s.number is not None]
    if len(numbered) < 2:
        return DEFAULT_SECTION_WORD
    count = len(numbered)
    intro = " ".join(s.text for s in sections if s.number is None)
    for text in (title, intro):
        for m in re.finditer(r"\b(\d{1,3}|[a-z]+)\s+((?:[a-z]+\s+)?)([a-z]+s)\b", text.casefold()):
            number = int(m.group(1)) if m.group(1).isdigit() else _NUMBER_WORDS.get(m.group(1))
            adjective = m.group(2).strip()
            noun = m.group(3)
            if number != count or noun in _NOT_UNITS or (adjective and adjective not in _UNIT_ADJECTIVES):
                continue
            return singular(noun)
    return DEFAULT_SECTION_WORD


def midsentence_words(body: str) -> frozenset[str]:
    """The words of ``body`` that follow a lower-case letter, comma or semicolon and a space (one pass)."""
    return frozenset(re.findall(r"[a-z,;] (\w+)", body))


def natural_title(title: str, body: str | frozenset[str]) -> str:
    """``title`` as it would read inside a sentence: words lower-cased unless the text capitalizes them mid-sentence.

    ``body`` is the document's text, or its :func:`midsentence_words` when several titles are looked up.
    """
    inside = midsentence_words(body) if isinstance(body, str) else body
    out = []
    for word in title.split():
        core = re.sub(r"\W", "", word)
        proper = bool(core) and ((core.isupper() and len(core) > 1) or core in inside)
        out.append(word if proper else word.lower())
    return " ".join(out).rstrip(".:;")


#: Example questions come only from titles that read as topics, when at least this many do.
MIN_EXAMPLES = 4


def _reads_as_topic(title: str) -> bool:
    """Whether a section title reads as a topic to ask about ("Basic authentication"), not code (`"trace"`,
    ``http_version``, ``timeout=5``) or a bare short token."""
    words = re.findall(r"[^\W\d_]{2,}", title)
    return bool(words) and not re.search(r"[\"`_{}<>=()\[\]]", title) and (len(words) >= 2 or len(words[0]) >= 5)


def _spread(items: Sequence[T]) -> Sequence[T]:
    """Up to 8 of ``items``, spread through them: every ``len // 6``-th."""
    return items[:: max(1, len(items) // 6)][:8]


def candidate_examples(sections: Sequence[Section], word: str, texts: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """``[(question, section id)]`` made from section titles, spread through the corpus.

    ``texts`` gives the whole text of the documents the chosen sections come from, when ``sections`` is not the
    whole corpus (it is then the chosen sections themselves)."""
    titled = [s for s in sections if s.title.strip() and not s.intro]
    if not titled:
        return []
    topical = [s for s in titled if _reads_as_topic(s.title)]
    titled = topical if len(topical) >= MIN_EXAMPLES else titled
    inside: dict[str, frozenset[str]] = {}  # per document, made only for the documents the examples come from
    out = []
    for section in _spread(titled) if texts is None else titled:
        if section.source not in inside:
            text = texts[section.source] if texts is not None else "\n".join(s.text for s in sections if s.source == section.source)
            inside[section.source] = midsentence_words(text)
        topic = natural_title(section.title, inside[section.source])
        if re.match(r"(?i)(?:what|how|why|when|who|which|where|can|should|is|are|do|does)\b", section.title):
            question = section.title.rstrip(".:") + ("" if section.title.endswith("?") else "?")
        else:
            question = f"What does it say about {topic}?" if len(topic.split()) > 6 else f"Tell me about {topic}"
        out.append((question, section.id))
    return out


def document_fingerprint(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 of a document's ``(section id, content hash)`` pairs, in order: equal when nothing in it changed."""
    import hashlib

    digest = hashlib.sha256()
    for section_id, content_hash in pairs:
        digest.update(f"{section_id}\0{content_hash}\n".encode())
    return digest.hexdigest()


def _positions_by_document(loaded: LoadedIndex) -> dict[str, tuple[list[int], str]]:
    """Each document's section positions and :func:`document_fingerprint`, from the manifest: no section is read."""
    found: dict[str, list[tuple[int, str, str]]] = {}
    for position, (section_id, info) in enumerate(loaded.manifest["sections"].items()):
        found.setdefault(info["source"], []).append((position, section_id, info["hash"]))
    return {path: ([p for p, _, _ in rows], document_fingerprint((i, h) for _, i, h in rows)) for path, rows in found.items()}


def _document(path: str, read: Callable[[], list[Section]], overrides: Overrides, before: DocumentProfile | None,
              fingerprint: str) -> DocumentProfile:
    """The profile of one document, reused from ``before`` (the previous build's) when its ``fingerprint`` matches;
    only otherwise are its sections read (``read``)."""
    if before is not None and before.fingerprint == fingerprint:
        return before
    sections = read()
    title = document_title(sections, path)
    word = section_word(sections, title)
    return DocumentProfile(path, title, word, len(sections), parties_of(sections, overrides.aliases), fingerprint)


def _reusable_calibration(previous: Profile | None, loaded: LoadedIndex, changed: int) -> dict[str, Any] | None:
    """The previous build's calibration, with its count of sections changed since (``changed`` more now), if it
    may be kept (see the module docstring); ``None`` when the cutoffs must be calibrated again."""
    if previous is None or "foreign_below" not in previous.calibration:
        return None
    if {d.path for d in previous.documents} != {info["source"] for info in loaded.manifest["sections"].values()}:
        return None  # a document added or removed: calibrate for the new corpus
    since = int(previous.calibration.get("sections_changed_since", 0)) + changed
    if since >= RECALIBRATE_SHARE * len(loaded.sections):
        return None
    return {**previous.calibration, "sections_changed_since": since}


def make_profile(
    loaded: LoadedIndex,
    embedder: Embedder | None,
    corpus_dir: Path | None,
    *,
    calibrate_cutoffs: bool = True,
    previous: LoadedIndex | None = None,
    changed: int = 0,
) -> Profile:
    """Derive the profile of the build ``loaded`` from its sections and the overrides in ``corpus_dir``.

    With an ``embedder`` each example question is checked to retrieve its own
    section (those that don't are dropped) and the abstention cutoffs are
    calibrated (:mod:`alliance_qa.calibrate`); without one (an old build read
    without ``profile.json``) examples are unchecked and the cutoffs are the defaults.
    ``previous`` (the build this one replaces, incrementally; ``changed`` of its
    sections were edited, added or removed) lends what did not change: see the module docstring.  Raises :class:`CorpusError` for a bad ``alliance-qa.toml``.
    """
    from . import calibrate

    overrides = read_overrides(corpus_dir) if corpus_dir is not None else Overrides()
    sha = overrides_sha256(corpus_dir) if corpus_dir is not None else ""
    before = previous.saved_profile if previous is not None else None
    if before is not None and before.overrides_sha256 != sha:
        before = None  # the overrides (aliases, title ...) changed: derive everything again
    earlier = {d.path: d for d in before.documents} if before is not None else {}
    positions = _positions_by_document(loaded)

    def reader(rows: list[int]) -> Callable[[], list[Section]]:
        return lambda: [loaded.sections[i] for i in rows]

    documents = [_document(path, reader(rows), overrides, earlier.get(path), fingerprint)
                 for path, (rows, fingerprint) in positions.items()]
    if overrides.title:
        title = overrides.title
    elif len(documents) == 1:
        title = documents[0].title
    elif documents:
        title = "; ".join(d.title for d in documents[:3]) + (f" and {len(documents) - 3} more" if len(documents) > 3 else "")
    else:
        title = "this corpus"
    words = {d.section_word for d in documents}
    word = overrides.section_word or (words.pop() if len(words) == 1 else DEFAULT_SECTION_WORD)
    if overrides.section_word and len(documents) == 1:
        documents = [DocumentProfile(d.path, d.title, word, d.sections, d.parties, d.fingerprint) for d in documents]
    profile = Profile(title=title, section_word=word, documents=tuple(documents),
                      abstain_below=calibrate.DEFAULT_ABSTAIN_BELOW, names_only_below=calibrate.DEFAULT_NAMES_ONLY_BELOW,
                      overrides_sha256=sha)
    titles = [info["title"] for info in loaded.manifest["sections"].values()]
    intro = loaded.prepared.section_intro
    titled = [loaded.sections[i] for i in _spread([i for i, t in enumerate(titles) if t.strip() and not intro[i]])]
    texts = {path: "\n".join(loaded.sections[i].text for i in rows) for path, (rows, _) in positions.items()
             if any(s.source == path for s in titled)}
    candidates = candidate_examples(titled, word, texts)
    if embedder is None:
        examples = list(overrides.examples) or [q for q, _ in candidates[:MAX_EXAMPLES]]
        return _with(profile, examples=tuple(examples))
    from .retrieve import Retriever

    retriever = Retriever(loaded)
    checked = checked_examples(retriever, embedder, candidates)
    examples = list(overrides.examples) or checked[:MAX_EXAMPLES]
    if not overrides.examples:
        examples += whole_examples(profile)[: max(0, MAX_EXAMPLES + 1 - len(examples))]
    profile = _with(profile, examples=tuple(examples))
    if not calibrate_cutoffs:
        return profile
    kept = _reusable_calibration(before, loaded, changed)
    if kept is not None and before is not None:
        log.info("kept the calibrated cutoffs: %d sections changed since they were calibrated", kept["sections_changed_since"])
        return _with(profile, abstain_below=before.abstain_below, names_only_below=before.names_only_below, calibration=kept)
    result = calibrate.calibrate(retriever, embedder, profile, cache_dir=_cache_dir(loaded.path))
    return _with(profile, abstain_below=result.abstain_below, names_only_below=result.names_only_below,
                 calibration=result.to_json())


def whole_examples(profile: Profile) -> list[str]:
    """Whole-corpus example questions: what it is about, and one side's wants for a two-party document."""
    out = ["What is this about?"]
    for document in profile.documents:
        if len(document.parties) == 2:
            out.append(f"What does {document.parties[0][0]} want from {document.parties[1][0]}?")
            break
    return out


def checked_examples(retriever: Any, embedder: Embedder, candidates: Sequence[tuple[str, str]]) -> list[str]:
    """The candidate questions whose best section is the one they were made from."""
    if not candidates:
        return []
    from .normalize import normalize

    texts = [" ".join(normalize(q).split()) for q, _ in candidates]
    vectors = embedder.encode(texts)
    kept = []
    for (question, section_id), text, vector in zip(candidates, texts, vectors, strict=True):
        ranking = retriever.rank(text, vector)
        if retriever.sections[ranking.best].id == section_id:
            kept.append(question)
        else:
            log.info("example %r dropped: it retrieves %r", question, retriever.sections[ranking.best].title)
    return kept


def _with(profile: Profile, **changes: Any) -> Profile:
    from dataclasses import replace

    return replace(profile, **changes)


def _cache_dir(build_path: Path) -> Path | None:
    """The index folder's cache (``index/cache``) for a build folder ``index/builds/<id>``."""
    if build_path.parent.name != "builds":
        return None
    return build_path.parent.parent / "cache"


def save_profile(profile: Profile, folder: Path) -> Path:
    """Write ``profile.json`` into the build ``folder``."""
    import json

    path = folder / PROFILE_FILE
    path.write_text(json.dumps(profile.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def load_profile(folder: Path) -> Profile | None:
    """Read ``profile.json`` from a build ``folder``; ``None`` when the build has none (an older build)."""
    import json

    path = folder / PROFILE_FILE
    if not path.is_file():
        return None
    return Profile.from_json(json.loads(path.read_text(encoding="utf-8")))
