"""In-process measurements: warm answer latency against its limit, and build throughput against raw encode.

Every figure is taken with its baseline in the same process and run, interleaved,
so load from other work on the machine hits both alike; repeated runs give medians.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alliance_qa.chunk import section_units
from alliance_qa.corpus import read_corpus

from .synth import edit_one_section, questions, write_corpus

#: Questions no part of the article answers (they take the abstention path).
OFF_TOPIC = (
    "What is the capital of France?",
    "How do I bake sourdough bread at home?",
    "Who won the football world cup in 2018?",
    "What is the boiling point of water on a mountain?",
    "Recommend a good laptop for programming.",
    "How many moons does Jupiter have?",
    "Explain the rules of cricket.",
    "What's the weather like in Lisbon in spring?",
    "How does photosynthesis work?",
    "Translate 'good morning' into Spanish.",
    "Which programming language is fastest?",
    "What year did the Berlin Wall fall?",
    "how to fix a flat bicycle tyre",
    "best pizza toppings",
    "Is coffee bad for your health?",
    "What does a quantum computer do?",
    "Tell me a joke about cats.",
    "What are the symptoms of the flu?",
    "Who painted the Mona Lisa?",
    "How tall is Mount Everest?",
)

_STOP = {
    "the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with", "its", "it", "is", "are", "was", "be",
    "that", "this", "as", "by", "from", "at", "has", "have", "their", "they", "which", "could", "would", "can",
}  # fmt: skip


# --------------------------------------------------------------------------- helpers


def summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of ``seconds``, in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "n": len(ms),
    }


def torch_threads() -> int:
    """Torch's intra-op thread count in this thread now (FAISS shares the OpenMP setting behind it)."""
    import torch

    return int(torch.get_num_threads())


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (``nan`` when empty)."""
    return float(statistics.median(values)) if values else float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def folder_mb(path: Path) -> float:
    """Total size of the files under ``path`` in MB (symlinks not followed)."""
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return round(total / 1e6, 2)


def machine() -> dict[str, Any]:
    """Cores, RAM, CPU model, load and library versions of this machine."""
    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                ram_kb = int(line.split()[1])
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "ram_gb": round(ram_kb / 1024 / 1024, 1),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("torch", "sentence-transformers", "faiss-cpu", "numpy", "gradio"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = None
    return info


class TimedEmbedder:
    """Wraps an embedder and adds up the seconds spent in :meth:`encode` (to split a question's cost)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.seconds = 0.0
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Delegate to the wrapped embedder, timing the call."""
        started = time.perf_counter()
        try:
            return self.inner.encode(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


# --------------------------------------------------------------------------- questions


def _golden(repo: Path) -> list[str]:
    path = repo / "tests" / "golden.jsonl"
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            with_q = json.loads(line)
            if isinstance(with_q, dict) and isinstance(with_q.get("question"), str):
                found.append(with_q["question"])
    return found


def article_questions(corpus_dir: Path, count: int = 240, *, repo: Path | None = None, seed: int = 5) -> list[str]:
    """``count`` distinct, varied questions about the corpus: the golden set, generated ones, some off-topic.

    Generated questions come from each section's title and sentences in several
    phrasings (direct, keyword, lower-case, with the article's look-alike letters),
    so they differ in length and wording.  The same inputs give the same list.
    """
    rng = random.Random(seed)
    sections, _ = read_corpus(corpus_dir)
    made: list[str] = []
    for section in sections:
        title = section.title
        made += [
            f"What does the article say about {title.lower()}?",
            f"{title}: why does it matter?",
            f"tell me about {title.lower()}",
        ]
        for sentence in section.sentences:
            words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", sentence) if w.lower() not in _STOP]
            if len(words) < 3:
                continue
            for _ in range(3):
                size = rng.randint(2, min(6, len(words)))
                start = rng.randint(0, len(words) - size)
                phrase = " ".join(words[start : start + size])
                form = rng.choice(
                    (
                        "What about {p}?",
                        "Why is {p} important?",
                        "How do {p} fit in?",
                        "{p}",
                        "Does the article mention {p}?",
                        "what is said about {p}",
                        "Explain {p}, please.",
                    )
                )
                made.append(form.format(p=phrase))
    golden = _golden(repo or Path.cwd())
    pool = list(dict.fromkeys([*golden, *made]))
    rng.shuffle(pool)
    chosen = pool[: max(0, count - len(OFF_TOPIC) // 2)] + list(OFF_TOPIC)
    # some pasted with the article's look-alike letters
    chosen = list(dict.fromkeys(q.replace("e", "\u0435") if i % 9 == 0 else q for i, q in enumerate(chosen)))
    if len(chosen) < count:  # a small corpus: fill up with synthetic questions
        taken = set(chosen)
        chosen += [q for q in dict.fromkeys(questions(3 * count, seed=seed)) if q not in taken]
    chosen = chosen[:count]
    rng.shuffle(chosen)
    return chosen


# --------------------------------------------------------------------------- warm answers


def prepare_article(corpus_dir: Path, work: Path, embedder: Any) -> tuple[Path, Path]:
    """Copy ``corpus_dir`` to ``work/corpus`` and build its index in ``work/index``; return both folders."""
    from alliance_qa.build import build_index

    corpus = work / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    shutil.copytree(corpus_dir, corpus)
    index = work / "index"
    build_index(corpus, index, embedder, model=embedder.name, full=True)
    return corpus, index


def _warm_repeat(qa: Any, timed: TimedEmbedder, bare: Callable[[str], None], order: Sequence[str]) -> dict[str, Any]:
    """One pass over ``order``: each question through ``qa.ask`` and ``bare``, alternating which goes first."""
    t_ask: list[float] = []
    t_bare: list[float] = []
    t_rest: list[float] = []
    abstained = 0
    for i, question in enumerate(order):
        for step in ("ask", "bare") if i % 2 == 0 else ("bare", "ask"):
            before = timed.seconds
            started = time.perf_counter()
            if step == "ask":
                abstained += bool(qa.ask(question).abstained)
                took = time.perf_counter() - started
                t_ask.append(took)
                t_rest.append(took - (timed.seconds - before))
            else:
                bare(question)
                t_bare.append(time.perf_counter() - started)
    return {
        "ask": summary(t_ask),
        "bare": summary(t_bare),
        "ask_without_embedding": summary(t_rest),
        "abstained": abstained,
    }


def warm_latency(
    corpus: Path, index: Path, embedder: Any, asked: Sequence[str], *, repeats: int = 3, seed: int = 3
) -> dict[str, Any]:
    """p50/p95 of ``Assistant.ask`` against bare ``encode`` + one FAISS search, interleaved, ``repeats`` times.

    Each repeat uses a new :class:`~alliance_qa.assistant.Assistant`, so no question
    is answered from its vector cache; the model is shared and already warm.
    """
    from alliance_qa.assistant import Assistant
    from alliance_qa.load import load_index

    model = embedder.model  # the bare SentenceTransformer
    faiss_index = load_index(index).faiss_index

    def bare(question: str) -> None:
        vector = model.encode([question], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        faiss_index.search(np.ascontiguousarray(vector, dtype=np.float32), 10)

    runs = []
    for rep in range(repeats):
        timed = TimedEmbedder(embedder)
        qa = Assistant(corpus, index, embedder.name, embedder=timed, auto_build=False)
        for question in ("warm-up one?", "Warm up two: energy and ports", "third warm-up"):
            qa.ask(question)
            bare(question)
        order = list(asked)
        random.Random(seed + rep).shuffle(order)
        runs.append(_warm_repeat(qa, timed, bare, order))
    ask_p50 = median([r["ask"]["p50_ms"] for r in runs])
    ask_p95 = median([r["ask"]["p95_ms"] for r in runs])
    bare_p50 = median([r["bare"]["p50_ms"] for r in runs])
    bare_p95 = median([r["bare"]["p95_ms"] for r in runs])
    return {
        "questions": len(asked),
        "repeats": repeats,
        "ask_p50_ms": ask_p50,
        "ask_p95_ms": ask_p95,
        "bare_p50_ms": bare_p50,
        "bare_p95_ms": bare_p95,
        "ask_without_embedding_p50_ms": median([r["ask_without_embedding"]["p50_ms"] for r in runs]),
        "ratio_p50": round(ask_p50 / bare_p50, 3),
        "ratio_p95": round(ask_p95 / bare_p95, 3),
        "goal": "ratio_p50 <= 1.3",
        "met": ask_p50 / bare_p50 <= 1.3,
        "baseline": "SentenceTransformer.encode([question], normalize_embeddings=True) + IndexFlatIP.search(k=10)",
        "torch_threads": torch_threads(),
        "runs": runs,
    }


# --------------------------------------------------------------------------- build throughput


def unique_unit_texts(corpus: Path) -> list[str]:
    """Every distinct text a full build of ``corpus`` embeds."""
    sections, _ = read_corpus(corpus)
    return list(dict.fromkeys(u.text for s in sections for u in section_units(s)[0]))


def build_throughput(work: Path, embedder: Any, *, sections: int = 500, rounds: int = 3) -> dict[str, Any]:
    """Full-build texts/s against the model's raw ``encode`` on the same texts, then one incremental rebuild.

    Rounds alternate the order (raw, build), (build, raw), ...; the ratio is the median of each round's own
    build / raw ratio (a shared machine's load drifts between rounds more than within one), the rates medians.
    ``cpu_ratio`` is the same from this process's CPU time (all threads) instead of the wall clock: what the
    build costs in work against the raw encode, which time stolen by other machines does not move.
    """
    from alliance_qa.build import build_index
    from alliance_qa.calibrate import forget_bank_vectors

    corpus = write_corpus(work / "corpus", sections, seed=21)
    texts = unique_unit_texts(corpus.folder)
    model = embedder.model
    model.encode(texts[:64], show_progress_bar=False)  # warm the kernels

    def raw() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return len(texts) / (time.perf_counter() - started), len(texts) / (time.process_time() - cpu)

    def build() -> tuple[float, float]:
        folder = work / "index"
        shutil.rmtree(folder, ignore_errors=True)
        forget_bank_vectors()  # a first build: the question bank is embedded as in a new process
        started, cpu = time.perf_counter(), time.process_time()
        report = build_index(corpus.folder, folder, embedder, model=embedder.name, full=True, chunking="separate")
        return report.embedded / (time.perf_counter() - started), report.embedded / (time.process_time() - cpu)

    raw_tps: list[float] = []  # texts per wall-clock second, one a round
    build_tps: list[float] = []
    raw_cpu: list[float] = []  # texts per CPU second
    build_cpu: list[float] = []
    steps: list[tuple[list[float], list[float], Callable[[], tuple[float, float]]]] = [
        (raw_tps, raw_cpu, raw), (build_tps, build_cpu, build)]
    for rnd in range(rounds):
        for wall_rates, cpu_rates, step in steps if rnd % 2 == 0 else steps[::-1]:
            wall_rate, cpu_rate = step()
            wall_rates.append(wall_rate)
            cpu_rates.append(cpu_rate)
    edit_one_section(corpus)
    started = time.perf_counter()
    report = build_index(corpus.folder, work / "index", embedder, model=embedder.name, chunking="separate")
    incremental_s = time.perf_counter() - started
    ratio = median([b / r for b, r in zip(build_tps, raw_tps, strict=True)])
    return {
        "sections": corpus.sections,
        "texts": len(texts),
        "build_texts_per_s": round(median(build_tps), 1),
        "raw_encode_texts_per_s": round(median(raw_tps), 1),
        "ratio": round(ratio, 3),
        "cpu_ratio": round(median([b / r for b, r in zip(build_cpu, raw_cpu, strict=True)]), 3),
        "goal": "ratio >= 0.9",
        "met": ratio >= 0.9,
        "baseline": "SentenceTransformer.encode(texts, normalize_embeddings=True), its default batch size",
        "torch_threads": torch_threads(),
        "rounds": {"build": [round(x, 1) for x in build_tps], "raw": [round(x, 1) for x in raw_tps]},
        "incremental": {
            "seconds": round(incremental_s, 3),
            "texts_embedded": report.embedded,
            "sections_embedded": report.sections_embedded,
        },
    }
