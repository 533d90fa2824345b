"""``alliance-qa eval``: the product against three baselines on the golden set.

The golden set (``tests/golden.jsonl``) has one question a line: ``id``, ``kind``
(direct, paraphrase, keyword, typo, lookalike, caps, whole, offtopic, followup),
``question``, ``area`` (1-10, 0 for the intro, ``null`` when no area answers it),
``history`` (follow-ups: the earlier questions) and ``whole`` (whole-article
questions: "overview", "list", "nk_wants" or "ru_wants").

Columns, each over the questions it concerns:

* **top-1**: area questions answered (not declined) with the right area cited first;
* **MRR** and **recall@3**: where the right area is in the method's ranking (declining or not);
* **off-topic declined**: off-topic questions (and follow-ups with no area) declined;
* **in-scope declined**: area, whole-article and follow-up questions wrongly declined (lower is better);
* **follow-ups**: follow-ups answered from the right area (or declined when they have no area).

Baselines (what a default pipeline does): BM25 over the raw, un-normalized
section text (bm25s defaults); whole-section dense retrieval over the raw text
(its sections are embedded here, in-process); whole-section dense retrieval
over the normalized text (the index's section vectors).  A baseline declines
below one cutoff on its top score, and that cutoff is the one that makes the
fewest mistakes on this very set -- an oracle calibration in the baselines'
favour.  Baselines see each question alone (no history, no whole-article handling).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import corpus as corpus_module
from .golden import NOT_AREA, Item, Key, check_golden, matches, read_golden, section_key, whole_matches
from .golden import Golden as Golden  # re-exported: the golden-set API is also reachable from here
from .golden import load_golden as load_golden

if TYPE_CHECKING:
    from .assistant import Assistant

log = logging.getLogger(__name__)

#: The golden set, relative to the repository root (the current directory for the CLI).
DEFAULT_GOLDEN = Path("tests") / "golden.jsonl"
AREA_KINDS = frozenset({"direct", "paraphrase", "keyword", "typo", "lookalike", "caps", "figure"})
COLUMNS = (
    ("top1", "top-1"),
    ("mrr", "MRR"),
    ("recall3", "recall@3"),
    ("offtopic_declined", "off-topic declined"),
    ("inscope_declined", "in-scope declined"),
    ("followup", "follow-ups"),
)
#: Columns where lower is better.
LOWER_IS_BETTER = frozenset({"inscope_declined"})


@dataclass(frozen=True)
class Outcome:
    """What a method did with one question: its ranking of areas, best first, and whether it declined."""

    ranking: tuple[Any, ...]  # section keys (or bare areas), best first
    declined: bool
    top_score: float = 0.0
    kind: str = "area"


@dataclass
class Row:
    """One method's figures (fractions in 0..1) and, for baselines, the cutoff it declines below."""

    method: str
    top1: float
    mrr: float
    recall3: float
    offtopic_declined: float
    inscope_declined: float
    followup: float
    cutoff: float | None = None
    whole_article: float | None = None
    misses: list[str] = field(default_factory=list)


def _area(number: int | None) -> int:
    return 0 if number is None else number


def _rank(item: Item, ranking: Sequence[object]) -> int | None:
    return next((n for n, key in enumerate(ranking, 1) if matches(item, key)), None)


def score(method: str, items: Sequence[Item], outcomes: Sequence[Outcome], cutoff: float | None = None) -> Row:
    """Compute a method's :class:`Row` from its ``outcomes`` (one per item, same order)."""
    area_items = [(i, o) for i, o in zip(items, outcomes, strict=True) if i.kind not in NOT_AREA and i.area is not None]
    top1, rr, r3, misses = [], [], [], []
    for item, out in area_items:
        hit = not out.declined and bool(out.ranking) and matches(item, out.ranking[0])
        top1.append(hit)
        rank = _rank(item, out.ranking)
        rr.append(1.0 / rank if rank else 0.0)
        r3.append(bool(rank and rank <= 3))
        if not hit:
            misses.append(item.id)
    off = [o.declined for i, o in zip(items, outcomes, strict=True) if not i.in_scope]
    inscope = [o.declined for i, o in zip(items, outcomes, strict=True) if i.in_scope]
    follow = []
    for item, out in zip(items, outcomes, strict=True):
        if item.kind != "followup":
            continue
        ok = out.declined if item.area is None else (not out.declined and _rank(item, out.ranking[:1]) == 1)
        follow.append(ok)
        if not ok:
            misses.append(item.id)
    whole = [
        whole_matches(i, o.kind)
        for i, o in zip(items, outcomes, strict=True)
        if i.kind == "whole" and i.whole is not None
    ]
    for item, out in zip(items, outcomes, strict=True):
        if (not item.in_scope and not out.declined and item.kind != "followup") or (
            item.kind == "whole" and out.declined
        ):
            misses.append(item.id)

    def mean(values: Sequence[float | bool]) -> float:
        return round(float(np.mean(values)), 4) if values else 0.0

    return Row(
        method=method,
        top1=mean(top1),
        mrr=mean(rr),
        recall3=mean(r3),
        offtopic_declined=mean(off),
        inscope_declined=mean(inscope),
        followup=mean(follow),
        cutoff=cutoff,
        whole_article=mean(whole) if method == "product" else None,
        misses=misses,
    )


# --------------------------------------------------------------------------- the product


def product_outcomes(
    assistant: Assistant, items: Sequence[Item], thresholds: Thresholds | None = None
) -> list[Outcome]:
    """Run every golden question, with its history, through the product.

    With ``thresholds`` the abstention cutoffs are those instead of the
    assistant's (for the held-out check); otherwise this is exactly :meth:`Assistant.respond`.
    """
    from .answer import Turn, respond
    from .assistant import clean_question

    retriever = assistant.state().retriever
    n = len(retriever.sections)
    outcomes = []
    for item in items:
        if thresholds is None:
            answer, hits = assistant.respond(item.question, list(item.history) or None, k=n)
        else:
            text = clean_question(item.question)
            profile = assistant.profile
            answer, hits = respond(
                retriever,
                Turn(text, assistant.embed_question(text)),
                [clean_question(h) for h in item.history],
                lambda texts: [assistant.embed_question(t) for t in texts],
                abstain_below=thresholds.abstain_below,
                names_only_below=thresholds.names_only_below,
                k=n,
                examples=profile.examples,
                section_word=profile.section_word,
                parties={name: (name, aliases) for name, aliases in profile.parties},
            )
        by_id = retriever.index.by_id
        ranking = tuple(section_key(by_id[h.section_id]) for h in hits)
        if answer.kind == "area" and answer.citations:
            first = section_key(by_id[answer.citations[0].section_id])
            ranking = (first, *[a for a in ranking if a != first])
        outcomes.append(Outcome(ranking, answer.abstained, hits[0].score if hits else 0.0, answer.kind))
    return outcomes


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Thresholds:
    """The two abstention cutoffs (see :mod:`alliance_qa.answer`)."""

    abstain_below: float
    names_only_below: float


def gap_cutoff(inside: Sequence[float], outside: Sequence[float], default: float) -> float:
    """The cutoff that best separates ``inside`` scores (to keep) from ``outside`` ones (to decline).

    Among the midpoints between neighbouring scores, the one with the fewest
    mistakes wins, ties going to the widest gap; ``default`` when a side is empty.
    """
    if not inside or not outside:
        return default
    values = sorted({*inside, *outside})
    best: tuple[int, float, float] | None = None
    for low, high in itertools.pairwise(values):
        cut = (low + high) / 2
        errors = sum(s < cut for s in inside) + sum(s >= cut for s in outside)
        key = (errors, -(high - low), cut)
        if best is None or key < best:
            best = key
    return round(best[2], 3) if best else default


def calibrate(assistant: Assistant, items: Sequence[Item]) -> Thresholds:
    """Calibrate both cutoffs on ``items`` (their area and off-topic questions).

    Each question is ranked and the rules that do not depend on a cutoff
    (producing text, a missing answer type) are applied first.  Of the rest,
    ``abstain_below`` separates in-scope from off-topic best scores, and
    ``names_only_below`` does the same among the questions that share only the
    article's names with it.
    """
    from .answer import ABSTAIN_BELOW, NAMES_ONLY_BELOW, abstain_reason
    from .assistant import clean_question

    retriever = assistant.state().retriever
    plain: dict[bool, list[float]] = {True: [], False: []}
    names: dict[bool, list[float]] = {True: [], False: []}
    for item in items:
        if item.kind in ("followup", "whole"):
            continue
        text = clean_question(item.question)
        ranking = retriever.rank(text, assistant.embed_question(text))
        parties = assistant.profile.parties
        if abstain_reason(text, ranking, retriever, abstain_below=-1.0, names_only_below=-1.0,
                          parties=parties) is not None:
            continue  # declined whatever the cutoffs
        best = float(ranking.scores[ranking.best])
        group = names if retriever.only_generic(list(ranking.terms)) else plain
        group[item.in_scope].append(best)
    abstain_below = gap_cutoff(plain[True] + names[True], plain[False], ABSTAIN_BELOW)
    names_only_below = max(abstain_below, gap_cutoff(names[True], names[False], NAMES_ONLY_BELOW))
    return Thresholds(abstain_below, names_only_below)


def split_halves(items: Sequence[Item]) -> tuple[list[Item], list[Item]]:
    """Alternate the items of each kind between a tuning half and a held-out half."""
    seen: dict[str, int] = {}
    tune: list[Item] = []
    test: list[Item] = []
    for item in items:
        n = seen[item.kind] = seen.get(item.kind, -1) + 1
        (tune if n % 2 == 0 else test).append(item)
    return tune, test


def holdout(assistant: Assistant, golden: Path = DEFAULT_GOLDEN) -> tuple[Thresholds, Row, Row]:
    """Calibrate the cutoffs on half the golden set and score the product on both halves with them."""
    tune, test = split_halves(check_golden(read_golden(golden), assistant.index.sections))
    thresholds = calibrate(assistant, tune)
    return (
        thresholds,
        score("product, tuning half", tune, product_outcomes(assistant, tune, thresholds)),
        score("product, held-out half", test, product_outcomes(assistant, test, thresholds)),
    )


# --------------------------------------------------------------------------- baselines


def raw_sections(corpus_dir: Path) -> list[tuple[Key, str]]:
    """The corpus sections as ``(section key, "title. text")`` with no normalization at all (look-alikes left in)."""
    sections, _ = corpus_module.read_corpus(corpus_dir, normalizer=lambda text: text)
    return [(section_key(s), s.text if getattr(s, "intro", False) else f"{s.title}. {s.text}") for s in sections]


def _ranked(areas: Sequence[Any], scores: np.ndarray) -> tuple[tuple[Any, ...], float]:
    order = np.argsort(-scores, kind="stable")
    return tuple(areas[i] for i in order), float(scores[order[0]]) if len(order) else 0.0


def bm25_raw(corpus_dir: Path) -> Callable[[str], tuple[tuple[Any, ...], float]]:
    """BM25 (bm25s defaults: lower-case, English stop words, no stemming) over the raw section texts."""
    import bm25s

    sections = raw_sections(corpus_dir)
    areas = [a for a, _ in sections]
    model = bm25s.BM25()
    model.index(bm25s.tokenize([t for _, t in sections], stopwords="en", show_progress=False), show_progress=False)

    def run(question: str) -> tuple[tuple[Any, ...], float]:
        tokens = bm25s.tokenize([question], stopwords="en", return_ids=False, show_progress=False)[0]
        return _ranked(areas, np.asarray(model.get_scores(tokens), dtype=np.float32))

    return run


def dense_raw(assistant: Assistant, questions: Sequence[str] = ()) -> Callable[[str], tuple[tuple[Any, ...], float]]:
    """Whole-section dense retrieval over the raw section texts (embedded here) with the raw question.

    ``questions`` known up front are embedded in one batch (the same vectors, one model call).
    """
    sections = raw_sections(assistant.settings.corpus_dir)
    areas = [a for a, _ in sections]
    vectors = assistant.embedder.encode([t for _, t in sections])
    texts = list(dict.fromkeys(" ".join(q.split()) for q in questions))
    known = dict(zip(texts, np.asarray(assistant.embedder.encode(texts)).reshape(len(texts), -1), strict=True))

    def run(question: str) -> tuple[tuple[Any, ...], float]:
        text = " ".join(question.split())
        query = known[text] if text in known else assistant.embedder.encode([text])[0]
        return _ranked(areas, vectors @ query)

    return run


def dense_normalized(assistant: Assistant) -> Callable[[str], tuple[tuple[Any, ...], float]]:
    """Whole-section dense retrieval over the normalized text: the index's section vectors, best window."""
    from .assistant import clean_question

    index = assistant.index
    position = {s.id: i for i, s in enumerate(index.sections)}
    areas = [section_key(s) for s in index.sections]
    rows = [r for r, u in enumerate(index.units) if u.kind == "section"]
    owner = np.array([position[index.units[r].section_id] for r in rows])
    vectors = index.vectors[rows]

    def run(question: str) -> tuple[tuple[Any, ...], float]:
        sims = vectors @ assistant.embed_question(clean_question(question))
        best = np.full(len(areas), -1.0, dtype=np.float32)
        np.maximum.at(best, owner, sims)
        return _ranked(areas, best)

    return run


def best_cutoff(items: Sequence[Item], top_scores: Sequence[float]) -> float:
    """The single cutoff on the top score that makes the fewest mistakes on ``items`` (oracle calibration).

    A mistake is an off-topic question answered or an in-scope one declined;
    ties go to the lower cutoff.
    """
    candidates = sorted({0.0, *(float(s) + 1e-6 for s in top_scores)})
    best: tuple[int, float] | None = None
    for cut in candidates:
        errors = sum((s >= cut) != i.in_scope for i, s in zip(items, top_scores, strict=True))
        if best is None or errors < best[0]:
            best = (errors, cut)
    return best[1] if best else 0.0


def baseline_row(name: str, run: Callable[[str], tuple[tuple[Any, ...], float]], items: Sequence[Item]) -> Row:
    """Score one baseline: rank every question alone, then decline below its oracle cutoff."""
    ranked = [run(i.question) for i in items]
    cutoff = best_cutoff(items, [s for _, s in ranked])
    outcomes = [Outcome(r, s < cutoff, s) for r, s in ranked]
    return score(name, items, outcomes, cutoff=round(cutoff, 4))


# --------------------------------------------------------------------------- the report


@dataclass
class Report:
    """The eval table: one row per method, and what it was run on."""

    golden: str
    counts: dict[str, int]
    rows: list[Row]
    corpus: str = ""
    cutoffs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``alliance-qa eval --json`` prints."""
        return {"golden": self.golden, "corpus": self.corpus, "cutoffs": self.cutoffs, "counts": self.counts,
                "rows": [asdict(r) for r in self.rows]}

    def table(self) -> str:
        """The table ``alliance-qa eval`` prints."""
        head = ["method", *(label for _, label in COLUMNS)]
        body = [[r.method, *(f"{getattr(r, key):.3f}" for key, _ in COLUMNS)] for r in self.rows]
        widths = [max(len(row[c]) for row in [head, *body]) for c in range(len(head))]
        lines = ["  ".join(cell.ljust(w) if c == 0 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths,
                 strict=True))) for row in [head, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items())
        product = self.rows[0]
        notes = [
            "",
            f"golden set: {self.golden} ({counts})",
            *([f"corpus: {self.corpus}"] if self.corpus else []),
            *([_cutoff_note(self.cutoffs)] if self.cutoffs else []),
            "in-scope declined: lower is better; baselines decline below the single cutoff that errs least on this set",
        ]
        if product.whole_article is not None:
            notes.append(f"product whole-article questions answered as asked: {product.whole_article:.3f}")
        return "\n".join(lines + notes)


def _cutoff_note(cutoffs: dict[str, Any]) -> str:
    return (
        f"product cutoffs ({cutoffs.get('source')}): abstain below {cutoffs.get('abstain_below')}, "
        f"names only below {cutoffs.get('names_only_below')}"
    )


def cutoffs(assistant: Assistant) -> dict[str, Any]:
    """The abstention cutoffs the product runs with, and where they come from (override or this build's calibration)."""
    profile = assistant.profile
    override = assistant.abstain_below
    calibration = profile.calibration or {}
    return {
        "abstain_below": profile.abstain_below if override is None else override,
        "names_only_below": profile.names_only_below,
        "source": "override" if override is not None else "calibrated for this build" if calibration.get("inscope")
        else "defaults",
        "calibration": calibration,
    }


def run_eval(assistant: Assistant, golden: Path = DEFAULT_GOLDEN) -> Report:
    """Evaluate the product and the three baselines on ``golden``, checked against the assistant's corpus."""
    items = check_golden(read_golden(golden), assistant.index.sections)
    counts: dict[str, int] = {}
    for item in items:
        group = "area" if item.kind not in NOT_AREA else item.kind
        counts[group] = counts.get(group, 0) + 1
    rows = [score("product", items, product_outcomes(assistant, items))]
    rows.append(baseline_row("BM25, raw text", bm25_raw(assistant.settings.corpus_dir), items))
    rows.append(baseline_row("dense, raw text", dense_raw(assistant, [i.question for i in items]), items))
    rows.append(baseline_row("dense, normalized text", dense_normalized(assistant), items))
    return Report(str(golden), counts, rows, str(assistant.settings.corpus_dir), cutoffs(assistant))


def holdout_table(thresholds: Thresholds, tune: Row, test: Row) -> str:
    """The held-out check as printed by ``alliance-qa eval --holdout``."""
    report = Report("", {}, [tune, test])
    lines = report.table().splitlines()[:4]
    return "\n".join(
        [
            f"held-out check: cutoffs calibrated on the tuning half: abstain below {thresholds.abstain_below}, "
            f"names only below {thresholds.names_only_below}",
            *lines,
        ]
    )
