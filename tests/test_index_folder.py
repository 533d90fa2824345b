"""The index folder is ours only when we made it: foreign files are never deleted, renamed or replaced.

Every test starts from a copy of one build of the article (no embedding per test, except the
few texts an edit makes new); plumbing, so the fake embedder (``fake_model``) embeds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from alliance_qa.store import MARKER
from fakeembed import HashEmbedder
from robustutil import REPO, assert_answers_from, current, edit, run_cli

pytestmark = pytest.mark.usefixtures("fake_model")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), symlinks as their target."""
    out: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        if path.is_symlink():
            out[key] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            out[key] = path.read_bytes()
    return out


def foreign_folder(index_dir: Path) -> dict[str, bytes]:
    """Someone else's folder: two release builds, a notes file; returns its snapshot."""
    for name in ("release-1.0", "release-2.0"):
        (index_dir / "builds" / name).mkdir(parents=True)
        (index_dir / "builds" / name / "manifest.json").write_text(json.dumps({"release": name}))
    (index_dir / "notes.txt").write_text("keep me\n")
    return snapshot(index_dir)


def test_a_new_build_marks_its_folder(pristine: Path) -> None:
    assert (pristine / "index" / MARKER).is_file()


@pytest.mark.parametrize("command", [("build",), ("build", "--full"), ("ask", "Which ports matter for trade?")])
def test_build_in_a_folder_holding_foreign_files_keeps_them(command: tuple[str, ...], good: tuple[Path, Path, Path],
                                                            tmp_path: Path) -> None:
    corpus_dir, _, _ = good
    index_dir = tmp_path / "shared"
    before = foreign_folder(index_dir)
    code, out, err = run_cli(corpus_dir, index_dir, *command)
    assert (code, out) == (5, "")
    assert err == (
        f"alliance-qa: error: index folder {index_dir} is not empty and was not made by alliance-qa (it holds "
        "'builds/release-1.0', 'builds/release-2.0', 'notes.txt'): refusing to write there, so nothing in it is "
        "deleted or replaced. Set --index or ALLIANCE_QA_INDEX to a new or empty folder\n"
    )
    assert snapshot(index_dir) == before


def test_a_foreign_current_file_is_an_error_and_kept(good: tuple[Path, Path, Path]) -> None:
    corpus_dir, index_dir, _ = good
    (index_dir / "current").unlink()
    (index_dir / "current").write_text("my notes\n")
    before = snapshot(index_dir)
    code, out, err = run_cli(corpus_dir, index_dir, "build", "--full")
    assert (code, out) == (5, "")
    assert err == (
        f"alliance-qa: error: index folder {index_dir} has a 'current' that alliance-qa did not make (a file): "
        "refusing to replace it. Move it away, or set --index or ALLIANCE_QA_INDEX to another folder\n"
    )
    assert snapshot(index_dir) == before


def test_pruning_keeps_build_folders_it_did_not_write(good: tuple[Path, Path, Path], fake_embedder: HashEmbedder) -> None:
    corpus_dir, index_dir, first = good
    mine = index_dir / "builds" / "release-1.0"
    mine.mkdir()
    (mine / "manifest.json").write_text("{}")
    lookalike = index_dir / "builds" / "20200101T000000-abcdef"  # our name, but its manifest names another build
    shutil.copytree(first, lookalike)
    (index_dir / "notes.txt").write_text("keep me\n")
    kept = {k: v for k, v in snapshot(index_dir).items() if k.startswith(("builds/release", "builds/2020", "notes"))}
    edit(corpus_dir, "Rajin", "Sonbong")
    assert run_cli(corpus_dir, index_dir, "build")[0] == 0
    second = current(index_dir)
    edit(corpus_dir, "Sonbong", "Chongjin")
    assert run_cli(corpus_dir, index_dir, "build")[0] == 0
    third = current(index_dir)
    names = sorted(p.name for p in (index_dir / "builds").iterdir())
    assert names == sorted([lookalike.name, "release-1.0", second.name, third.name])  # our first build pruned
    assert {k: v for k, v in snapshot(index_dir).items() if k in kept} == kept
    assert_answers_from(corpus_dir, index_dir, fake_embedder, third, marker="Chongjin")


def test_an_index_folder_made_before_the_marker_is_adopted(good: tuple[Path, Path, Path]) -> None:
    """builds/ + current + .build.lock + the repository's index/README.md: an earlier version's folder."""
    corpus_dir, index_dir, first = good
    (index_dir / MARKER).unlink()
    shutil.copy(REPO / "index" / "README.md", index_dir / "README.md")
    edit(corpus_dir, "Rajin", "Sonbong")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "") and out.startswith("built index: 11 sections")
    assert (index_dir / MARKER).is_file() and (index_dir / "README.md").is_file()
    assert sorted(p.name for p in (index_dir / "builds").iterdir()) == sorted([first.name, current(index_dir).name])


def test_an_empty_existing_folder_is_taken(good: tuple[Path, Path, Path], tmp_path: Path) -> None:
    corpus_dir, _, _ = good
    index_dir = tmp_path / "empty"
    index_dir.mkdir()
    code, _, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "") and (index_dir / MARKER).is_file() and current(index_dir).is_dir()
