"""The :class:`Assistant`: settings, lazy model and index, and the ask/search/build calls.

One assistant holds one loaded index at a time.  Before each question it checks
(one ``readlink``) whether a newer build has been swapped in on disk and, if so,
loads it and swaps it in under a lock; a question in flight keeps the index it
started with, so no answer mixes two builds.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .answer import Answer, Turn, env_abstain_below, respond
from .batch import encode_batched
from .build import BuildReport, build_index, edited_reasons, stale_reasons
from .config import MAX_QUESTION_CHARS, PathLike, Settings
from .corpus import corpus_fingerprint, read_corpus
from .embed import Embedder, load_embedder
from .errors import AllianceQAError, IndexStateError, QuestionError
from .limits import embed_text, previous_questions, without_paths
from .limits import message_text as message_text  # re-exported; bounded: any history length or nesting
from .load import LoadedIndex, current_build, load_index
from .normalize import normalize
from .policy import ENV_ABSTAIN_BELOW
from .retrieve import Hit, Retriever

if TYPE_CHECKING:
    from .profile import Profile

log = logging.getLogger(__name__)

History = Sequence[dict[str, Any] | str] | None

# C0/C1 control characters, and lone surrogates (which no tokenizer can encode).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


#: Up to this many corpus files, the folder is compared with the served build before every question; a larger
#: corpus at most once per WATCH_INTERVAL_S seconds, so an edit shows in answers within that time.
WATCH_EVERY_FILES = 200
WATCH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class _State:
    """What one question reads: an index and its retriever, swapped together."""

    index: LoadedIndex
    retriever: Retriever


def clean_question(question: object) -> str:
    """Check a question and return it normalized; raise :class:`QuestionError` with a friendly reason."""
    if not isinstance(question, str):
        raise QuestionError(f"a question must be text, not {type(question).__name__}")
    text = _CONTROL.sub(" ", question).strip()
    if not text:
        raise QuestionError("Please type a question about the documents, e.g. \"What is this about?\"")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"That question is {len(text):,} characters long; please keep it under {MAX_QUESTION_CHARS:,} characters."
        )
    cleaned = " ".join(normalize(text).split())
    letters = [c for c in cleaned if c.isalpha()]
    if not any(c.isalnum() for c in cleaned):
        raise QuestionError(
            "Please ask your question in words (this one has no letters or digits), "
            "e.g. \"What is this about?\""
        )
    foreign = [c for c in letters if not (c.isascii() or unicodedata.name(c, "").startswith("LATIN"))]
    if len(foreign) * 2 > len(letters):
        script = unicodedata.name(foreign[0], "UNKNOWN").split()[0]
        script = script if script == "CJK" else script.title()
        raise QuestionError(
            f"Please ask in English: the documents and their search model are English-only, and this question is "
            f"mostly in {script} letters. For example: \"What is this about?\""
        )
    return cleaned


class Assistant:
    """Question answering over one corpus folder and index folder.

    Settings come from the keyword arguments, then the environment variables
    ``ALLIANCE_QA_CORPUS``, ``ALLIANCE_QA_INDEX`` and ``ALLIANCE_QA_MODEL``, then
    the defaults (``corpus/``, ``index/``, the bundled all-MiniLM-L6-v2).

    With ``auto_build`` (the default) a missing or stale index is rebuilt on
    first use and a warning is logged; without it a stale index is served as is
    and :attr:`notice` says the corpus has changed since the last build.  Before
    every ``ask`` and ``search`` the corpus folder's fingerprint (file names,
    sizes, mtimes: a few ``stat`` calls) is compared with the served build's (for
    a corpus of more than 200 files, at most once a second), so an edit made after
    first use is noticed too: rebuilt first with
    ``auto_build``, else reported in :attr:`notice` (and logged once by ``search``,
    whose hits carry no notice).
    """

    def __init__(
        self,
        corpus_dir: PathLike | None = None,
        index_dir: PathLike | None = None,
        model: str | None = None,
        *,
        embedder: Embedder | None = None,
        auto_build: bool = True,
        abstain_below: float | None = None,
    ) -> None:
        self.settings = Settings.resolve(corpus_dir, index_dir, model)
        self.auto_build = auto_build
        self._embedder = embedder
        self._state: _State | None = None
        self._lock = threading.RLock()
        self._fingerprint: dict[str, tuple[int, int]] = {}
        self._watched_at = float("-inf")  # when the corpus folder was last compared with _fingerprint
        #: The build ``index/current`` pointed at when the served index was loaded.
        self._served_link: str | None = None
        #: Why answers may be out of date (the corpus changed and was not rebuilt, or cannot be read), else ``None``.
        self.notice: str | None = None
        self._warned: str | None = None
        self.last_build: BuildReport | None = None
        #: Fused score below which a question is declined (see :mod:`alliance_qa.answer`); the keyword argument
        #: wins over ``ALLIANCE_QA_ABSTAIN_BELOW``, which wins over the calibrated default.
        #: ``None``: the cutoffs calibrated for the served build (its profile) are used.
        self.abstain_below: float | None = (
            float(abstain_below) if abstain_below is not None
            else env_abstain_below() if os.environ.get(ENV_ABSTAIN_BELOW, "").strip() else None
        )
        # Recent question vectors by normalized text: a follow-up's earlier question is usually a hit.
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vectors_lock = threading.Lock()

    # ------------------------------------------------------------------ model and index

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            self._embedder = load_embedder(self.settings.model)
        return self._embedder

    def build(self, *, full: bool = False) -> BuildReport:
        """Build the index incrementally (or from scratch with ``full``) and serve the result."""
        loader: Callable[[], Embedder] = lambda: self.embedder  # noqa: E731
        report = build_index(
            self.settings.corpus_dir, self.settings.index_dir, loader, model=self.settings.model, full=full
        )
        self.last_build = report
        with self._lock:
            self._load_current()
        return report

    def _load_current(self) -> _State:
        """Load what ``index/current`` points at (or the last good build) and serve it."""
        link = current_build(self.settings.index_dir)
        return self._install(load_index(self.settings.index_dir), link.name if link else None)

    def _install(self, index: LoadedIndex, link: str | None) -> _State:
        state = _State(index, Retriever(index))
        self._state = state
        self._served_link = link
        # The corpus as the build read it (taken before reading), so an edit made during that build shows.
        built = index.corpus_fingerprint
        self._fingerprint = built if built is not None else self._corpus_fingerprint()
        self._watched_at = time.monotonic()  # compared below (first load) or just built: the interval starts here
        self.notice = None
        return state

    def _corpus_fingerprint(self) -> dict[str, tuple[int, int]]:
        """Each corpus file's size and mtime: a few ``stat`` calls, checked before every question."""
        return corpus_fingerprint(self.settings.corpus_dir, index_dir=self.settings.index_dir)

    def _corpus_may_have_changed(self) -> bool:
        """Whether the corpus folder differs from the served build's fingerprint; a corpus of more than
        :data:`WATCH_EVERY_FILES` files is walked at most once per :data:`WATCH_INTERVAL_S` (a thousand ``stat``
        calls cost more than the rest of an answer without its embedding)."""
        now = time.monotonic()
        if len(self._fingerprint) > WATCH_EVERY_FILES and now - self._watched_at < WATCH_INTERVAL_S:
            return False
        self._watched_at = now
        return self._corpus_fingerprint() != self._fingerprint

    def _first_load(self) -> _State:
        link = current_build(self.settings.index_dir)
        try:
            index = load_index(self.settings.index_dir)
        except IndexStateError as exc:
            if not self.auto_build:
                raise
            log.warning("%s; building it now", exc)
            self.build()
            assert self._state is not None
            return self._state
        if index.model != self.settings.model:  # never re-embed a (maybe shared) index from a question
            raise IndexStateError(
                f"index at {index.path} was built with model {index.model!r} (dimension {index.dimension}) but the "
                f"configured model is {self.settings.model!r}: unset ALLIANCE_QA_MODEL (or --model) to use it, "
                "or run `alliance-qa build` to rebuild it with the configured model"
            )
        state = self._install(index, link.name if link else None)
        if index.corpus_fingerprint is None or index.corpus_fingerprint != self._corpus_fingerprint():
            # Files changed since the build (or an older build without a fingerprint): read the corpus and compare.
            # Unchanged files (names, sizes, mtimes) are what the build read: nothing to parse, as before each question.
            self._check_corpus(state, rebuild=self.auto_build)
        return self._state or state

    def _check_corpus(self, state: _State, *, rebuild: bool) -> None:
        """Compare the corpus with the served index; rebuild or set :attr:`notice` when it changed."""
        try:
            # only the files edited since the served build are read (a large build's sections are not parsed)
            fingerprint = self._corpus_fingerprint()
            reasons = edited_reasons(state.index, self.settings.corpus_dir, fingerprint, self.settings.model)
            if reasons is None:  # the whole corpus, its unchanged files taken from the served build
                sections, _ = read_corpus(self.settings.corpus_dir, reuse=state.index.sections_by_file(fingerprint))
                reasons = stale_reasons(state.index, sections, self.settings.model)
        except Exception as exc:  # the corpus is broken: keep serving the last good index
            self.notice = f"The corpus cannot be read ({without_paths(str(exc))}); answers come from the last built index."
            return
        if not reasons:
            self.notice = None
        elif rebuild:
            log.warning("index is stale (%s): rebuilding", "; ".join(reasons))
            try:
                self.build()
            except AllianceQAError as exc:  # e.g. a read-only index folder: serve the last build
                log.warning("could not rebuild the stale index (%s); serving build %s", exc, state.index.build_id)
                self.notice = (
                    f"The documents have been edited since the index was built, and rebuilding failed ({without_paths(str(exc))}); "
                    "answers come from the last built index."
                )
        else:
            self.notice = "The documents have been edited since the index was built; run `alliance-qa build` to update answers."

    def state(self) -> _State:
        """The index to answer from: loaded on first use, and swapped when a newer build is on disk."""
        state = self._state
        if state is None:
            with self._lock:
                return self._state or self._first_load()
        on_disk = current_build(self.settings.index_dir)
        if on_disk is not None and on_disk.name != self._served_link:
            with self._lock:
                state = self._state or state
                if on_disk.name != self._served_link:
                    try:
                        fresh = load_index(self.settings.index_dir)
                        if fresh.model != self.settings.model:
                            raise IndexStateError(
                                f"build {fresh.build_id} was made with model {fresh.model!r}, not the configured "
                                f"{self.settings.model!r}"
                            )
                        state = self._install(fresh, on_disk.name)
                        log.info("switched to index build %s", state.index.build_id)
                    except IndexStateError as exc:
                        # Not retried until index/current changes again; the served build stays intact.
                        self._served_link = on_disk.name
                        log.warning("keeping index build %s: %s", state.index.build_id, exc)
        elif self._corpus_may_have_changed():
            with self._lock:
                fingerprint = self._corpus_fingerprint()
                if fingerprint != self._fingerprint:
                    # Edited since the served build (names, sizes, mtimes): rebuild first with auto_build,
                    # else keep serving the last build and say so in ``notice``.
                    self._fingerprint = fingerprint
                    self._check_corpus(state, rebuild=self.auto_build)
                    state = self._state or state
        return state

    @property
    def profile(self) -> Profile:
        """The served build's corpus profile: title, examples, cutoffs."""
        return self.state().index.profile

    @property
    def index(self) -> LoadedIndex:
        """The loaded index (loading or building it if needed)."""
        return self.state().index

    # ------------------------------------------------------------------ questions

    #: How many recent question vectors are kept (by normalized text).
    VECTOR_CACHE = 256

    def embed_question(self, text: str) -> np.ndarray:
        """Embed one normalized question: the only embedding done at query time (cached by text)."""
        return self._embed([text])[0]

    def _embed(self, texts: list[str]) -> list[np.ndarray]:
        """Vectors for normalized ``texts``: cached ones reused, the rest embedded in one batch."""
        with self._vectors_lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in found:
                self._vectors.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            # bounded cost for any text; merged with other threads' questions into one model call
            fresh = encode_batched(self.embedder, [embed_text(t, self.embedder) for t in missing])
            with self._vectors_lock:
                for t, v in zip(missing, fresh, strict=True):
                    found[t] = self._vectors[t] = v
                while len(self._vectors) > self.VECTOR_CACHE:
                    self._vectors.popitem(last=False)
        return [found[t] for t in texts]

    def search(self, question: str, k: int = 5) -> list[Hit]:
        """Return up to ``k`` matching sections, best first, each with its best sentences."""
        if not isinstance(k, int) or k < 1:
            raise QuestionError(f"k must be a whole number of at least 1, not {k!r}")
        text = clean_question(question)
        state = self.state()
        if self.notice and self.notice != self._warned:
            log.warning("%s", self.notice)  # search results carry no notice: say it once in the log
        self._warned = self.notice
        return state.retriever.search(self.embed_question(text), k, text=text)

    def ask(self, question: str, history: History = None) -> Answer:
        """Answer ``question`` by quoting and citing the documents, or decline if it is not covered.

        ``history`` holds earlier turns as Gradio message dicts or plain strings (earlier questions).
        A follow-up that leans on them ("Why would that boost trade?") is resolved with the
        earlier questions' topic; a question that stands on its own is answered on its own.
        """
        answer, _ = self.respond(question, history)
        return answer

    def respond(self, question: str, history: History = None, *, k: int = 5) -> tuple[Answer, list[Hit]]:
        """Like :meth:`ask`, and also return the ``k`` best sections the answer was chosen from (best first)."""
        text = clean_question(question)
        state = self.state()
        earlier: list[str] = []
        for previous in previous_questions(history)[-3:]:
            try:
                earlier.append(clean_question(previous))
            except QuestionError:
                continue
        turn = Turn(text, self.embed_question(text))
        profile = state.index.profile
        answer, hits = respond(
            state.retriever, turn, earlier, self._embed, k=k,
            abstain_below=profile.abstain_below if self.abstain_below is None else self.abstain_below,
            names_only_below=profile.names_only_below, examples=profile.examples,
            section_word=profile.section_word, parties={name: (name, aliases) for name, aliases in profile.parties},
        )
        if self.notice:
            answer = Answer(answer.text, answer.citations, answer.abstained, answer.suggestions, self.notice, answer.kind)
        return answer, hits


_default: Assistant | None = None
_default_lock = threading.Lock()


def default_assistant() -> Assistant:
    """The process-wide assistant used by :func:`alliance_qa.ask` and friends (settings from the environment)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Assistant()
        return _default


def reset_default_assistant() -> None:
    """Forget the process-wide assistant, e.g. after changing the environment variables."""
    global _default
    with _default_lock:
        _default = None

