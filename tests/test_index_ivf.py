"""The FAISS index chosen by size: exact Flat for small corpora, IVF (exactly re-scored) beyond the threshold.

The threshold is lowered so a small synthetic corpus takes the IVF path; vectors
come from the real model.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from alliance_qa import index as index_mod
from alliance_qa.bench.synth import edit_one_section, questions, write_corpus
from alliance_qa.embed import SentenceTransformerEmbedder
from alliance_qa.index import build_index, load_index


def _ids(faiss_index: faiss.Index) -> np.ndarray:
    lists = faiss_index.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)).copy()
        for n in range(faiss_index.nlist)
        if lists.list_size(n)
    ]
    return np.sort(np.concatenate(parts))


def test_small_corpus_keeps_exact_flat_index(assistant) -> None:  # type: ignore[no-untyped-def]
    loaded = assistant.index
    assert type(loaded.faiss_index).__name__ == "IndexFlatIP", loaded.manifest.get("faiss")
    assert loaded.exact
    assert loaded.manifest["faiss"]["type"] == "IndexFlatIP"


def test_ivf_above_threshold_scores_exactly_and_updates_incrementally(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_mod, "FLAT_MAX_VECTORS", 100)
    corpus = write_corpus(tmp_path / "corpus", 60, per_file=20)
    index_dir = tmp_path / "index"
    build_index(corpus.folder, index_dir, embedder, model=embedder.name)
    first = load_index(index_dir)
    assert type(first.faiss_index).__name__ == "IndexIVFScalarQuantizer", first.manifest["faiss"]
    assert not first.exact
    assert first.manifest["faiss"]["nprobe"] == first.faiss_index.nprobe >= 1

    queries = embedder.encode(questions(20))
    for query in queries:
        scores, rows = first.search(query, 10)
        assert np.allclose(scores, first.vectors[rows] @ query, atol=1e-5), "IVF hits must carry exact cosine scores"
        assert list(scores) == sorted(scores, reverse=True)
    truth = np.sort(queries @ first.vectors.T, axis=1)[:, ::-1][:, :10]
    recall = index_mod.approximate_recall(first.faiss_index, first.vectors, queries, truth)
    assert recall >= 0.95, f"recall@10 of the IVF index is {recall:.3f}, expected >= 0.95"

    edit_one_section(corpus)
    report = build_index(corpus.folder, index_dir, embedder, model=embedder.name)
    assert report.sections_embedded == 1, report.summary()
    second = load_index(index_dir)
    assert type(second.faiss_index).__name__ == "IndexIVFScalarQuantizer"
    assert np.array_equal(_ids(second.faiss_index), np.arange(len(second.units))), "every row must be in one list"
    for query in queries[:5]:
        scores, rows = second.search(query, 5)
        assert np.allclose(scores, second.vectors[rows] @ query, atol=1e-5)

    build_index(corpus.folder, index_dir, embedder, model=embedder.name, full=True)
    fresh = load_index(index_dir)
    for query in queries:
        assert set(second.search(query, 3)[1]) == set(fresh.search(query, 3)[1])
