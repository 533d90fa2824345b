"""The FAISS index chosen by size: exact Flat for small corpora, IVF (exactly re-scored) beyond the threshold.

The threshold is lowered so a small synthetic corpus takes the IVF path; its vectors come from the
real model (recall and incremental-equals-fresh need real vectors' clusters); the Flat check uses the fake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from benchmarks.synth import edit_one_section, questions, write_corpus

from alliance_qa import ann
from alliance_qa.assistant import Assistant
from alliance_qa.build import build_index
from alliance_qa.embed import SentenceTransformerEmbedder
from alliance_qa.load import load_index


def _ids(faiss_index: Any) -> np.ndarray:
    lists = faiss_index.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)).copy()
        for n in range(faiss_index.nlist)
        if lists.list_size(n)
    ]
    return np.sort(np.concatenate(parts))


def test_small_corpus_keeps_exact_flat_index(fake_assistant: Assistant) -> None:
    loaded = fake_assistant.index
    assert type(loaded.faiss_index).__name__ == "IndexFlatIP", loaded.manifest.get("faiss")
    assert loaded.exact
    assert loaded.manifest["faiss"]["type"] == "IndexFlatIP"


def test_ivf_above_threshold_scores_exactly_and_updates_incrementally(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "FLAT_MAX_VECTORS", 100)
    corpus = write_corpus(tmp_path / "corpus", 30, per_file=10)
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
    truth = np.sort(queries @ np.asarray(first.vectors).T, axis=1)[:, ::-1][:, :10]
    recall = ann.approximate_recall(first.faiss_index, np.asarray(first.vectors), queries, truth)
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

    # What `build --full` makes of the same vectors (the model is deterministic): a freshly trained IVF.
    fresh = ann.make_faiss_index(np.asarray(second.vectors))
    assert type(fresh).__name__ == "IndexIVFScalarQuantizer"
    for query in queries:
        assert set(second.search(query, 3)[1]) == set(ann.search(fresh, np.asarray(second.vectors), query.reshape(1, -1), 3, exact=False)[1])
