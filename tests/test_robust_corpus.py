"""Bad content in corpus/: a clear error naming the file and the reason, or a documented behaviour.

Every case starts from a good index, breaks the corpus, runs ``alliance-qa build``
in-process and asserts the exact message and exit code, then that the previous
build is still current and answering (or, where the behaviour is to build, that
the new index answers as documented in ARCHITECTURE.md, "Failure behaviour").
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from alliance_qa.assistant import Assistant
from alliance_qa.embed import SentenceTransformerEmbedder
from alliance_qa.index import WINDOW_WORDS, load_index
from robustutil import (
    ARTICLE_NAME,
    PORTS,
    assert_answers_from,
    build_pristine,
    copy_pristine,
    current,
    edit,
    run_cli,
    without_root,
    world_readable_dir,
)

EMPTY_FOLDER = "has no .txt or .md files: add the article (e.g. copy it from the repository's corpus/)"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Path:
    """The article built once for this module."""
    return build_pristine(tmp_path_factory.mktemp("pristine"), embedder)


@pytest.fixture
def good(pristine: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(corpus_dir, index_dir, current build)``: a fresh copy of a good build of the article."""
    return copy_pristine(pristine, tmp_path)


def test_empty_corpus_folder_keeps_the_previous_index(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / ARTICLE_NAME).unlink()
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == f"alliance-qa: error: corpus folder {corpus_dir} {EMPTY_FOLDER}\n"
    assert current(index_dir) == before
    qa = assert_answers_from(corpus_dir, index_dir, embedder, before)
    assert qa.notice == (
        f"The corpus cannot be read (corpus folder {corpus_dir} {EMPTY_FOLDER}); answers come from the last built index."
    )
    # An assistant that may rebuild (the default) serves the last index too, with the same note.
    auto = Assistant(corpus_dir, index_dir, embedder=embedder)
    assert auto.ask(PORTS).citations[0].number == 8 and auto.notice == qa.notice
    assert current(index_dir) == before


def test_non_utf8_file_is_named_and_the_previous_index_kept(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / "latin1.txt").write_bytes("1. Café au lait\n\nLe café est très bon.\n".encode("latin-1"))
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == (
        f"alliance-qa: error: corpus file {corpus_dir / 'latin1.txt'} is not UTF-8 (byte 6: b'\\xe9'); "
        "save it as UTF-8\n"
    )
    assert current(index_dir) == before
    assert_answers_from(corpus_dir, index_dir, embedder, before)


def test_empty_file_is_skipped_with_a_warning(good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / "empty.md").write_text("", encoding="utf-8")
    (corpus_dir / "blank.txt").write_text("\n  \n\t\n", encoding="utf-8")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert code == 0, err
    assert err == "warning: skipped empty corpus file blank.txt\nwarning: skipped empty corpus file empty.md\n"
    assert out == "index is up to date: 11 sections, 51 texts (nothing embedded)\n"
    assert_answers_from(corpus_dir, index_dir, embedder, before)


def test_only_empty_files_is_an_error_naming_them(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / ARTICLE_NAME).write_text("\n\n   \n", encoding="utf-8")
    (corpus_dir / "empty.md").write_text("", encoding="utf-8")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == (
        f"alliance-qa: error: corpus folder {corpus_dir} has no text: its 2 file(s) ({ARTICLE_NAME}, empty.md) "
        "are empty; add the article's text\n"
    )
    assert_answers_from(corpus_dir, index_dir, embedder, before)


def test_file_without_sections_becomes_one_intro_section(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    corpus_dir, index_dir, _ = good
    (corpus_dir / "field-notes.txt").write_text(
        "Field notes from Tumen River\n\nThe Tumen River rail bridge links Khasan in Russia with Tumangang. "
        "Freight wagons cross it twice a week.\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert code == 0 and err == ""
    assert out.startswith("built index: 12 sections, ")
    assert "(1 sections), reused " in out and "(11 sections), removed 0 sections" in out
    qa = Assistant(corpus_dir, index_dir, embedder=embedder, auto_build=False)
    hit = qa.search("Which bridge do freight wagons use to cross the Tumen River?", k=1)[0]
    assert (hit.number, hit.title, hit.source) == (None, "Field notes from Tumen River", "field-notes.txt")
    assert qa.ask(PORTS).citations[0].number == 8


def test_duplicate_titles_warn_and_both_stay_searchable(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    corpus_dir, index_dir, _ = good
    (corpus_dir / "addendum.txt").write_text(
        "Addendum\n\n  8. Access to Ports\n\n    The Nakhodka container terminal handles timber bound for Chongjin.\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert code == 0
    assert err == (
        f"warning: duplicate section title 'Access to Ports' in addendum.txt (also in {ARTICLE_NAME})\n"
    )
    assert out.startswith("built index: 13 sections, ")
    qa = Assistant(corpus_dir, index_dir, embedder=embedder, auto_build=False)
    hits = qa.search("Which terminal handles timber bound for Chongjin?", k=3)
    assert (hits[0].number, hits[0].source, hits[0].section_id) == (8, "addendum.txt", "addendum-8")
    assert qa.ask(PORTS).citations[0].number == 8


@pytest.mark.slow
def test_two_megabyte_section_is_windowed_with_a_warning_and_its_tail_is_searchable(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    """A 2 MB section: overlapping windows, a warning that says so, and its last sentence is still found.

    The filler repeats one 12-word sentence (so windows at a 120-word stride repeat and share a vector:
    the build embeds a handful of distinct texts, which keeps this test fast); the tail is unique.
    """
    corpus_dir, index_dir, _ = good
    filler = "Officials met again and discussed the same agenda items at length today. "
    tail = "The walrus choir rehearses every Tuesday inside the abandoned Khasan lighthouse."
    body = filler * (2 * 1024 * 1024 // len(filler) + 1) + tail
    (corpus_dir / "long.txt").write_text(f"Appendix\n\n  11. The Long Minutes\n\n{body}\n", encoding="utf-8")
    assert (corpus_dir / "long.txt").stat().st_size > 2 * 1024 * 1024
    words = len(f"The Long Minutes. {body}".split())
    windows = -(-(words - WINDOW_WORDS) // 120) + 1
    started = time.perf_counter()
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    seconds = time.perf_counter() - started
    assert code == 0, err
    assert err == (
        f"warning: section 'The Long Minutes' in long.txt has {words} words, more than the model reads at once: "
        f"embedded as {windows} overlapping windows of {WINDOW_WORDS} words\n"
    )
    assert out.startswith("built index: 13 sections, ")
    print(f"\n2 MB section: {words} words, {windows} windows, build {seconds:.1f} s")
    qa = Assistant(corpus_dir, index_dir, embedder=embedder, auto_build=False)
    hit = qa.search("Where does the walrus choir rehearse?", k=1)[0]
    assert (hit.number, hit.title) == (11, "The Long Minutes")
    assert hit.quote == tail
    answer = qa.ask("Where does the walrus choir rehearse?")
    assert answer.citations[0].number == 11 and tail in answer.citations[0].quotes
    assert qa.ask(PORTS).citations[0].number == 8


def test_edit_that_deletes_every_section_is_refused_until_forced(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    path = corpus_dir / ARTICLE_NAME
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("  1. Economic")], encoding="utf-8")  # keep only the intro
    refused = (
        f"alliance-qa: error: corpus file {path} now has only its intro, but the index has 10 sections from it: "
        "refusing to delete every section, the current index is unchanged. If you meant it, "
        "run `alliance-qa build --full`\n"
    )
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out, err) == (3, "", refused)
    qa = assert_answers_from(corpus_dir, index_dir, embedder, before)
    assert qa.notice == (
        "The article has been edited since the index was built; run `alliance-qa build` to update answers."
    )
    # The default assistant would rebuild a stale index: it keeps serving the last build instead, and says why.
    auto = Assistant(corpus_dir, index_dir, embedder=embedder)
    assert auto.ask(PORTS).citations[0].number == 8
    assert auto.notice is not None and "rebuilding failed (corpus file" in auto.notice
    assert current(index_dir) == before

    code, out, err = run_cli(corpus_dir, index_dir, "build", "--full")
    assert code == 0 and err == ""
    assert out.startswith("built index: 1 sections, ") and "removed 10 sections" in out
    answer = Assistant(corpus_dir, index_dir, embedder=embedder, auto_build=False).ask(PORTS)
    assert all(c.number is None for c in answer.citations)  # only the intro is left to cite


def test_emptying_one_file_of_several_is_refused(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / "extra.md").write_text("# Extra\n\n## 11. Rail Links\n\nA rail link joins Khasan and Tumangang.\n")
    assert run_cli(corpus_dir, index_dir, "build")[0] == 0
    mid = current(index_dir)
    assert mid != before
    (corpus_dir / ARTICLE_NAME).write_text("", encoding="utf-8")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == (
        f"alliance-qa: error: corpus file {corpus_dir / ARTICLE_NAME} now has no text, but the index has 10 sections "
        "from it: refusing to delete every section, the current index is unchanged. If you meant it, "
        "run `alliance-qa build --full`\n"
    )
    assert_answers_from(corpus_dir, index_dir, embedder, mid)
    # Deleting the file itself is deliberate: allowed, and its sections leave the index.
    (corpus_dir / ARTICLE_NAME).unlink()
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert code == 0 and out.startswith("built index: 2 sections, ") and "removed 11 sections" in out


@pytest.mark.parametrize(
    ("links", "bad", "reason"),
    [
        ({"loop.txt": "loop.txt"}, "loop.txt", "is a symbolic link loop (loop.txt -> loop.txt)"),
        ({"a.md": "b.md", "b.md": "a.md"}, "a.md", "is a symbolic link loop (a.md -> b.md)"),
        ({"gone.txt": "/nonexistent/article.txt"}, "gone.txt", "is a broken symbolic link (to /nonexistent/article.txt)"),
    ],
    ids=["self-loop", "two-file-loop", "dangling"],
)
def test_looping_or_broken_symlinked_file_is_a_clear_error(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder, links: dict[str, str], bad: str, reason: str
) -> None:
    corpus_dir, index_dir, before = good
    edit(corpus_dir, "Rajin", "Sonbong")  # a pending edit, so the build really has work to refuse
    for name, target in links.items():
        os.symlink(target, corpus_dir / name)
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == f"alliance-qa: error: corpus file {corpus_dir / bad} {reason}: remove the link or point it at a real file\n"
    assert current(index_dir) == before
    assert_answers_from(corpus_dir, index_dir, embedder, before)


def test_symlinked_folder_loop_is_not_followed(good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / "sub").mkdir()
    os.symlink("..", corpus_dir / "sub" / "up")  # corpus/sub/up -> corpus: a loop through a folder
    os.symlink(".", corpus_dir / "self")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "")
    assert out == "index is up to date: 11 sections, 51 texts (nothing embedded)\n"  # nothing read twice
    assert_answers_from(corpus_dir, index_dir, embedder, before)


def test_symlinked_file_is_read_through_the_link(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    corpus_dir, index_dir, _ = good
    outside = tmp_path / "elsewhere.md"
    outside.write_text("# Elsewhere\n\n## 11. Fishing Rights\n\nTrawlers from Wonsan fish for pollock near Sakhalin.\n")
    os.symlink(outside, corpus_dir / "linked.md")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "") and out.startswith("built index: 13 sections, ")
    hit = Assistant(corpus_dir, index_dir, embedder=embedder, auto_build=False).search(
        "Where do trawlers fish for pollock?", k=1
    )[0]
    assert (hit.number, hit.title, hit.source) == (11, "Fishing Rights", "linked.md")


def test_fifo_in_the_corpus_is_an_error_not_a_hang(
    good: tuple[Path, Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    os.mkfifo(corpus_dir / "pipe.txt")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == (
        f"alliance-qa: error: corpus file {corpus_dir / 'pipe.txt'} is not a regular file (a FIFO, socket or device): "
        "remove it\n"
    )
    assert_answers_from(corpus_dir, index_dir, embedder, before)


def test_unreadable_file_is_named_and_the_previous_index_kept(
    pristine: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """No read permission (enforced even in CI, which runs as root, by dropping to uid nobody)."""
    with world_readable_dir("aqa-unreadable-") as root:
        corpus_dir, index_dir, before = copy_pristine(pristine, root)
        secret = corpus_dir / "secret.txt"
        secret.write_text("1. Secret\n\nNobody may read this.\n", encoding="utf-8")
        secret.chmod(0o000)
        with without_root():
            code, out, err = run_cli(corpus_dir, index_dir, "build")
            qa = assert_answers_from(corpus_dir, index_dir, embedder, before)
        assert (code, out) == (3, "")
        assert err == (
            f"alliance-qa: error: cannot read corpus file {secret}: permission denied; "
            "make it readable (chmod a+r) or remove it\n"
        )
        assert qa.notice == (
            f"The corpus cannot be read (cannot read corpus file {secret}: permission denied; make it readable "
            "(chmod a+r) or remove it); answers come from the last built index."
        )
        assert current(index_dir) == before
        assert load_index(index_dir).build_id == before.name
