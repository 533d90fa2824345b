"""Staleness: an edited corpus is noticed before answering (names, sizes, mtimes); plumbing, so the fake embedder.

With ``auto_build`` (the Python API, the CLI) ``ask`` and ``search`` rebuild first; without it (the running
server) the last build keeps answering, ``Assistant.notice`` says why, and ``search`` logs it once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import alliance_qa
from alliance_qa.assistant import Assistant
from fakeembed import HashEmbedder

pytestmark = pytest.mark.usefixtures("fake_model")

GUIDE = """Kettle Guide

How to use the office kettle.

1. Filling

Fill the kettle with cold water from the tap, up to the line marked on its side.

2. Descaling

Descale the kettle every month with white vinegar, then rinse it twice.
"""


def write(path: Path, text: str) -> None:
    """Write ``text`` and move the mtime forward, so the edit shows even on a coarse clock."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


@pytest.fixture
def guide(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir(exist_ok=True)
    write(folder / "kettle.txt", GUIDE)
    return folder


def edit(folder: Path) -> None:
    write(folder / "kettle.txt", GUIDE.replace("white vinegar", "citric acid powder"))


def test_ask_and_search_rebuild_after_an_edit(guide: Path, tmp_path: Path, fake_embedder: HashEmbedder) -> None:
    qa = Assistant(guide, tmp_path / "index", embedder=fake_embedder)
    assert "white vinegar" in qa.ask("How do I descale the kettle?").citations[0].quote
    edit(guide)
    answer = qa.ask("How do I descale the kettle?")
    assert "citric acid powder" in answer.citations[0].quote and answer.notice is None
    write(guide / "kettle.txt", GUIDE.replace("cold water", "filtered water"))
    assert "filtered water" in qa.search("How full should I fill the kettle?", k=1)[0].quote
    assert qa.notice is None


def test_a_new_file_is_noticed_too(guide: Path, tmp_path: Path, fake_embedder: HashEmbedder) -> None:
    qa = Assistant(guide, tmp_path / "index", embedder=fake_embedder)
    qa.search("kettle")
    write(guide / "toaster.txt", "Toaster Notes\n\nThe toaster crumb tray slides out from the back for cleaning.\n")
    hit = qa.search("Where is the toaster crumb tray?", k=1)[0]
    assert hit.document == "toaster.txt" and "crumb tray" in hit.quote


def test_without_auto_build_the_last_build_answers_with_a_notice(
    guide: Path, tmp_path: Path, fake_embedder: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    Assistant(guide, tmp_path / "index", embedder=fake_embedder).build()
    qa = Assistant(guide, tmp_path / "index", embedder=fake_embedder, auto_build=False)
    assert qa.ask("How do I descale the kettle?").notice is None
    edit(guide)
    with caplog.at_level(logging.WARNING, logger="alliance_qa.assistant"):
        hits = qa.search("How do I descale the kettle?", k=1)
        qa.search("How do I descale the kettle?", k=1)
    assert "white vinegar" in hits[0].quote  # the last build, unchanged
    assert qa.notice and "alliance-qa build" in qa.notice
    assert [r.getMessage() for r in caplog.records].count(qa.notice) == 1, "the notice is logged once, not per search"
    answer = qa.ask("How do I descale the kettle?")
    assert answer.notice == qa.notice and "white vinegar" in answer.citations[0].quote
    qa.build()
    assert qa.notice is None and "citric acid" in qa.ask("How do I descale the kettle?").citations[0].quote


def test_touching_a_file_without_changing_it_sets_no_notice(
    guide: Path, tmp_path: Path, fake_embedder: HashEmbedder
) -> None:
    qa = Assistant(guide, tmp_path / "index", embedder=fake_embedder, auto_build=False)
    Assistant(guide, tmp_path / "index", embedder=fake_embedder).build()
    qa.search("kettle")
    write(guide / "kettle.txt", GUIDE)
    qa.search("kettle")
    assert qa.notice is None


def test_the_module_level_api_rebuilds_after_an_edit(guide: Path, fake_embedder: HashEmbedder) -> None:
    # conftest points ALLIANCE_QA_CORPUS at tmp_path/corpus (the `guide` folder) and the index beside it.
    from alliance_qa import assistant as module

    module._default = Assistant(embedder=fake_embedder)  # the process-wide assistant, with the fake model
    assert "white vinegar" in alliance_qa.search("descale the kettle", k=1)[0].quote
    edit(guide)
    assert "citric acid powder" in alliance_qa.search("descale the kettle", k=1)[0].quote
    assert "citric acid powder" in alliance_qa.ask("How do I descale the kettle?").citations[0].quote


def test_noticing_an_edit_parses_only_the_edited_file(
    guide: Path, tmp_path: Path, fake_embedder: HashEmbedder, parsed_files: list[str]
) -> None:
    write(guide / "other.txt", GUIDE.replace("Kettle", "Toaster").replace("kettle", "toaster"))
    qa = Assistant(guide, tmp_path / "index", embedder=fake_embedder, auto_build=False)
    qa.build()
    assert qa.ask("How do I descale the kettle?").notice is None
    parsed = parsed_files
    parsed.clear()
    edit(guide)
    assert qa.ask("How do I descale the kettle?").notice  # noticed, not rebuilt (auto_build is off)
    assert parsed == ["kettle.txt"], "the unchanged file was parsed again to compare it with the build"


def test_a_large_corpus_is_checked_at_most_once_per_interval(
    guide: Path, tmp_path: Path, fake_embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alliance_qa.assistant as assistant_module

    write(guide / "toaster.txt", "Toaster Notes\n\nThe toaster crumb tray slides out from the back for cleaning.\n")
    monkeypatch.setattr(assistant_module, "WATCH_EVERY_FILES", 1)  # two files: "large"
    monkeypatch.setattr(assistant_module, "WATCH_INTERVAL_S", 3600.0)
    qa = Assistant(guide, tmp_path / "index", embedder=fake_embedder)
    assert "white vinegar" in qa.ask("How do I descale the kettle?").citations[0].quote
    edit(guide)
    assert "white vinegar" in qa.ask("How do I descale the kettle?").citations[0].quote, "walked within the interval"
    monkeypatch.setattr(assistant_module, "WATCH_INTERVAL_S", 0.0)  # the interval has passed
    answer = qa.ask("How do I descale the kettle?")
    assert "citric acid powder" in answer.citations[0].quote and answer.notice is None
