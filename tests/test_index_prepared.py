"""The retrieval tables saved with a build (format 2): equal to the in-memory computation, read lazily,
verified by stamps, an older build still served, and damage to a saved table caught.

Plumbing: the fake embedder stands in for the model; that answers are unchanged is test_quality's.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from alliance_qa import verify
from alliance_qa.assistant import Assistant
from alliance_qa.build import build_index
from alliance_qa.errors import IndexStateError
from alliance_qa.lexical import LexicalIndex, WordCounts, count_words
from alliance_qa.load import DATA_FILES, OFFSET_FILES, load_index, read_build
from alliance_qa.prepared import PREPARED_FILES, Prepared, prepare
from alliance_qa.rows import JsonlRows
from fakeembed import HashEmbedder
from robustutil import PORTS, current, later_copy_as_current

pytestmark = pytest.mark.usefixtures("fake_model")

QUESTIONS = (PORTS, "What does Russia want?", "energy deal pipeline", "Who is Kim Jong Un meeting?", "educatoin exchnages")


def assert_same_tables(saved: Prepared, computed: Prepared) -> None:
    for name in ("unit_section", "unit_kind", "unit_sentence", "unit_counted", "unit_common", "section_doc",
                 "section_intro", "section_sentences", "commons"):
        assert np.array_equal(np.asarray(getattr(saved, name)), np.asarray(getattr(computed, name))), name
    assert saved.documents == computed.documents
    assert saved.lexical.tables == computed.lexical.tables
    for stem in computed.lexical.df:
        assert np.array_equal(saved.lexical.bm25.get_scores([stem]), computed.lexical.bm25.get_scores([stem])), stem
    assert saved.lexical.counts is not None and computed.lexical.counts is not None
    for name in ("words", "indptr", "indices", "counts"):
        assert np.array_equal(np.asarray(getattr(saved.lexical.counts, name)), np.asarray(getattr(computed.lexical.counts, name))), name


def answers(corpus_dir: Path, index_dir: Path, embedder: HashEmbedder) -> list[tuple[str, list[str]]]:
    qa = Assistant(corpus_dir, index_dir, embedder.name, embedder=embedder, auto_build=False)
    return [(a.text, [c.section_id for c in a.citations]) for a in (qa.ask(q) for q in QUESTIONS)]


def test_saved_tables_equal_the_in_memory_computation(good: tuple[Path, Path, Path]) -> None:
    _, index_dir, build = good
    loaded = load_index(index_dir)
    assert isinstance(loaded.sections, JsonlRows) and isinstance(loaded.units, JsonlRows)  # no text parsed on load
    assert isinstance(loaded.vectors, np.memmap)
    assert loaded.saved_prepared is not None
    sections, units = list(loaded.sections), list(loaded.units)
    assert [loaded.sections[i] for i in range(len(sections))] == sections and loaded.sections[-1] == sections[-1]
    assert_same_tables(loaded.saved_prepared, prepare(sections, units, np.array(loaded.vectors)))
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert set(manifest["sha256"]) == {*DATA_FILES, *OFFSET_FILES, *PREPARED_FILES, "profile.json"}


def test_a_format_1_build_still_loads_and_answers_the_same(good: tuple[Path, Path, Path], fake_embedder: HashEmbedder) -> None:
    corpus_dir, index_dir, build = good
    before = answers(corpus_dir, index_dir, fake_embedder)
    for name in (*OFFSET_FILES, *PREPARED_FILES):  # the layout an earlier version wrote
        (build / name).unlink()
    manifest = json.loads((build / "manifest.json").read_text())
    names = [*DATA_FILES, "profile.json"]
    manifest.update(format_version=1, files={n: manifest["files"][n] for n in names}, sha256={n: manifest["sha256"][n] for n in names})
    del manifest["stamps"]
    (build / "manifest.json").write_text(json.dumps(manifest))

    loaded = load_index(index_dir)
    assert loaded.build_id == build.name and loaded.saved_prepared is None and isinstance(loaded.sections, list)
    assert answers(corpus_dir, index_dir, fake_embedder) == before
    # The next build writes the new layout, re-embedding nothing.
    report = build_index(corpus_dir, index_dir, fake_embedder, model=fake_embedder.name)
    assert not report.unchanged and report.embedded == 0
    assert json.loads((current(index_dir) / "manifest.json").read_text())["format_version"] == 2
    assert load_index(index_dir).saved_prepared is not None
    assert answers(corpus_dir, index_dir, fake_embedder) == before


@pytest.mark.parametrize("name", ["lexical.json", "bm25.data.npy", "units.npy", "units.offsets.npy"])
def test_a_damaged_saved_table_falls_back_to_the_last_good_build(
    name: str, good: tuple[Path, Path, Path], fake_embedder: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    corpus_dir, index_dir, first = good
    second = later_copy_as_current(index_dir, first)

    path = second / name
    data = bytearray(path.read_bytes())
    data[-8:] = bytes(b ^ 0xFF for b in data[-8:])  # same size, other bytes
    path.write_bytes(bytes(data))
    problem = f"index file {path} does not match the checksum in its manifest: it is damaged; run `alliance-qa build`"
    with pytest.raises(IndexStateError, match="does not match the checksum"):
        read_build(second)
    with caplog.at_level(logging.WARNING, logger="alliance_qa"):
        assert load_index(index_dir).build_id == first.name
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alliance_qa")] == [
        problem, f"using the last good index build {first.name} instead of the damaged current one"
    ]
    qa = Assistant(corpus_dir, index_dir, fake_embedder.name, embedder=fake_embedder, auto_build=False)
    assert qa.ask(PORTS).citations[0].number == 8 and qa.index.build_id == first.name


def test_malformed_tables_with_matching_checksums_are_reported_not_raised(good: tuple[Path, Path, Path]) -> None:
    _, _, build = good
    (build / "lexical.json").write_text('{"n_docs": 3}\n')
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["files"]["lexical.json"] = (build / "lexical.json").stat().st_size
    manifest["sha256"]["lexical.json"] = verify.file_sha256(build / "lexical.json")
    (build / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexStateError) as info:
        read_build(build)
    assert str(info.value) == f"index at {build} is damaged (KeyError: 'words'): run `alliance-qa build`"


def test_untouched_files_are_not_hashed_again_and_a_rewritten_one_is(
    corpus_dir: Path, tmp_path: Path, fake_embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch, hashed_files: list[str]
) -> None:
    index_dir = tmp_path / "own"  # built in place: a copy's files have new inodes, so they are always hashed
    build_index(corpus_dir, index_dir, fake_embedder, model=fake_embedder.name)
    build = current(index_dir)
    manifest = json.loads((build / "manifest.json").read_text())
    hashed = hashed_files

    latest = max((build / name).stat().st_mtime_ns for name in manifest["sha256"])
    manifest["stamps"]["taken_ns"] = latest + verify.RACY_NS // 2  # stamps taken right after the last write: racy
    (build / "manifest.json").write_text(json.dumps(manifest))
    read_build(build)
    assert sorted(hashed) == sorted(name for name in manifest["sha256"]
                                    if (build / name).stat().st_mtime_ns >= latest - verify.RACY_NS // 2)
    assert "profile.json" in hashed  # the last file written is always among them
    hashed.clear()
    manifest["stamps"]["taken_ns"] = latest + 10 * verify.RACY_NS  # as if hashing a large build took a second
    (build / "manifest.json").write_text(json.dumps(manifest))
    read_build(build)
    assert hashed == []
    monkeypatch.setenv(verify.ENV_VERIFY, "full")
    read_build(build)
    assert sorted(hashed) == sorted(manifest["sha256"])
    monkeypatch.delenv(verify.ENV_VERIFY)

    path = build / "vectors.npy"
    info = path.stat()
    data = bytearray(path.read_bytes())
    data[-16:] = bytes(b ^ 0xFF for b in data[-16:])
    with path.open("r+b") as fh:  # rewritten in place: same inode and size
        fh.write(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))  # a later write (no waiting for the clock)
    with pytest.raises(IndexStateError, match=r"vectors\.npy does not match the checksum"):
        read_build(build)


def test_an_unchanged_corpus_is_not_read_again_on_first_load(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder, parsed_files: list[str]
) -> None:
    corpus_dir, index_dir, _ = good
    qa = Assistant(corpus_dir, index_dir, fake_embedder.name, embedder=fake_embedder, auto_build=False)
    assert qa.ask(PORTS).citations[0].number == 8 and parsed_files == [] and qa.notice is None
    article = next(corpus_dir.glob("*.txt"))
    article.write_text(article.read_text(encoding="utf-8").replace("Rajin", "Rason"), encoding="utf-8")
    fresh = Assistant(corpus_dir, index_dir, fake_embedder.name, embedder=fake_embedder, auto_build=False)
    fresh.ask(PORTS)
    assert parsed_files == [article.name]  # only the edited file
    assert fresh.notice is not None and "edited" in fresh.notice


def test_an_incremental_build_saves_the_same_tables_and_answers_as_a_fresh_one(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder, tmp_path: Path
) -> None:
    corpus_dir, index_dir, _ = good
    article = next(corpus_dir.glob("*.txt"))
    article.write_text(article.read_text(encoding="utf-8").replace("Rajin", "Rajin and Chongjin"), encoding="utf-8")
    report = build_index(corpus_dir, index_dir, fake_embedder, model=fake_embedder.name)
    assert report.sections_embedded == 1 and report.reused > 0
    fresh_dir = tmp_path / "fresh"
    build_index(corpus_dir, fresh_dir, fake_embedder, model=fake_embedder.name, full=True)
    incremental, fresh = load_index(index_dir), load_index(fresh_dir)
    assert list(incremental.sections) == list(fresh.sections) and list(incremental.units) == list(fresh.units)
    assert incremental.saved_prepared is not None and fresh.saved_prepared is not None
    assert_same_tables(incremental.saved_prepared, fresh.saved_prepared)
    assert answers(corpus_dir, index_dir, fake_embedder) == answers(corpus_dir, fresh_dir, fake_embedder)


def test_a_keyword_index_joined_from_saved_word_counts_equals_one_made_from_the_text() -> None:
    texts = ["Ports and rail: Rajin port, rail links.", "", "the of and", "Energy: a gas pipeline; Russian gas.",
             "Cuban cigars from Cuba", "rail rail rail ports energy", "Zebra crossings"]
    groups = [0, 0, 0, 1, 1, 1, 2]
    whole = LexicalIndex(texts, groups=groups)
    counts = count_words(texts)
    # Rows kept from a previous build, one edited document counted again, one removed: as an incremental build does.
    edited = count_words(["Energy: oil, not gas."])
    joined = WordCounts.join([counts.rows(0, 3), edited, counts.rows(4, 6)])
    again = LexicalIndex([*texts[:3], "Energy: oil, not gas.", *texts[4:6]], groups=groups[:6])
    made = LexicalIndex.from_counts(joined, groups=groups[:6])
    assert made.tables == again.tables and "zebra" not in made.tables.words and "oil" in made.tables.words
    assert made.tables.generic == again.tables.generic and whole.tables != made.tables
    for stem in again.df:
        assert np.array_equal(made.bm25.get_scores([stem]), again.bm25.get_scores([stem])), stem
    assert made.bm25.get_scores(["\u2205"])[1] > 0  # the empty document has a length, as bm25s gives it


def test_rows_read_one_at_a_time_equal_the_file_and_refuse_wrong_offsets(tmp_path: Path) -> None:
    from alliance_qa.rows import read_jsonl, write_jsonl

    path = tmp_path / "rows.jsonl"
    rows = [{"n": i, "text": "é" * i} for i in range(5)]
    offsets = write_jsonl(path, rows)
    lazy = JsonlRows(path, offsets, dict)
    assert [lazy[i] for i in range(5)] == rows == read_jsonl(path) and lazy == rows and lazy[-1] == rows[-1]
    with pytest.raises(IndexError):
        lazy[5]
    with pytest.raises(ValueError, match=r"the line offsets of rows\.jsonl do not match its \d+ bytes"):
        JsonlRows(path, offsets[:-1], dict)
