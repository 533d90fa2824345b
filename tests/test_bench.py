"""Smoke test of the benchmark harness on tiny corpora: it runs, its figures are well-formed. No timing asserts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from benchmarks import cold, measure, runner, scale
from benchmarks.synth import edit_one_section, questions, write_corpus

from alliance_qa.assistant import Assistant
from alliance_qa.corpus import read_corpus
from alliance_qa.embed import SentenceTransformerEmbedder

REPO = Path(__file__).resolve().parents[1]


def test_synthetic_corpus_is_seeded_varied_and_unique(tmp_path: Path) -> None:
    first = write_corpus(tmp_path / "a", 250, per_file=50, seed=4)
    again = write_corpus(tmp_path / "b", 250, per_file=50, seed=4)
    other = write_corpus(tmp_path / "c", 250, per_file=50, seed=5)
    assert [p.read_bytes() for p in first.files] == [p.read_bytes() for p in again.files]
    assert [p.read_bytes() for p in first.files] != [p.read_bytes() for p in other.files]
    sections, warnings = read_corpus(first.folder)
    assert len(sections) == first.sections == 250, [s.title for s in sections[:3]]
    assert not warnings, warnings[:3]  # e.g. no duplicate titles
    sentences = [s for section in sections for s in section.sentences]
    assert len(set(sentences)) > 0.95 * len(sentences), "sentences should rarely repeat"
    assert len({len(s.sentences) for s in sections}) >= 4, "sections should differ in length"
    assert any("\u0435" in p.read_text(encoding="utf-8") for p in first.files), "some files use look-alike letters"


def test_edit_one_section_changes_exactly_one(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 30, per_file=10)
    before = {s.id: s.content_hash for s in read_corpus(corpus.folder)[0]}
    added = edit_one_section(corpus)
    after = {s.id: s.content_hash for s in read_corpus(corpus.folder)[0]}
    assert before.keys() == after.keys()
    changed = [sid for sid in before if before[sid] != after[sid]]
    assert len(changed) == 1, changed
    assert added in (corpus.folder / corpus.files[1].name).read_text(encoding="utf-8")


def test_article_questions_are_distinct_and_enough(corpus_dir: Path) -> None:
    asked = measure.article_questions(corpus_dir, 240, repo=REPO)
    assert len(asked) == len(set(asked)) == 240
    assert any(q in asked for q in measure.OFF_TOPIC)
    assert len(questions(50)) == 50


def test_warm_latency_and_build_throughput(
    tmp_path: Path, shared_assistant: Assistant, embedder: SentenceTransformerEmbedder
) -> None:
    # The session's article index (read-only: warm_latency never builds); prepare_article runs in the runner test.
    corpus, index = shared_assistant.settings.corpus_dir, shared_assistant.settings.index_dir
    asked = measure.article_questions(corpus, 6, repo=REPO)
    warm = measure.warm_latency(corpus, index, embedder, asked, repeats=1)
    run = warm["runs"][0]
    assert warm["questions"] == 6 and run["ask"]["n"] == 6 == run["bare"]["n"] == run["ask_without_embedding"]["n"]
    # One repeat: the figures are that run's, each p50 <= p95, and the ratio and the goal follow from them.
    assert (warm["ask_p50_ms"], warm["bare_p50_ms"]) == (run["ask"]["p50_ms"], run["bare"]["p50_ms"])
    assert 0 < warm["ask_p50_ms"] <= warm["ask_p95_ms"] and 0 < warm["bare_p50_ms"] <= warm["bare_p95_ms"]
    assert 0 <= warm["ask_without_embedding_p50_ms"] < warm["ask_p50_ms"]  # ask's own time excludes the embedding
    assert warm["ratio_p50"] == round(warm["ask_p50_ms"] / warm["bare_p50_ms"], 3)
    assert warm["met"] is (warm["ask_p50_ms"] / warm["bare_p50_ms"] <= 1.3)

    build = measure.build_throughput(tmp_path / "build", embedder, sections=6, rounds=1)
    assert build["sections"] == 6 and build["texts"] > 6
    assert build["rounds"]["build"] == [build["build_texts_per_s"]] and build["rounds"]["raw"] == [build["raw_encode_texts_per_s"]]
    assert build["build_texts_per_s"] > 0 and build["raw_encode_texts_per_s"] > 0
    # The ratio comes from the unrounded rates; the rates are shown to 0.1 text/s.
    fast, slow = build["build_texts_per_s"], build["raw_encode_texts_per_s"]
    assert (fast - 0.05) / (slow + 0.05) - 5e-4 <= build["ratio"] <= (fast + 0.05) / (slow - 0.05) + 5e-4, build
    assert build["met"] is (build["ratio"] >= 0.9) or abs(build["ratio"] - 0.9) < 2e-3
    assert 0 < build["cpu_ratio"] < 10  # texts per CPU second, build against raw encode
    assert build["incremental"]["sections_embedded"] == 1, build["incremental"]
    assert 1 <= build["incremental"]["texts_embedded"] < build["texts"]


@pytest.mark.parametrize("vectors", ["real", "proxy"])
def test_scale_point_build_and_query(tmp_path: Path, embedder: SentenceTransformerEmbedder, vectors: str) -> None:
    built = scale.run_build(10, tmp_path, vectors)
    assert built["sections"] == 10 and built["build_measured"] is (vectors == "real")
    assert built["incremental"]["only_edited_section"], built["incremental"]
    assert built["index_mb"] > 0 and built["peak_rss_mb"] > 0
    if vectors == "proxy":
        assert built["real_embed_texts_per_s"] > 0 and "estimate" in built
    queried = scale.run_query(tmp_path, vectors, count=10, asks=3)
    assert queried["recall_at_10"] == 1.0 and queried["faiss"]["type"] == "IndexFlatIP"
    assert queried["ask"]["n"] == 3 and queried["search"]["n"] == 10


def test_import_trace_parsing() -> None:
    trace = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |     numpy.core\n"
        "import time:       200 |       5000 |   numpy\n"
        "import time:       300 |      12000 | gradio\n"
    )
    assert cold.imported_modules(trace) == {"numpy": 5.0, "gradio": 12.0}


def _fake_results() -> dict[str, Any]:
    level = {"clients": 1, "questions": 30, "answered": 30, "errors": 0, "questions_per_s": 5.0, "p50_ms": 100.0,
             "p95_ms": 150.0}  # fmt: skip
    return {
        "machine": measure.machine(),
        "warm": {"error": "RuntimeError: boom"},
        "server": {
            "first_answer": {"first_answer_s": 9.0, "listening_s": 8.5},
            "throughput": {"levels": [level], "echo_levels": [level]},
        },
        "scale": [{"sections": 100000, "error": "RuntimeError: out of memory"}],
        "realtext": {
            "sections": 196,
            "limit": {"texts": 498, "seconds": 15.7, "word_pieces_per_s": 5992.0},
            "sentences": {"seconds": 27.6, "word_pieces_per_s": 3413.0, "ratio": 1.76, "met": False},
            "averaged": {"seconds": 19.0, "word_pieces_per_s": 4950.0, "ratio": 1.21, "met": True},
            "pooled": {"seconds": 13.1, "word_pieces_per_s": 7205.0, "ratio": 0.83, "met": True},
        },
    }


def test_table_renders_errors_and_results() -> None:
    text = runner.table(_fake_results())
    assert "error: RuntimeError: boom" in text
    assert "out of memory" in text
    assert "server: start to first answer" in text
    lines = text.splitlines()
    assert any("real text: limit (196 sections, 498 pieces)" in line and "15.7 s" in line for line in lines)
    assert any("averaged chunking (default)" in line and "1.21" in line and line.endswith("met") for line in lines)
    assert any("sentences chunking  " in line and "1.76" in line and "MISSED" in line for line in lines)
    assert any("pooled chunking" in line and "0.83" in line and line.endswith("met") for line in lines)


def test_real_text_build_ratio_times_builds_against_the_limit(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    from benchmarks import realtext

    result = realtext.build_ratio(tmp_path, embedder, rounds=1, max_chapters=1, chunkings=("sentences",))
    limit, build = result["limit"], result["sentences"]
    assert result["sections"] >= 2 and limit["texts"] >= result["sections"] and limit["word_pieces"] > 0
    assert build["ratio"] == pytest.approx(build["seconds"] / limit["seconds"], abs=0.01)
    assert build["met"] == (build["seconds"] / limit["seconds"] <= realtext.GOAL)
    assert build["units"] > result["sections"]  # titles, windows and sentences


def test_runner_rejects_unknown_phase(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        runner.main(["--only", "warm,nonsense"])
    assert exc.value.code == 2
    assert "nonsense" in capsys.readouterr().err


def test_runner_writes_results_and_table(
    tmp_path: Path, corpus_dir: Path, embedder: SentenceTransformerEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench" / "results.json"
    code = runner.main(["--only", "warm", "--questions", "4", "--repeats", "1", "--corpus", str(corpus_dir),
                        "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["warm"]["questions"] == 4 and results["machine"]["cores"] >= 1
    assert "warm ask() p50 / p95" in capsys.readouterr().out
    shutil.rmtree(tmp_path / "bench")


def test_benchmark_harness_is_outside_the_package() -> None:
    from click.testing import CliRunner

    from alliance_qa.cli import main

    assert not (REPO / "src" / "alliance_qa" / "bench").exists()
    assert (REPO / "benchmarks" / "runner.py").exists()
    result = CliRunner().invoke(main, ["bench"])  # `make bench` runs benchmarks/, not the CLI
    assert result.exit_code == 2 and "No such command 'bench'" in result.output, result.output
    imports = re.compile(r"^\s*(?:from|import)\s+(?:benchmarks|unittest)\b", re.M)
    assert [p.name for p in (REPO / "src" / "alliance_qa").rglob("*.py") if imports.search(p.read_text("utf-8"))] == []
