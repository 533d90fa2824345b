"""One scale point, run in its own process so its peak RAM is its own.

``python -m benchmarks.scale build --sections N --root DIR --vectors real|proxy``
writes a seeded synthetic corpus, builds it from scratch, then rebuilds after one
edit; ``... query --root DIR --vectors real|proxy`` loads that index and times
FAISS searches, recall@10 against exact search, and ``Assistant.ask``.  Each
prints one JSON object as its last line of output.

With ``--vectors proxy`` the texts get :class:`~benchmarks.proxy.ProxyEmbedder`
vectors: every part of the build is measured except the embedding itself, whose
time is then *estimated* as ``texts embedded / real texts per second``, the real
rate being measured here on a seeded sample of 1,000 of the same texts.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from alliance_qa.config import DEFAULT_MODEL

from .measure import TimedEmbedder, folder_mb, peak_rss_mb, summary, torch_threads
from .synth import SyntheticCorpus, edit_one_section, questions, write_corpus

#: Texts embedded with the real model to measure its rate when the build itself uses proxy vectors.
SAMPLE_TEXTS = 1000


def _embedder(kind: str) -> Any:
    from alliance_qa.embed import load_embedder

    real = load_embedder(DEFAULT_MODEL)
    if kind == "real":
        return real
    from .proxy import ProxyEmbedder

    return ProxyEmbedder(real.model)


def _changed_units(before: dict[str, Any], index_dir: Path) -> int:
    """How many texts of the new build belong to sections whose hash differs from ``before``'s manifest."""
    from alliance_qa.load import load_index

    build = load_index(index_dir)
    after = build.manifest["sections"]
    changed = {sid for sid, info in after.items() if before.get(sid, {}).get("hash") != info["hash"]}
    return sum(1 for unit in build.units if unit.section_id in changed)  # a delta's units too (segments.py)


def run_build(sections: int, root: Path, vectors: str, seed: int = 1) -> dict[str, Any]:
    """Write the corpus, build it fully, then rebuild after editing one section; return the figures."""
    from alliance_qa.build import build_index
    from alliance_qa.load import current_build

    started = time.perf_counter()
    corpus = write_corpus(root / "corpus", sections, seed=seed)
    generate_s = time.perf_counter() - started
    embedder = TimedEmbedder(_embedder(vectors))
    index_dir = root / "index"
    started = time.perf_counter()
    report = build_index(corpus.folder, index_dir, embedder, model=embedder.name, full=True)
    build_s = time.perf_counter() - started
    embed_s = embedder.seconds
    build = current_build(index_dir)
    assert build is not None
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    files = {p.name: round(p.stat().st_size / 1e6, 2) for p in sorted(build.iterdir()) if p.is_file()}
    result: dict[str, Any] = {
        "sections": corpus.sections,
        "files": len(corpus.files),
        "texts": report.units,
        "texts_embedded": report.embedded,
        "vectors": vectors,
        "generate_s": round(generate_s, 2),
        "faiss": manifest.get("faiss", {}),
        "index_mb": folder_mb(build),
        "index_files_mb": files,
        "build_peak_rss_mb": peak_rss_mb(),
        "torch_threads": torch_threads(),
    }
    if vectors == "real":
        result.update(build_s=round(build_s, 2), build_measured=True, embed_s=round(embed_s, 2))
        result["embed_texts_per_s"] = round(report.embedded / embed_s, 1) if embed_s else None
    else:
        rate = _real_rate(build)
        estimate = build_s - embed_s + report.embedded / rate
        result.update(
            build_s=round(estimate, 1),
            build_measured=False,
            build_without_embedding_s=round(build_s - embed_s, 2),
            proxy_embed_s=round(embed_s, 2),
            real_embed_texts_per_s=round(rate, 1),
            estimate=(
                f"measured build with proxy vectors ({build_s - embed_s:.1f} s without embedding) "
                f"+ {report.embedded} texts / {rate:.0f} texts/s (real model on {SAMPLE_TEXTS} of these texts)"
            ),
        )
    result["incremental"] = _incremental(corpus, index_dir, embedder, manifest["sections"])
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _real_rate(build: Path) -> float:
    """The real model's texts/s on a seeded sample of this build's texts."""
    from alliance_qa.embed import load_embedder

    with (build / "units.jsonl").open(encoding="utf-8") as fh:
        texts = list(dict.fromkeys(json.loads(line)["text"] for line in fh))
    sample = random.Random(3).sample(texts, min(SAMPLE_TEXTS, len(texts)))
    model = load_embedder(DEFAULT_MODEL)
    model.encode(sample[:32])
    started = time.perf_counter()
    model.encode(sample)
    return len(sample) / (time.perf_counter() - started)


def _incremental(corpus: SyntheticCorpus, index_dir: Path, embedder: TimedEmbedder, before: dict[str, Any]) -> dict[str, Any]:
    from alliance_qa.build import build_index

    edit_one_section(corpus)
    started = time.perf_counter()
    report = build_index(corpus.folder, index_dir, embedder, model=embedder.name)
    seconds = time.perf_counter() - started
    edited_texts = _changed_units(before, index_dir)
    return {
        "seconds": round(seconds, 2),
        "sections_embedded": report.sections_embedded,
        "texts_embedded": report.embedded,
        "edited_section_texts": edited_texts,
        "only_edited_section": report.sections_embedded == 1 and report.embedded <= edited_texts,
    }


def run_query(root: Path, vectors: str, *, count: int = 200, asks: int = 100) -> dict[str, Any]:
    """Load the index under ``root``; time searches, recall@10 against exact search, and ``ask()``."""
    import faiss

    from alliance_qa.assistant import Assistant
    from alliance_qa.load import load_index

    embedder = TimedEmbedder(_embedder(vectors))
    started = time.perf_counter()
    loaded = load_index(root / "index")
    load_s = time.perf_counter() - started
    asked = questions(count, seed=11)
    query_vectors = embedder.encode(asked)
    search_s = []
    for vector in query_vectors:
        t0 = time.perf_counter()
        loaded.search(vector, 10)
        search_s.append(time.perf_counter() - t0)
    result: dict[str, Any] = {
        "load_s": round(load_s, 2),
        "format_version": loaded.manifest.get("format_version"),  # 2: tables saved with the build, text read lazily
        "faiss": loaded.manifest.get("faiss", {}),
        "search": summary(search_s),
    }
    if not loaded.exact:
        every = np.ascontiguousarray(loaded.vectors, dtype=np.float32)  # a delta build's too, in its own row order
        truth, _ = faiss.knn(query_vectors, every, 10, metric=faiss.METRIC_INNER_PRODUCT)
        served = [loaded.search(q, 10)[1] for q in query_vectors]  # as answers get them (a delta's rows mapped)
        result["recall_at_10"] = round(_recall(every, query_vectors, served, truth), 4)
        _, raw = loaded.faiss_index.search(query_vectors, 10)  # the (base) index alone, without exact re-scoring
        if loaded.segments is not None:
            raw = np.where(raw >= 0, loaded.segments.where[np.maximum(raw, 0)], -1)  # deleted rows: -1
        result["recall_at_10_without_rescoring"] = round(_recall(every, query_vectors, list(raw), truth), 4)
        if loaded.segments is not None:
            result["delta"] = dict(loaded.manifest["delta"], deleted=loaded.segments.deleted)
        flat = faiss.IndexFlatIP(loaded.dimension)
        flat.add(every)
        flat_s = []
        for vector in query_vectors[:50]:
            t0 = time.perf_counter()
            flat.search(vector.reshape(1, -1), 10)
            flat_s.append(time.perf_counter() - t0)
        result["flat_search"] = summary(flat_s)
        del flat
    else:
        result["recall_at_10"] = 1.0
        result["recall_note"] = "exact IndexFlatIP"
    qa = Assistant(root / "corpus", root / "index", embedder.name, embedder=embedder, auto_build=False)
    started = time.perf_counter()
    qa.ask(asked[0])
    result["first_answer_s"] = round(time.perf_counter() - started, 2)
    ask_s, rest_s = [], []
    for question in asked[1 : 1 + asks]:
        before = embedder.seconds
        t0 = time.perf_counter()
        qa.ask(question)
        took = time.perf_counter() - t0
        ask_s.append(took)
        rest_s.append(took - (embedder.seconds - before))
    result["ask"] = summary(ask_s)
    result["ask_without_embedding"] = summary(rest_s)
    result["ask_vs_limit"] = _ask_vs_limit(root, loaded, asked[1 + asks :], embedder)
    result["query_peak_rss_mb"] = peak_rss_mb()
    return result


def _recall(vectors: np.ndarray, queries: np.ndarray, found: list[np.ndarray], truth: np.ndarray) -> float:
    """Recall@10 of the rows ``found`` per query against the exact top-10 scores ``truth`` (ties count)."""
    hits = sum(int(np.sum(vectors[r[r >= 0]] @ q >= t[9] - 1e-5)) for q, r, t in zip(queries, found, truth, strict=True))
    return hits / (10 * len(queries))


class _RealQuestions:
    """The real model's question embeddings under the index's model name: with proxy vectors in the index, an
    ``ask()`` still pays what a real question costs (the vectors' values do not change the work done)."""

    def __init__(self, real: Any, name: str) -> None:
        self.real, self.name, self.dimension = real, name, real.dimension

    def encode(self, texts: Any) -> np.ndarray:
        """The real model's vectors."""
        return np.asarray(self.real.encode(texts))


#: Goals of issue 13 at the largest scale point (seconds, seconds, ratio).
FIRST_ANSWER_GOAL_S = 3.0
INCREMENTAL_GOAL_S = 3.0
ASK_RATIO_GOAL = 1.3


def _ask_vs_limit(root: Path, loaded: Any, asked: list[str], embedder: TimedEmbedder) -> dict[str, Any]:
    """A warm ``ask()`` with a real question embedding against its limit, one real ``encode([question])`` plus
    one search of the same index (``LoadedIndex.search``, k=10), interleaved question by question."""
    from alliance_qa.assistant import Assistant
    from alliance_qa.embed import load_embedder

    real = load_embedder(DEFAULT_MODEL)
    qa = Assistant(root / "corpus", root / "index", embedder.name, embedder=_RealQuestions(real, embedder.name),
                   auto_build=False)
    qa.ask("What does the first report say?")  # warm: the index and retriever loaded, the model run once
    ask_s, base_s = [], []
    for question in asked:
        t0 = time.perf_counter()
        qa.ask(question)
        ask_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loaded.search(np.asarray(real.encode([question]), dtype=np.float32)[0], 10)
        base_s.append(time.perf_counter() - t0)
    ask, base = summary(ask_s), summary(base_s)
    ratio = round(ask["p50_ms"] / base["p50_ms"], 3)
    return {"ask": ask, "encode_and_search": base, "ratio_p50": ratio, "goal": f"ratio_p50 <= {ASK_RATIO_GOAL}",
            "met": ratio <= ASK_RATIO_GOAL}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: run one ``build`` or ``query`` step and print its JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    parser.add_argument("step", choices=("build", "query"))
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--sections", type=int, default=1000)
    parser.add_argument("--vectors", choices=("real", "proxy"), default="real")
    parser.add_argument("--asks", type=int, default=100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="bench: %(message)s", stream=sys.stderr)
    if args.step == "build":
        result = run_build(args.sections, args.root, args.vectors)
    else:
        result = run_query(args.root, args.vectors, asks=args.asks)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
