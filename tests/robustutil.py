"""Helpers shared by the robustness tests (``test_robust_*.py``): CLI runs, corpus edits, dropping root."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from alliance_qa.assistant import Assistant
from alliance_qa.cli import main
from alliance_qa.embed import Embedder
from alliance_qa.load import current_build, load_index

REPO = Path(__file__).resolve().parents[1]
ARTICLE_NAME = "10-things-north-korea-and-russia-want.txt"
PORTS = NORMAL = "Which ports matter for trade?"
#: A uid with no rights on the test folders (``nobody``), used when the tests run as root.
NOBODY = 65534


def run_cli(corpus_dir: Path, index_dir: Path, *args: str) -> tuple[int, str, str]:
    """Run ``alliance-qa --corpus C --index I ARGS`` in-process; return exit code, stdout and stderr.

    Fails the test if anything but a clean exit escaped the CLI, or if a traceback was printed.
    """
    result = CliRunner().invoke(main, ["--corpus", str(corpus_dir), "--index", str(index_dir), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the CLI raised {result.exception!r}: {result.output}") from result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def edit(corpus_dir: Path, old: str, new: str) -> Path:
    """Replace ``old`` (which must occur once) by ``new`` in the article copy; return its path."""
    path = corpus_dir / ARTICLE_NAME
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def assert_answers_from(
    corpus_dir: Path, index_dir: Path, embedder: Embedder, build: Path | str, *, marker: str = "Rajin"
) -> Assistant:
    """The index at ``index_dir`` loads as build ``build`` and a fresh assistant (model ``embedder``) cites area 8 from it.

    ``auto_build=False``: the assistant must answer from what is on disk, never rebuild behind our back.
    """
    name = build if isinstance(build, str) else build.name
    assert load_index(index_dir).build_id == name
    qa = Assistant(corpus_dir, index_dir, embedder.name, embedder=embedder, auto_build=False)
    answer = qa.ask(PORTS)
    assert not answer.abstained and answer.citations[0].number == 8
    assert marker in answer.citations[0].section_text
    assert qa.index.build_id == name
    return qa


def current(index_dir: Path) -> Path:
    """The build ``index/current`` points at (it must exist)."""
    build = current_build(index_dir)
    assert build is not None, f"no current build in {index_dir}"
    return build


def later_copy_as_current(index_dir: Path, first: Path) -> Path:
    """Copy build ``first`` under a later build id (as ``alliance-qa build --full`` would make, without the
    embedding) and make the copy ``current``; return its folder."""
    stamp = datetime.strptime(first.name[:15], "%Y%m%dT%H%M%S") + timedelta(seconds=1)
    second = first.parent / f"{stamp:%Y%m%dT%H%M%S}-{first.name[16:]}"
    shutil.copytree(first, second)
    manifest = json.loads((second / "manifest.json").read_text())
    manifest["build_id"] = second.name
    (second / "manifest.json").write_text(json.dumps(manifest))
    (index_dir / ".current-swap").symlink_to(Path("builds") / second.name)
    os.replace(index_dir / ".current-swap", index_dir / "current")
    return second


@contextlib.contextmanager
def world_readable_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder that another uid can enter (``tmp_path``'s parents are private to root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for root, dirs, files in os.walk(path):  # undo any chmod a test made, then delete
            for name in dirs + files:
                entry = Path(root) / name
                if not entry.is_symlink():
                    with contextlib.suppress(OSError):
                        entry.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def without_root() -> Iterator[None]:
    """Run the block with file permissions enforced: as uid ``nobody`` when the tests run as root.

    Root ignores file modes, so a chmod alone cannot make a file unreadable in CI.  Only the
    effective uid changes (``os.seteuid``), and it is restored when the block ends.
    """
    if os.geteuid() != 0:
        yield
        return
    try:
        os.seteuid(NOBODY)
    except PermissionError as exc:  # root without CAP_SETUID: permissions cannot be enforced here
        import pytest

        pytest.skip(f"PERMISSION TEST SKIPPED: running as root and cannot drop to uid {NOBODY} ({exc})")
    try:
        yield
    finally:
        os.seteuid(0)


def build_pristine(root: Path, embedder: Embedder) -> Path:
    """Build the article's index once under ``root`` (``corpus/`` and ``index/``) with the model ``embedder``
    (recorded as its name), to be copied per test."""
    corpus_dir = root / "corpus"
    corpus_dir.mkdir(parents=True)
    shutil.copy(REPO / "corpus" / ARTICLE_NAME, corpus_dir)
    Assistant(corpus_dir, root / "index", embedder.name, embedder=embedder).build()
    return root


def copy_pristine(pristine: Path, dest: Path) -> tuple[Path, Path, Path]:
    """Copy a built corpus and index into ``dest``: ``(corpus_dir, index_dir, current build)``.

    Much cheaper than embedding the article again; the ``current`` link is relative, so the copy stands alone.
    """
    shutil.copytree(pristine / "corpus", dest / "corpus", symlinks=True)
    shutil.copytree(pristine / "index", dest / "index", symlinks=True)
    return dest / "corpus", dest / "index", current(dest / "index")


# ----------------------------------------------------------------------------- bad questions


EMPTY_MSG = 'Please type a question about the documents, e.g. "What is this about?"'
NO_WORDS_MSG = (
    'Please ask your question in words (this one has no letters or digits), e.g. "What is this about?"'
)


def english_only(script: str) -> str:
    """The message for a question mostly in another script's letters."""
    return (
        "Please ask in English: the documents and their search model are English-only, and this question is "
        f'mostly in {script} letters. For example: "What is this about?"'
    )


def latin1_noise(seed: int, size: int = 200) -> str:
    """``size`` random bytes (seeded) decoded as latin-1: keyboard-mash with control characters."""
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size)).decode("latin-1")


def long_question(chars: int = 100 * 1024) -> str:
    """A question of exactly ``chars`` characters, with no white space at either end."""
    return ("Which ports matter for trade and why " * (chars // 30 + 1))[: chars - 1] + "?"


@dataclass(frozen=True)
class Case:
    """One bad question and what it must get: an error message, or an answer citing ``area`` or declining."""

    id: str
    question: str
    error: str | None = None
    area: int | None = None  # the cited area when answered
    declines: bool = False


CASES = [
    Case("empty", "", error=EMPTY_MSG),
    Case("whitespace", " \t\n \r\n  ", error=EMPTY_MSG),
    Case("100kb", long_question(), error=(
        "That question is 102,400 characters long; please keep it under 1,000 characters.")),
    Case("100kb-whitespace", " " * 102_400, error=EMPTY_MSG),
    Case("nul-and-controls", "Which\x00 ports\x07 matter\x1b[31m for\x7f trade?\x0c\x9b", area=8),
    Case("controls-only", "\x00\x01\x02\x1b\x7f\x85\x9f", error=EMPTY_MSG),
    Case("lone-surrogate", "Which ports\ud800 matter for trade?\udfff", area=8),
    Case("latin1-noise-1", latin1_noise(1), declines=True),
    Case("latin1-noise-2", latin1_noise(2), declines=True),
    Case("latin1-noise-3", latin1_noise(3, size=900), declines=True),
    Case("emoji-only", "😀🚀🔥🇰🇵🇷🇺", error=NO_WORDS_MSG),
    Case("punctuation-only", "?!?! ... ???", error=NO_WORDS_MSG),
    Case("russian", "Какие порты важны для торговли?", error=english_only("Cyrillic")),
    Case("korean", "무역에 중요한 항구는 어디입니까?", error=english_only("Hangul")),
    Case("chinese", "哪些港口对贸易很重要？", error=english_only("CJK")),
    Case("english-with-cyrillic-lookalikes", "Which pоrts mаttеr for trаdе?", area=8),
    Case("markdown", "**Which** _ports_ matter for `trade`? [x](javascript:alert(1)) ![i](http://x/y.png) # h", area=8),
    Case("html", "<b>Which ports</b> matter for trade? <img src=x onerror=alert(1)>", area=8),
    Case("script", "<script>alert(document.cookie)</script> Which ports matter for trade?", area=8),
    Case("script-only", "<script>alert(document.cookie)</script>", declines=True),
]
