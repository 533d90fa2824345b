"""Bad content in corpus/: a clear error naming the file and the reason, or a documented behaviour.

Every case starts from a good index, breaks the corpus, runs ``alliance-qa build``
in-process and asserts the exact message and exit code, then that the previous
build is still current and answering (or, where the behaviour is to build, that
the new index answers as documented in ARCHITECTURE.md, "Failure behaviour").  Plumbing, so
the fake embedder (``fake_model``) embeds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from alliance_qa.assistant import Assistant
from alliance_qa.load import load_index
from fakeembed import HashEmbedder
from robustutil import (
    ARTICLE_NAME,
    PORTS,
    assert_answers_from,
    copy_pristine,
    current,
    edit,
    run_cli,
    without_root,
    world_readable_dir,
)

EMPTY_FOLDER = "has no .txt or .md files: add a document (e.g. copy the article from the repository's corpus/)"

pytestmark = pytest.mark.usefixtures("fake_model")


def test_empty_corpus_folder_keeps_the_previous_index(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / ARTICLE_NAME).unlink()
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == f"alliance-qa: error: corpus folder {corpus_dir} {EMPTY_FOLDER}\n"
    assert current(index_dir) == before
    qa = assert_answers_from(corpus_dir, index_dir, fake_embedder, before)
    assert qa.notice == (
        f"The corpus cannot be read (corpus folder {corpus_dir.name} {EMPTY_FOLDER}); answers come from the last built index."
    )
    # An assistant that may rebuild (the default) serves the last index too, with the same note.
    auto = Assistant(corpus_dir, index_dir, embedder=fake_embedder)
    assert auto.ask(PORTS).citations[0].number == 8 and auto.notice == qa.notice
    assert current(index_dir) == before


def test_non_utf8_file_is_named_and_the_previous_index_kept(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
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
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)


def test_empty_file_is_skipped_with_a_warning(good: tuple[Path, Path, Path], fake_embedder: HashEmbedder) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / "empty.md").write_text("", encoding="utf-8")
    (corpus_dir / "blank.txt").write_text("\n  \n\t\n", encoding="utf-8")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert code == 0, err
    assert err == "warning: skipped empty corpus file blank.txt\nwarning: skipped empty corpus file empty.md\n"
    assert out == "index is up to date: 11 sections, 51 texts (nothing embedded)\n"
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)


def test_only_empty_files_is_an_error_naming_them(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / ARTICLE_NAME).write_text("\n\n   \n", encoding="utf-8")
    (corpus_dir / "empty.md").write_text("", encoding="utf-8")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == (
        f"alliance-qa: error: corpus folder {corpus_dir} has no text: its 2 file(s) ({ARTICLE_NAME}, empty.md) "
        "are empty; add their text\n"
    )
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)


def test_file_without_sections_becomes_one_intro_section(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
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
    assert "(1 section), reused " in out and "(11 sections), removed 0 sections" in out
    qa = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False)
    hit = qa.search("Which bridge do freight wagons use to cross the Tumen River?", k=1)[0]
    assert (hit.number, hit.title, hit.source) == (None, "Field notes from Tumen River", "field-notes.txt")
    assert qa.ask(PORTS).citations[0].number == 8


def test_same_title_in_two_documents_is_normal_and_both_stay_searchable(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
) -> None:
    """Each document numbers and titles its own sections; citations name the document, so no warning."""
    corpus_dir, index_dir, _ = good
    (corpus_dir / "addendum.txt").write_text(
        "Addendum\n\n  8. Access to Ports\n\n    The Nakhodka container terminal handles timber bound for Chongjin.\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "")
    assert out.startswith("built index: 12 sections, ")
    qa = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False)
    hits = qa.search("Which terminal handles timber bound for Chongjin?", k=3)
    assert (hits[0].number, hits[0].source, hits[0].section_id) == (8, "addendum.txt", "addendum.txt#8")
    assert qa.ask(PORTS).citations[0].number == 8


@pytest.mark.slow
def test_two_megabyte_section_is_windowed_with_a_warning_and_its_tail_is_searchable(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
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
    started = time.perf_counter()
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    seconds = time.perf_counter() - started
    assert code == 0, err
    assert err.splitlines()[-1] == (
        "warning: 1 section was longer than the model reads at once and was embedded in several windows "
        "(run with -v for the list)"
    )
    assert out.startswith("built index: 12 sections, ")
    print(f"\n2 MB section: {words} words, build {seconds:.1f} s")
    qa = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False)
    hit = qa.search("Where does the walrus choir rehearse?", k=1)[0]
    assert (hit.number, hit.title) == (11, "The Long Minutes")
    assert hit.quote == tail
    # The fake embedder's calibrated cutoff is not the real model's: answer whatever ranks first.
    answer = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False, abstain_below=0.0).ask(
        "Where does the walrus choir rehearse?"
    )
    assert answer.citations[0].number == 11 and tail in answer.citations[0].quotes
    assert qa.ask(PORTS).citations[0].number == 8


def test_edit_that_deletes_every_section_is_refused_until_forced(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
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
    qa = assert_answers_from(corpus_dir, index_dir, fake_embedder, before)
    assert qa.notice == (
        "The documents have been edited since the index was built; run `alliance-qa build` to update answers."
    )
    # The default assistant would rebuild a stale index: it keeps serving the last build instead, and says why.
    auto = Assistant(corpus_dir, index_dir, embedder=fake_embedder)
    assert auto.ask(PORTS).citations[0].number == 8
    assert auto.notice is not None and "rebuilding failed (corpus file" in auto.notice
    assert current(index_dir) == before

    code, out, err = run_cli(corpus_dir, index_dir, "build", "--full")
    assert code == 0 and err == ""
    # The intro became the whole document: one section, cited by the title (its id changed too).
    assert out.startswith("built index: 1 section, ") and "removed 11 sections" in out
    answer = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False).ask(PORTS)
    assert all(c.number is None for c in answer.citations)  # only the intro is left to cite


def test_emptying_one_file_of_several_is_refused(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
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
    assert_answers_from(corpus_dir, index_dir, fake_embedder, mid)
    # Deleting the file itself is deliberate: allowed, and its sections leave the index.
    (corpus_dir / ARTICLE_NAME).unlink()
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert code == 0 and out.startswith("built index: 1 section, ") and "removed 11 sections" in out  # "# Extra" is a title


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
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder, links: dict[str, str], bad: str, reason: str
) -> None:
    corpus_dir, index_dir, before = good
    edit(corpus_dir, "Rajin", "Sonbong")  # a pending edit, so the build really has work to refuse
    for name, target in links.items():
        os.symlink(target, corpus_dir / name)
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == f"alliance-qa: error: corpus file {corpus_dir / bad} {reason}: remove the link or point it at a real file\n"
    assert current(index_dir) == before
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)


def test_symlinked_folder_loop_is_not_followed(good: tuple[Path, Path, Path], fake_embedder: HashEmbedder) -> None:
    corpus_dir, index_dir, before = good
    (corpus_dir / "sub").mkdir()
    os.symlink("..", corpus_dir / "sub" / "up")  # corpus/sub/up -> corpus: a loop through a folder
    os.symlink(".", corpus_dir / "self")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "")
    assert out == "index is up to date: 11 sections, 51 texts (nothing embedded)\n"  # nothing read twice
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)


def test_symlinked_file_is_read_through_the_link(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder, tmp_path: Path
) -> None:
    corpus_dir, index_dir, _ = good
    outside = tmp_path / "elsewhere.md"
    outside.write_text("# Elsewhere\n\n## 11. Fishing Rights\n\nTrawlers from Wonsan fish for pollock near Sakhalin.\n")
    os.symlink(outside, corpus_dir / "linked.md")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "") and out.startswith("built index: 12 sections, ")  # "# Elsewhere" is its title
    hit = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False).search(
        "Where do trawlers fish for pollock?", k=1
    )[0]
    assert (hit.number, hit.title, hit.source) == (11, "Fishing Rights", "linked.md")


def test_fifo_in_the_corpus_is_an_error_not_a_hang(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    os.mkfifo(corpus_dir / "pipe.txt")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == (
        f"alliance-qa: error: corpus file {corpus_dir / 'pipe.txt'} is not a regular file (a FIFO, socket or device): "
        "remove it\n"
    )
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)


def test_unreadable_file_is_named_and_the_previous_index_kept(
    pristine: Path, fake_embedder: HashEmbedder
) -> None:
    """No read permission (enforced even in CI, which runs as root, by dropping to uid nobody)."""
    with world_readable_dir("aqa-unreadable-") as root:
        corpus_dir, index_dir, before = copy_pristine(pristine, root)
        secret = corpus_dir / "secret.txt"
        secret.write_text("1. Secret\n\nNobody may read this.\n", encoding="utf-8")
        secret.chmod(0o000)
        with without_root():
            code, out, err = run_cli(corpus_dir, index_dir, "build")
            qa = assert_answers_from(corpus_dir, index_dir, fake_embedder, before)
        assert (code, out) == (3, "")
        assert err == (
            f"alliance-qa: error: cannot read corpus file {secret}: permission denied; "
            "make it readable (chmod a+r) or remove it\n"
        )
        assert qa.notice == (
            f"The corpus cannot be read (cannot read corpus file {secret.name}: permission denied; make it readable "
            "(chmod a+r) or remove it); answers come from the last built index."
        )
        assert current(index_dir) == before
        assert load_index(index_dir).build_id == before.name


SAME_NAMES = {
    "report.txt": "Grain Report\n\n1. Wheat\n\nWheat leaves the northern farms by rail every Monday.\n",
    "report.md": "# Sea Report\n\n## 1. Squid\n\nSquid boats land their catch at the eastern harbour at dawn.\n",
    "a/faq.md": "# Billing FAQ\n\n## Refunds\n\nRefunds for cancelled plans are paid back within ten working days.\n",
    "b/faq.md": "# Garden FAQ\n\n## Refunds\n\nSeed packets that fail to sprout can be swapped for new ones at the shed.\n",
}


def test_files_sharing_a_stem_or_a_name_build_and_each_answers_its_own_questions(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
) -> None:
    """Issue 11: report.txt + report.md + a/faq.md + b/faq.md once gave colliding ids (a rejected index, wrong answers)."""
    corpus_dir, index_dir, _ = good
    for name, text in SAME_NAMES.items():
        (corpus_dir / name).parent.mkdir(exist_ok=True)
        (corpus_dir / name).write_text(text, encoding="utf-8")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "") and out.startswith("built index: 15 sections, ")
    loaded = load_index(index_dir)  # the loader accepts what the build wrote
    assert len({s.id for s in loaded.sections}) == 15
    qa = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False)
    for question, document, section_id in [
        ("How does wheat leave the northern farms?", "report.txt", "report.txt#1"),
        ("Where do squid boats land their catch?", "report.md", "report.md#1"),
        ("How long do refunds for cancelled plans take?", "a/faq.md", "a/faq.md#refunds"),
        ("What happens to seed packets that fail to sprout?", "b/faq.md", "b/faq.md#refunds"),
    ]:
        hit = qa.search(question, k=1)[0]
        assert (hit.source, hit.section_id) == (document, section_id), question
    assert qa.ask(PORTS).citations[0].number == 8
    assert run_cli(corpus_dir, index_dir, "build")[1].startswith("index is up to date: 15 sections, ")


def _reorder_renumber_rename(corpus_dir: Path) -> None:
    """Swap areas 2 and 3 (keeping the printed numbers in order) and rename area 8."""
    path = corpus_dir / ARTICLE_NAME
    text = path.read_text(encoding="utf-8")
    two, three, four = text.index("  2. "), text.index("  3. "), text.index("  4. ")
    second, third = text[two:three], text[three:four]
    second, third = "  3. " + second[5:], "  2. " + third[5:]
    text = text[:two] + third + second + text[four:]
    assert text.count("to Ports") == 1
    path.write_text(text.replace("to Ports", "to Harbours"), encoding="utf-8")


def test_incremental_build_equals_a_fresh_build_after_reorder_renumber_rename(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder, tmp_path: Path
) -> None:
    corpus_dir, index_dir, before = good
    _reorder_renumber_rename(corpus_dir)
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "") and "reused" in out
    fresh_dir = tmp_path / "fresh-index"
    assert run_cli(corpus_dir, fresh_dir, "build")[0] == 0
    incremental, fresh = load_index(index_dir), load_index(fresh_dir)
    assert incremental.build_id != before.name
    rows = [(s.id, s.number, s.title, s.text, s.sentences, s.document_title, s.intro) for s in incremental.sections]
    assert rows == [(s.id, s.number, s.title, s.text, s.sentences, s.document_title, s.intro) for s in fresh.sections]
    assert [s.title for s in incremental.sections[1:4]] == ["Economic Cooperation", "Regional Influence", "Energy Resources"]
    assert incremental.sections[8].label == "Access to Harbours (8)"
    assert incremental.units == fresh.units
    assert incremental.manifest["sections"] == fresh.manifest["sections"]
    assert abs(np.asarray(incremental.vectors) - np.asarray(fresh.vectors)).max() < 1e-5
    for question in (PORTS, "Does Russia have natural gas for North Korea?", "What does Russia want in the Asia-Pacific?"):
        got = [Assistant(corpus_dir, d, embedder=fake_embedder, auto_build=False).ask(question) for d in (index_dir, fresh_dir)]
        assert [c.label for c in got[0].citations] == [c.label for c in got[1].citations], question


def test_corpus_that_contains_the_index_folder_is_refused(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    inside = corpus_dir / "index"
    code, out, err = run_cli(corpus_dir, inside, "build")
    assert (code, out) == (3, "")
    assert err == (
        f"alliance-qa: error: corpus folder {corpus_dir} contains the index folder {inside}: keep the index outside "
        "the corpus (set ALLIANCE_QA_INDEX or ALLIANCE_QA_CORPUS)\n"
    )
    assert not inside.exists()
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)


def test_corpus_over_the_file_limit_keeps_the_previous_index(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus_dir, index_dir, before = good
    for n in range(3):
        (corpus_dir / f"extra-{n}.txt").write_text(f"Extra {n}\n\nMore text.\n", encoding="utf-8")
    monkeypatch.setenv("ALLIANCE_QA_MAX_FILES", "3")
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (3, "")
    assert err == (
        f"alliance-qa: error: corpus folder {corpus_dir} has more than 3 .txt/.md files (ALLIANCE_QA_MAX_FILES=3): "
        "point ALLIANCE_QA_CORPUS at the folder that holds only your documents, or raise ALLIANCE_QA_MAX_FILES\n"
    )
    assert current(index_dir) == before
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)
