"""Incremental builds as a delta segment (delta.py, segments.py): after any edit the build equals a fresh one,
links its base instead of copying it, reads only the edited files, and falls back to a whole build when the delta
grows past its share.

Plumbing: the fake embedder stands in for the model (thresholds lowered so a small corpus takes the delta path);
that the real model's answers hold is test_quality's.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alliance_qa import delta, verify
from alliance_qa.assistant import Assistant
from alliance_qa.build import build_index, edited_reasons, stale_reasons
from alliance_qa.corpus import corpus_fingerprint, read_corpus
from alliance_qa.embed import SentenceTransformerEmbedder
from alliance_qa.errors import BuildError
from alliance_qa.load import current_build, load_index
from alliance_qa.prepared import WORD_COUNT_FILES
from alliance_qa.rows import JsonlRows
from alliance_qa.segments import Ordered, OrderedVectors
from fakeembed import HashEmbedder
from test_index_prepared import assert_same_tables

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ("Which ports matter for trade?", "How do I install it?", "What does the guide say about tables?",
             "What is the energy deal?", "zebra crossings")


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Several documents of different shapes (the article, a numbered text, a Markdown guide), deltas always on."""
    monkeypatch.setattr(delta, "MIN_TEXTS", 0)
    monkeypatch.setattr(delta, "MERGE_SHARE", 10.0)
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(next((ROOT / "corpus").glob("*.txt")), folder / "article.txt")
    for source in ("numbered-txt", "markdown-guide"):
        for path in sorted((ROOT / "tests" / "data" / source).iterdir()):
            if path.suffix in (".txt", ".md"):
                (folder / source).mkdir(exist_ok=True)
                shutil.copy(path, folder / source / path.name)
    return folder


@pytest.fixture
def built(corpus: Path, tmp_path: Path, fake_model: HashEmbedder) -> Path:
    """The index folder of a first (whole) build of ``corpus``."""
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, fake_model, model=fake_model.name)
    return index_dir


def answers(corpus_dir: Path, index_dir: Path, embedder: HashEmbedder | SentenceTransformerEmbedder,
            questions: tuple[str, ...] = QUESTIONS) -> list[tuple[str, list[str]]]:
    qa = Assistant(corpus_dir, index_dir, embedder.name, embedder=embedder, auto_build=False)
    return [(a.text, [c.section_id for c in a.citations]) for a in (qa.ask(q) for q in questions)]


def assert_equals_fresh(corpus_dir: Path, index_dir: Path, embedder: HashEmbedder, tmp_path: Path) -> None:
    fresh_dir = tmp_path / f"fresh-{len(list(tmp_path.iterdir()))}"
    build_index(corpus_dir, fresh_dir, embedder, model=embedder.name, full=True)
    built, fresh = load_index(index_dir), load_index(fresh_dir)
    assert list(built.sections) == list(fresh.sections) and list(built.units) == list(fresh.units)
    assert np.array_equal(np.asarray(built.vectors), np.asarray(fresh.vectors))
    assert built.manifest["sections"] == fresh.manifest["sections"]
    assert built.saved_prepared is not None and fresh.saved_prepared is not None
    assert_same_tables(built.saved_prepared, fresh.saved_prepared)
    vectors = np.asarray(fresh.vectors)
    for vector in vectors[::7]:  # the same scores, rank by rank (equal texts tie in any order)
        (scores, rows), (want, _) = built.search(vector, 5), fresh.search(vector, 5)
        assert np.allclose(scores, want) and np.allclose(vectors[rows] @ vector, want)
    assert answers(corpus_dir, index_dir, embedder) == answers(corpus_dir, fresh_dir, embedder)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_every_kind_of_edit_as_a_delta_equals_a_fresh_build(
    corpus: Path, built: Path, tmp_path: Path, fake_model: HashEmbedder
) -> None:
    index_dir = built
    first = load_index(index_dir)
    assert "delta" not in first.manifest
    guide = next((corpus / "markdown-guide").glob("*.md"))
    numbered = next((corpus / "numbered-txt").glob("*.txt"))
    steps = [
        lambda: edit(corpus / "article.txt", "Rajin", "Rajin and Chongjin"),  # one sentence
        lambda: (corpus / "zebra.md").write_text("# Zebra crossings\n\nA zebra crossing gives people on foot the "
                                                 "right of way over cars.\n", encoding="utf-8"),  # a new document
        lambda: edit(guide, "\n## ", "\n## A new heading\n\nWith a paragraph of its own about tables and rows.\n\n## "),
        lambda: edit(corpus / "article.txt", "Rajin and Chongjin", "Rajin"),  # back: vectors from the delta's base
        lambda: (corpus / "zebra.md").unlink(),  # a removed document
        lambda: numbered.write_text(numbered.read_text(encoding="utf-8").replace("1.", "1.", 1) + "\n", encoding="utf-8"),
    ]
    for number, step in enumerate(steps):
        before = load_index(index_dir)
        step()
        report = build_index(corpus, index_dir, fake_model, model=fake_model.name)
        after = load_index(index_dir)
        assert "delta" in after.manifest, f"step {number} was written whole"
        assert isinstance(after.sections, Ordered) and isinstance(after.vectors, OrderedVectors)
        assert report.unchanged == (number == len(steps) - 1), number  # the last edit changes no section
        if not report.unchanged:
            for name in ("vectors.npy", "index.faiss", "units.jsonl"):  # the base is linked, not copied
                assert (after.path / name).stat().st_ino == (before.path / name).stat().st_ino
        assert_equals_fresh(corpus, index_dir, fake_model, tmp_path)


def test_a_delta_reads_only_the_edited_file_and_embeds_only_its_new_texts(
    corpus: Path, built: Path, fake_model: HashEmbedder, parsed_files: list[str]
) -> None:
    index_dir = built
    parsed_files.clear()
    edit(corpus / "article.txt", "Rajin", "Rajin and Chongjin")
    calls = fake_model.calls
    report = build_index(corpus, index_dir, fake_model, model=fake_model.name)
    assert parsed_files == ["article.txt"]
    assert report.sections_embedded == 1 and report.removed == 0 and report.embedded <= 3
    assert fake_model.calls > calls  # the new texts, and the example questions checked
    manifest = json.loads((index_dir / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["delta"]["units"] == report.embedded + 1  # the edited sentence, and its window re-averaged


def test_a_delta_past_its_share_is_merged_into_a_whole_build(
    corpus: Path, built: Path, tmp_path: Path, fake_model: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = built
    edit(corpus / "article.txt", "Rajin", "Rajin and Chongjin")
    build_index(corpus, index_dir, fake_model, model=fake_model.name)
    assert "delta" in load_index(index_dir).manifest
    monkeypatch.setattr(delta, "MERGE_SHARE", 0.01)
    edit(next((corpus / "numbered-txt").glob("*.txt")), "\n2. ", "\n2. Tools and ")
    report = build_index(corpus, index_dir, fake_model, model=fake_model.name)
    assert "delta" not in load_index(index_dir).manifest  # written whole, every vector but the edit's kept
    assert report.sections_embedded == 1 and report.embedded <= 3 and report.removed == 0
    assert_equals_fresh(corpus, index_dir, fake_model, tmp_path)


def test_a_damaged_delta_falls_back_to_the_build_before_it(
    corpus: Path, built: Path, fake_model: HashEmbedder
) -> None:
    index_dir = built
    first = load_index(index_dir).path
    edit(corpus / "article.txt", "Rajin", "Rajin and Chongjin")
    build_index(corpus, index_dir, fake_model, model=fake_model.name)
    damaged = load_index(index_dir).path
    with (damaged / "delta.vectors.npy").open("r+b") as fh:
        fh.seek(-8, 2)
        fh.write(b"\x00\x01\x02\x03\x04\x05\x06\x07")
    assert load_index(index_dir).path == first  # the base it shares is intact and still checks


def test_loading_a_delta_hashes_only_what_it_wrote(
    corpus: Path, built: Path, fake_model: HashEmbedder, monkeypatch: pytest.MonkeyPatch, hashed_files: list[str]
) -> None:
    index_dir = built
    edit(corpus / "article.txt", "Rajin", "Rajin and Chongjin")
    build_index(corpus, index_dir, fake_model, model=fake_model.name)
    hashed = hashed_files
    for stamp in load_index(index_dir).manifest["stamps"]["files"].values():
        assert stamp  # every file has one, the linked ones included
    monkeypatch.setattr(verify, "RACY_NS", 0)  # files written a moment ago count as settled here
    hashed.clear()
    load_index(index_dir)
    assert hashed == []
    monkeypatch.setenv(verify.ENV_VERIFY, "full")
    load_index(index_dir)
    assert {"vectors.npy", "delta.vectors.npy", "order.units.npy"} <= set(hashed)


def test_a_build_saved_without_word_counts_is_read_lazily_and_its_next_edit_written_whole(
    corpus: Path, built: Path, tmp_path: Path, fake_model: HashEmbedder
) -> None:
    index_dir = built
    folder = load_index(index_dir).path
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for name in WORD_COUNT_FILES:  # as the version before them wrote it
        (folder / name).unlink()
        for key in ("files", "sha256"):
            del manifest[key][name]
        del manifest["stamps"]["files"][name]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    older = load_index(index_dir)
    assert older.path == folder and isinstance(older.sections, JsonlRows)
    assert older.saved_prepared is not None and older.saved_prepared.lexical.counts is None
    edit(corpus / "article.txt", "Rajin", "Rajin and Chongjin")
    build_index(corpus, index_dir, fake_model, model=fake_model.name)
    rebuilt = load_index(index_dir)
    assert "delta" not in rebuilt.manifest and set(WORD_COUNT_FILES) <= set(rebuilt.manifest["files"])
    assert_equals_fresh(corpus, index_dir, fake_model, tmp_path)


def test_noticing_edits_reads_only_the_edited_files_and_says_what_reading_everything_says(
    corpus: Path, built: Path, fake_model: HashEmbedder, parsed_files: list[str]
) -> None:
    index_dir = built
    loaded = load_index(index_dir)
    guide = next((corpus / "markdown-guide").glob("*.md"))
    edits = [
        lambda: None,
        lambda: edit(corpus / "article.txt", "Rajin", "Rajin and Chongjin"),
        lambda: (corpus / "new.md").write_text("# New\n\nA new document about zebra crossings.\n", encoding="utf-8"),
        lambda: guide.unlink(),
        lambda: (corpus / "new.md").write_text("", encoding="utf-8"),
    ]
    for number, step in enumerate(edits):
        step()
        fingerprint = corpus_fingerprint(corpus)
        parsed_files.clear()
        quick = edited_reasons(loaded, corpus, fingerprint, fake_model.name)
        read = len(parsed_files)
        sections, _ = read_corpus(corpus, reuse=loaded.sections_by_file(fingerprint))
        assert quick == stale_reasons(loaded, sections, fake_model.name), number
        assert read == [0, 1, 2, 2, 1][number], number  # the article, the new file (not once emptied), never the guide


def test_with_the_real_model_a_delta_answers_as_a_fresh_build(
    corpus: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    index_dir, fresh_dir = tmp_path / "index", tmp_path / "fresh"
    build_index(corpus, index_dir, embedder, model=embedder.name)
    edit(corpus / "article.txt", "Rajin", "Rajin and Chongjin")
    report = build_index(corpus, index_dir, embedder, model=embedder.name)
    assert "delta" in load_index(index_dir).manifest and report.sections_embedded == 1
    build_index(corpus, fresh_dir, embedder, model=embedder.name, full=True)
    asked = (*QUESTIONS, "Which ports does Russia want to use?")
    got = answers(corpus, index_dir, embedder, asked)
    assert got == answers(corpus, fresh_dir, embedder, asked)
    assert "Chongjin" in got[-1][0] and got[-1][1][0] == "article.txt#8"


def test_a_delta_that_fails_to_write_leaves_the_current_build_answering(
    corpus: Path, built: Path, fake_model: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = built
    before = load_index(index_dir).path
    edit(corpus / "article.txt", "Rajin", "Rajin and Chongjin")
    real_save = np.save

    def full_disk(path: object, data: object, **options: object) -> None:
        if str(path).endswith("delta.vectors.npy"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(path, data, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(np, "save", full_disk)
    with pytest.raises(BuildError, match="No space left on device"):
        build_index(corpus, index_dir, fake_model, model=fake_model.name)
    monkeypatch.undo()
    assert load_index(index_dir).path == before and not list((index_dir / "builds").glob(".tmp-*"))
    assert (before / "vectors.npy").stat().st_nlink == 1  # the linked copy went with the temporary folder
    qa = Assistant(corpus, index_dir, fake_model.name, embedder=fake_model, auto_build=False)
    assert qa.ask(QUESTIONS[0]).citations and qa.notice is not None and "edited" in qa.notice


def test_the_delta_thresholds_are_settings(
    corpus: Path, tmp_path: Path, fake_model: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delta, "MIN_TEXTS", 20_000)  # the shipped default: this corpus is far below it
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, fake_model, model=fake_model.name)

    def edit_and_build(old: str, new: str) -> dict[str, Any]:
        edit(corpus / "article.txt", old, new)
        build_index(corpus, index_dir, fake_model, model=fake_model.name)
        return json.loads((index_dir / "current" / "manifest.json").read_text(encoding="utf-8"))

    assert "delta" not in edit_and_build("Rajin", "Rajin and Chongjin")
    monkeypatch.setenv("ALLIANCE_QA_DELTA_MIN_TEXTS", "1")
    assert "delta" in edit_and_build("Chongjin", "Chongjin and Hamhung")
    monkeypatch.setenv("ALLIANCE_QA_DELTA_MERGE_SHARE", "0.0001")  # any edit is more than that: written whole
    assert "delta" not in edit_and_build("Hamhung", "Hamhung and Wonsan")
    monkeypatch.setenv("ALLIANCE_QA_DELTA_MERGE_SHARE", "lots")
    before = current_build(index_dir)
    with pytest.raises(BuildError, match=r"^ALLIANCE_QA_DELTA_MERGE_SHARE='lots' is not a share between 0 and 0\.5"):
        edit_and_build("Wonsan", "Wonsan and Nampo")
    assert current_build(index_dir) == before
