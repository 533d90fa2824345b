"""Abstention cutoffs for one build, without hand-labelled questions.

Two sets of questions are ranked against the new build:

* **in-scope probes**, made from the corpus itself: each section's title as a
  question, a keyword question from its most distinctive words, and a
  paraphrase-like question from the content words of one of its sentences;
* **off-topic probes**: the shipped bank of general-knowledge questions about
  many topics (``alliance_qa/data/general_questions.txt``), and the same
  questions with one of the corpus's ubiquitous names added ("... in <name>?"),
  which share only those names with the corpus.

The rules that need no cutoff (requests to write, a missing answer type) are
applied first.  ``abstain_below`` is then set just above nearly all off-topic
scores (:data:`OFFTOPIC_QUANTILE`), unless that would decline more than
:data:`MAX_PROBES_DECLINED` of the in-scope probes, and ``names_only_below`` the
same way among the questions that share only the ubiquitous names.  The bank's
vectors for the bundled model ship with the package (``data/general_questions.vectors.npz``, used after a
few of them are re-embedded and match), and other models' are cached in ``index/cache/``, so a build
embeds only its corpus and its own probes.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .embed import Embedder
    from .profile import Profile
    from .ranking import Ranking
    from .retrieve import Retriever

log = logging.getLogger(__name__)

#: Cutoffs used when nothing can be calibrated (no question bank, an old build read without its profile).
DEFAULT_ABSTAIN_BELOW = 0.191
DEFAULT_NAMES_ONLY_BELOW = 0.386
#: The cutoff sits above this share of the off-topic probes' best scores ...
OFFTOPIC_QUANTILE = 0.90
#: Among questions sharing only the corpus's ubiquitous names, the cutoff sits above this share (in-scope
#: questions of that kind are rare, and these off-topic ones look close to everything).
NAMES_QUANTILE = 1.0
#: Among general questions whose foreign words outweigh their specific matches (policy rule 5), the cutoff sits
#: at this share of their best scores (tuned on two test corpora, checked on the others: see README).
FOREIGN_QUANTILE = 0.95
#: ... plus this margin ...
MARGIN = 0.01
#: ... unless it would decline more than this share of the in-scope probes; then it is lowered to that point.
MAX_PROBES_DECLINED = 0.03
#: At most this many sections give probes (spread through the corpus), so a large corpus calibrates quickly.
MAX_PROBE_SECTIONS = 120
BANK_RESOURCE = "general_questions.txt"
#: The bank's vectors for the bundled model (``make bank-vectors`` writes them): the cleaned bank's SHA-256 and
#: its vectors, used when the model at hand gives the same vectors for :data:`SHIPPED_CHECK` of them.
SHIPPED_RESOURCE = "general_questions.vectors.npz"
SHIPPED_CHECK = 4
#: Largest difference of a re-embedded vector from the shipped one still taken as the same model (kernels differ
#: by about 1e-6 between machines).
SHIPPED_TOLERANCE = 1e-4

_STOP = frozenset(["a", "an", "the", "this", "that", "these", "those", "it", "its", "they", "them", "their", "there", "then", "than", "and", "but", "or", "so", "if", "when", "while", "as", "at", "by", "for", "from", "in", "into", "of", "on", "onto", "to", "with", "without", "about", "after", "before", "during", "since", "until", "upon", "over", "under", "between", "among", "through", "i", "we", "you", "he", "she", "his", "her", "our", "your", "my", "me", "us", "both", "each", "every", "all", "any", "some", "most", "many", "much", "more", "other", "another", "such", "what", "which", "who", "whom", "whose", "where", "why", "how", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "have", "has", "had", "can", "could", "will", "would", "shall", "should", "may", "might", "must", "not", "no", "yes", "also", "however", "here", "very", "just", "only", "even", "still", "yet", "one", "two", "can't", "don't", "it's"])


@dataclass(frozen=True)
class Calibration:
    """The cutoffs and the figures behind them."""

    abstain_below: float
    names_only_below: float
    foreign_below: float | None = None
    offtopic: int = 0
    inscope: int = 0
    names_offtopic: int = 0
    offtopic_max: float = 0.0
    inscope_min: float = 0.0
    probes_declined: float = 0.0
    bank: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The figures saved with the profile."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


def load_bank(path: Path | None = None) -> list[str]:
    """The general-knowledge questions: one a line, ``#`` comments and blank lines skipped; ``[]`` if missing."""
    try:
        if path is not None:
            text = path.read_text(encoding="utf-8")
        else:
            text = resources.files("alliance_qa").joinpath("data", BANK_RESOURCE).read_text(encoding="utf-8")
    except (OSError, FileNotFoundError, ModuleNotFoundError):
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _asked(text: str) -> str:
    """``text`` as a question reaches the retriever: normalized, its runs of white space one space."""
    from .normalize import normalize

    return " ".join(normalize(text).split())


def cleaned_bank(path: Path | None = None) -> list[str]:
    """The bank's questions (:func:`load_bank`) as the retriever sees them: what is embedded, shipped and hashed."""
    return [_asked(q) for q in load_bank(path)]


#: Bank vectors embedded in this process, by bank key, with the embedder that made them: a server rebuilding
#: after edits, or a program building several index folders, embeds the bank once.
_bank_memo: dict[str, tuple[Embedder, np.ndarray, bool]] = {}


def forget_bank_vectors() -> None:
    """Drop the bank vectors remembered in this process, so the next build embeds the bank (or reads its cache
    file) as a first build in a new process would: for benchmarks that time first builds."""
    _bank_memo.clear()


def bank_key(bank: Sequence[str]) -> str:
    """The SHA-256 of the cleaned ``bank`` questions, one a line."""
    return hashlib.sha256("\n".join(bank).encode()).hexdigest()


def shipped_vectors(bank: Sequence[str], embedder: Embedder) -> np.ndarray | None:
    """The shipped vectors of ``bank`` if they are this bank's and ``embedder`` gives the same vectors for a few of
    them (so it is the model they were made with), else ``None``."""
    try:
        with resources.files("alliance_qa").joinpath("data", SHIPPED_RESOURCE).open("rb") as fh, np.load(
            fh, allow_pickle=False
        ) as saved:
            key, vectors = str(saved["bank_sha256"]), np.asarray(saved["vectors"], dtype=np.float32)
    except (OSError, KeyError, ValueError):
        return None
    if key != bank_key(bank) or vectors.shape != (len(bank), getattr(embedder, "dimension", -1)):
        return None
    check = np.linspace(0, len(bank) - 1, min(SHIPPED_CHECK, len(bank))).astype(int)
    fresh = np.asarray(embedder.encode([bank[i] for i in check]), dtype=np.float32).reshape(len(check), -1)
    if fresh.shape != vectors[check].shape or not np.allclose(fresh, vectors[check], atol=SHIPPED_TOLERANCE, rtol=0):
        return None
    vectors.setflags(write=False)
    return vectors


def write_shipped_vectors(embedder: Embedder, target: Path) -> Path:
    """Embed the shipped bank with ``embedder`` (the bundled model) and save it as :data:`SHIPPED_RESOURCE` in
    ``target`` (a folder): run by ``make bank-vectors`` after the bank changes."""
    bank = cleaned_bank()
    vectors = np.asarray(embedder.encode(bank), dtype=np.float32).reshape(len(bank), -1)
    path = target / SHIPPED_RESOURCE
    with open(path, "wb") as fh:
        np.savez(fh, bank_sha256=np.array(bank_key(bank)), vectors=vectors)
    return path


def bank_vectors(bank: Sequence[str], embedder: Embedder, model: str, cache_dir: Path | None) -> np.ndarray:
    """Vectors of the cleaned ``bank`` questions: from ``cache_dir`` when this model already embedded this bank
    there, else from this process's earlier builds with the same embedder, else the shipped ones when they are
    this model's, else embedded now."""
    key = hashlib.sha256(("\n".join([model, *bank])).encode()).hexdigest()[:16]
    path = cache_dir / f"bank-{key}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape[0] == len(bank):
                return np.asarray(cached, dtype=np.float32)
        except (OSError, ValueError):
            log.info("question bank cache %s unreadable: embedding the bank again", path)
    remembered = _bank_memo.get(key)
    if remembered is not None and remembered[0] is embedder:  # built before in this process: same model object
        _, vectors, shipped = remembered
    else:
        found = shipped_vectors(bank, embedder)
        shipped = found is not None
        if found is None:
            found = np.asarray(embedder.encode(list(bank)), dtype=np.float32).reshape(len(bank), -1)
            found.setflags(write=False)
        vectors = found
        if len(_bank_memo) >= 8:  # a few models or banks at most; never grows without bound
            _bank_memo.clear()
        _bank_memo[key] = (embedder, vectors, shipped)
    if path is not None and not shipped:  # the shipped vectors need no copy in the index
        _save_cache(path, vectors)
    return vectors


def _save_cache(path: Path, vectors: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, vectors, allow_pickle=False)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only index folder still builds; the bank is embedded each time
        log.info("cannot cache the question bank in %s (%s)", path.parent, exc)


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z'-]+", text)


def inscope_probes(retriever: Retriever, limit: int = MAX_PROBE_SECTIONS) -> list[str]:
    """Questions made from the corpus: a title question, a keyword question and a sentence's content words."""
    sections = retriever.sections
    step = max(1, math.ceil(len(sections) / limit))
    probes: list[str] = []
    for position in range(0, len(sections), step):
        section = sections[position]
        if section.title.strip() and not section.intro:
            probes.append(f"What about {section.title.strip().rstrip('.:?')}?")
        content = [w for w in _words(section.text) if w.casefold() not in _STOP and len(w) > 3]
        if not content:
            continue
        ranked = sorted(dict.fromkeys(w.casefold() for w in content),
                        key=lambda w: -retriever.lexical.idf(retriever.lexical.stem(w)))
        probes.append(" ".join(ranked[:3]) + "?")
        sentences = [s for s in section.sentences if len(s.split()) >= 8] or list(section.sentences)
        if sentences:
            sentence = sentences[len(sentences) // 2]
            kept = [w for w in _words(sentence) if w.casefold() not in _STOP][:6]
            if kept:
                probes.append("What is said about " + " ".join(kept).lower() + "?")
    return probes


def names_probes(bank: Sequence[str], retriever: Retriever, profile: Profile, count: int = 60) -> list[str]:
    """Bank questions with one of the corpus's ubiquitous names added, e.g. "What is the tallest mountain in X?"."""
    names = [name for name, _ in profile.parties]
    if not names:
        for document in profile.documents:
            names += [w for w in _words(document.title) if w[0].isupper() and w.casefold() not in _STOP
                      and retriever.lexical.stem(w.casefold()) in retriever.lexical.generic]
    names = list(dict.fromkeys(names))[:4]
    if not names:
        return []
    step = max(1, len(bank) // count)
    return [f"{q.rstrip('?. ')} in {names[i % len(names)]}?" for i, q in enumerate(bank[::step][:count])]


def calibrate(
    retriever: Retriever,
    embedder: Embedder,
    profile: Profile,
    *,
    cache_dir: Path | None = None,
    bank_path: Path | None = None,
) -> Calibration:
    """Calibrate both cutoffs for ``retriever``'s build (see the module docstring)."""
    import time

    started = time.perf_counter()
    bank = cleaned_bank(bank_path)
    if not bank:
        log.warning("no question bank found: using the default abstention cutoffs")
        return Calibration(DEFAULT_ABSTAIN_BELOW, DEFAULT_NAMES_ONLY_BELOW, bank="missing")
    off_vectors = bank_vectors(bank, embedder, str(retriever.index.manifest.get("model", "")), cache_dir)
    inside = [_asked(q) for q in inscope_probes(retriever)]
    named = [_asked(q) for q in names_probes(bank, retriever, profile)]
    fresh = np.asarray(embedder.encode(inside + named), dtype=np.float32).reshape(len(inside) + len(named), -1)
    in_vectors, named_vectors = fresh[: len(inside)], fresh[len(inside) :]

    # Every probe ranked in one FAISS call (hundreds of single searches were a fifth of the calibration).
    texts = [*bank, *named, *inside]
    rankings = retriever.rank_many(texts, np.concatenate([np.asarray(off_vectors), named_vectors, in_vectors]))
    probed = [_probe(retriever, profile, text, ranking) for text, ranking in zip(texts, rankings, strict=True)]
    plain_off: list[float] = []
    names_off: list[float] = []
    foreign_off: list[float] = []
    for best, reason, only_names, foreign in probed[: len(bank)]:
        if reason is None:
            (names_off if only_names else plain_off).append(best)
            if foreign:
                foreign_off.append(best)
    for best, reason, only_names, _ in probed[len(bank) : len(bank) + len(named)]:  # only those sharing the names
        if reason is None and only_names:
            names_off.append(best)
    in_scores = [best for best, reason, _, _ in probed[len(bank) + len(named) :] if reason is None]
    abstain = _cutoff(plain_off, in_scores, DEFAULT_ABSTAIN_BELOW)
    names_only = max(abstain, _cutoff(names_off, in_scores, DEFAULT_NAMES_ONLY_BELOW, cap=False, quantile=NAMES_QUANTILE))
    foreign_below = (
        min(max(abstain, float(np.quantile(np.asarray(foreign_off), FOREIGN_QUANTILE))), names_only)
        if foreign_off else None
    )
    result = Calibration(
        abstain_below=round(abstain, 4),
        names_only_below=round(names_only, 4),
        foreign_below=round(foreign_below, 4) if foreign_below is not None else None,
        offtopic=len(plain_off),
        inscope=len(in_scores),
        names_offtopic=len(names_off),
        offtopic_max=max(plain_off, default=0.0),
        inscope_min=min(in_scores, default=0.0),
        probes_declined=float(np.mean([s < abstain for s in in_scores])) if in_scores else 0.0,
        bank=f"{len(bank)} questions",
        seconds=round(time.perf_counter() - started, 3),
    )
    log.info("calibrated cutoffs: %s", result.to_json())
    return result


def _cutoff(
    outside: Sequence[float], inside: Sequence[float], default: float, *, cap: bool = True,
    quantile: float = OFFTOPIC_QUANTILE,
) -> float:
    """Just above ``OFFTOPIC_QUANTILE`` of ``outside``, lowered (if ``cap``) to keep all but
    ``MAX_PROBES_DECLINED`` of ``inside``; ``default`` when there is nothing outside."""
    if not outside:
        return default
    high = float(np.quantile(np.asarray(outside), quantile)) + MARGIN
    if cap and inside:
        low = float(np.quantile(np.asarray(inside), MAX_PROBES_DECLINED))
        high = min(high, low)
    return high


def _probe(
    retriever: Retriever, profile: Profile, text: str, ranking: Ranking
) -> tuple[float, str | None, bool, bool]:
    """``(best score, the cutoff-free decline reason or None, shares only the ubiquitous names, its foreign words
    outweigh its specific matches)`` for one probe and its ``ranking``."""
    from . import policy

    best = float(ranking.scores[ranking.best])
    return (
        best,
        policy.cutoff_free_reason(text, ranking, retriever, profile.parties),
        policy.names_only(text, ranking, retriever),
        policy.outweighed(ranking, retriever, profile.parties),
    )
