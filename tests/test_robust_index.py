"""Faults in index/: the next load uses the last good build or rebuilds, and says which.

Never a segfault, a FAISS assertion reaching the user, or a silent wrong answer.
Each fault is made by hand in a real build folder; the tests assert the exact
warning or error, which build answers afterwards, and that a later
``alliance-qa build`` repairs the folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from alliance_qa.assistant import Assistant
from alliance_qa.errors import IndexStateError
from alliance_qa.load import load_index, read_build
from fakeembed import CHILD_CLI, HashEmbedder
from fakeembed import NAME as FAKE_MODEL
from robustutil import (
    PORTS,
    assert_answers_from,
    copy_pristine,
    current,
    edit,
    later_copy_as_current,
    run_cli,
    without_root,
    world_readable_dir,
)
from waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
DATA_FILES = ("sections.jsonl", "units.jsonl", "vectors.npy", "index.faiss")

pytestmark = pytest.mark.usefixtures("fake_model")


def rewrite_manifest(build: Path, **changes: object) -> None:
    """Update ``build``'s manifest: ``changes`` first, then file sizes and checksums recomputed.

    This models a fault the checksums cannot see (a build written by a tool that got them right,
    or an older build without checksums), so the deeper checks are exercised.
    """
    path = build / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    manifest["files"] = {name: (build / name).stat().st_size for name in DATA_FILES}
    manifest["sha256"] = {name: hashlib.sha256((build / name).read_bytes()).hexdigest() for name in DATA_FILES}
    path.write_text(json.dumps(manifest))


def truncate_faiss(build: Path) -> str:
    path = build / "index.faiss"
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    return f"index file {path} has {size // 2} bytes, the manifest says {size}: it is damaged; run `alliance-qa build`"


def garbage_faiss_same_size(build: Path) -> str:
    path = build / "index.faiss"
    path.write_bytes(np.random.default_rng(7).bytes(path.stat().st_size))
    return f"index file {path} does not match the checksum in its manifest: it is damaged; run `alliance-qa build`"


def garbage_faiss_unchecked(build: Path) -> str:
    """Garbage FAISS header (d out of range: FAISS's own assertion) with the manifest agreeing."""
    path = build / "index.faiss"
    size = path.stat().st_size
    path.write_bytes(b"IxF2" + b"\x00\x00\x00\x95" + np.random.default_rng(8).bytes(size - 8))
    rewrite_manifest(build)
    return f"index file {path} is not a readable FAISS index: it is damaged; run `alliance-qa build`"


def missing_manifest(build: Path) -> str:
    (build / "manifest.json").unlink()
    return f"index build {build} has no manifest.json: run `alliance-qa build`"


def garbage_manifest(build: Path) -> str:
    (build / "manifest.json").write_text('{"format_version": 1, "model": ')
    return (
        f"index manifest {build / 'manifest.json'} is unreadable (Expecting value: line 1 column 32 (char 31)): "
        "run `alliance-qa build`"
    )


def manifest_not_an_object(build: Path) -> str:
    (build / "manifest.json").write_text("[1, 2, 3]")
    return f"index manifest {build / 'manifest.json'} is not a JSON object: run `alliance-qa build`"


def count_mismatch(build: Path) -> str:
    units = (build / "units.jsonl").read_text().splitlines(keepends=True)
    (build / "units.jsonl").write_text("".join(units[:-1]))
    rewrite_manifest(build)
    n = len(units)
    return (
        f"index at {build} does not match its manifest (rows {{'units.jsonl': {n - 1}, 'vectors.npy': {n}, "
        f"'index.faiss': {n}}}, dimension 384, vectors ({n}, 384), FAISS d=384): run `alliance-qa build --full`"
    )


def dimension_mismatch(build: Path) -> str:
    rewrite_manifest(build, dimension=768)
    n = len((build / "units.jsonl").read_text().splitlines())
    return (
        f"index at {build} does not match its manifest (rows {{'units.jsonl': {n}, 'vectors.npy': {n}, "
        f"'index.faiss': {n}}}, dimension 768, vectors ({n}, 384), FAISS d=384): run `alliance-qa build --full`"
    )


def vectors_of_another_dimension(build: Path) -> str:
    """vectors.npy and index.faiss from a 768-dimension model, the manifest still saying 384."""
    import faiss

    n = len((build / "units.jsonl").read_text().splitlines())
    vectors = np.random.default_rng(9).standard_normal((n, 768)).astype(np.float32)
    np.save(build / "vectors.npy", vectors)
    index = faiss.IndexFlatIP(768)
    index.add(vectors)
    faiss.write_index(index, str(build / "index.faiss"))
    rewrite_manifest(build)
    return (
        f"index at {build} does not match its manifest (rows {{'units.jsonl': {n}, 'vectors.npy': {n}, "
        f"'index.faiss': {n}}}, dimension 384, vectors ({n}, 768), FAISS d=768): run `alliance-qa build --full`"
    )


def flipped_vector_bytes(build: Path) -> str:
    """Same size, different numbers: without checksums this would be a silent wrong answer."""
    path = build / "vectors.npy"
    data = bytearray(path.read_bytes())
    data[-4 * 384 : -4 * 300] = bytes(len(data[-4 * 384 : -4 * 300]))
    path.write_bytes(bytes(data))
    return f"index file {path} does not match the checksum in its manifest: it is damaged; run `alliance-qa build`"


def units_point_nowhere(build: Path) -> str:
    rows = [json.loads(line) for line in (build / "units.jsonl").read_text().splitlines()]
    rows[3]["section_id"] = "no-such-section"
    (build / "units.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rewrite_manifest(build)
    return (
        f"index at {build} is inconsistent: text 3 ({rows[3]['kind']}) points at section 'no-such-section' "
        f"sentence {rows[3]['sentence']}, which sections.jsonl does not have: run `alliance-qa build --full`"
    )


def garbage_section_hashes(build: Path) -> str:
    manifest = json.loads((build / "manifest.json").read_text())
    first = next(iter(manifest["sections"]))
    manifest["sections"][first] = "oops"
    (build / "manifest.json").write_text(json.dumps(manifest))
    return f"index at {build} is damaged (TypeError: string indices must be integers, not 'str'): run `alliance-qa build`"


FAULTS: dict[str, Callable[[Path], str]] = {
    "truncated-faiss": truncate_faiss,
    "garbage-faiss-same-size": garbage_faiss_same_size,
    "garbage-faiss-header-unchecked": garbage_faiss_unchecked,
    "missing-manifest": missing_manifest,
    "garbage-manifest": garbage_manifest,
    "manifest-not-an-object": manifest_not_an_object,
    "manifest-count-mismatch": count_mismatch,
    "manifest-dimension-mismatch": dimension_mismatch,
    "vectors-of-another-dimension": vectors_of_another_dimension,
    "flipped-vector-bytes": flipped_vector_bytes,
    "units-point-nowhere": units_point_nowhere,
    "garbage-section-hashes": garbage_section_hashes,
}


@pytest.fixture
def two_builds(good: tuple[Path, Path, Path]) -> tuple[Path, Path, Path, Path]:
    """``(corpus_dir, index_dir, good older build A, current build B)``, both of the same corpus.

    B is a copy of A under a later build id (as ``alliance-qa build --full`` would make, without the embedding).
    """
    corpus_dir, index_dir, first = good
    second = later_copy_as_current(index_dir, first)
    assert current(index_dir) == second and load_index(index_dir).build_id == second.name
    return corpus_dir, index_dir, first, second


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_damaged_current_build_falls_back_to_the_last_good_one(
    fault: str,
    two_builds: tuple[Path, Path, Path, Path],
    fake_embedder: HashEmbedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    corpus_dir, index_dir, good, damaged = two_builds
    problem = FAULTS[fault](damaged)
    with pytest.raises(IndexStateError) as info:
        read_build(damaged)
    assert str(info.value) == problem
    assert "\n" not in str(info.value) and "faiss::" not in str(info.value)

    with caplog.at_level(logging.WARNING, logger="alliance_qa"):
        assert load_index(index_dir).build_id == good.name
    said = [r.getMessage() for r in caplog.records if r.name.startswith("alliance_qa")]
    assert said == [problem, f"using the last good index build {good.name} instead of the damaged current one"]

    # The default assistant serves the last good build (same corpus: nothing to rebuild) ...
    qa = assert_answers_from(corpus_dir, index_dir, fake_embedder, good)
    auto = Assistant(corpus_dir, index_dir, embedder=fake_embedder)
    assert auto.ask(PORTS).citations[0].number == 8 and auto.index.build_id == good.name
    # ... without re-reading the damaged build on every question.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="alliance_qa"):
        for _ in range(3):
            assert qa.ask(PORTS).citations[0].number == 8
    assert [r for r in caplog.records if r.name.startswith("alliance_qa")] == []

    # A build repairs it: nothing re-embedded, the damaged build pruned, the good one kept as the fallback.
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "")
    assert out.startswith("built index: 11 sections, 51 texts; embedded 0 texts (0 sections), reused 51 texts")
    repaired = current(index_dir)
    assert sorted(p.name for p in (index_dir / "builds").iterdir()) == sorted([good.name, repaired.name])
    assert_answers_from(corpus_dir, index_dir, fake_embedder, repaired)


def test_dangling_current_link_falls_back(
    two_builds: tuple[Path, Path, Path, Path], fake_embedder: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    corpus_dir, index_dir, good, damaged = two_builds
    shutil.rmtree(damaged)
    with caplog.at_level(logging.WARNING, logger="alliance_qa"):
        assert load_index(index_dir).build_id == good.name
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alliance_qa")] == [
        f"using the last good index build {good.name} instead of the damaged current one"
    ]
    assert_answers_from(corpus_dir, index_dir, fake_embedder, good)


@pytest.mark.parametrize("fault", ["truncated-faiss", "missing-manifest", "manifest-dimension-mismatch"])
def test_only_build_damaged_is_rebuilt_and_says_so(
    fault: str, good: tuple[Path, Path, Path], fake_embedder: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    corpus_dir, index_dir, only = good
    problem = FAULTS[fault](only)
    unusable = f"no usable index in {index_dir} ({problem})"

    strict = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False)
    with pytest.raises(IndexStateError) as info:
        strict.ask(PORTS)
    assert str(info.value) == unusable

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="alliance_qa"):
        code, out, err = run_cli(corpus_dir, index_dir, "ask", "--json", PORTS)
    assert code == 0, err
    assert json.loads(out)["citations"][0]["number"] == 8
    assert f"{unusable}; building it now" in [r.getMessage() for r in caplog.records if r.name.startswith("alliance_qa")]
    rebuilt = current(index_dir)
    assert rebuilt != only
    assert [p.name for p in (index_dir / "builds").iterdir()] == [rebuilt.name]  # the damaged one is gone
    assert_answers_from(corpus_dir, index_dir, fake_embedder, rebuilt)


def test_manifest_naming_another_model_is_refused_by_ask_and_rebuilt_by_build(good: tuple[Path, Path, Path]) -> None:
    """The vectors may be fine but were made by another model: never served, never re-embedded by a question."""
    corpus_dir, index_dir, build = good
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["model"] = "some-other-model"
    (build / "manifest.json").write_text(json.dumps(manifest))
    for command in (("ask", "--json", PORTS), ("search", PORTS)):
        code, out, err = run_cli(corpus_dir, index_dir, *command)
        assert (code, out) == (4, "")
        assert err == (
            f"alliance-qa: error: index at {build} was built with model 'some-other-model' (dimension 384) but the "
            f"configured model is '{FAKE_MODEL}': unset ALLIANCE_QA_MODEL (or --model) to use it, or run "
            "`alliance-qa build` to rebuild it with the configured model\n"
        )
        assert current(index_dir) == build
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    # every section re-embedded: its 39 titles and sentences read by the model (windows are their means), none reused
    assert code == 0 and out.startswith("built index: 11 sections, 51 texts; embedded 39 texts (11 sections), reused 0")
    rebuilt = current(index_dir)
    assert rebuilt != build and read_build(rebuilt).model == FAKE_MODEL


def test_served_index_ignores_a_new_build_made_with_another_model(
    two_builds: tuple[Path, Path, Path, Path], fake_embedder: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    """A running server never swaps in vectors from another model (that would be a silent wrong answer)."""
    corpus_dir, index_dir, good, newer = two_builds
    link = index_dir / "current"
    link.unlink()
    link.symlink_to(Path("builds") / good.name)
    served = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False)
    assert served.ask(PORTS).citations[0].number == 8 and served.index.build_id == good.name

    manifest = json.loads((newer / "manifest.json").read_text())
    manifest["model"] = "some-other-model"
    (newer / "manifest.json").write_text(json.dumps(manifest))
    link.unlink()
    link.symlink_to(Path("builds") / newer.name)
    with caplog.at_level(logging.WARNING, logger="alliance_qa"):
        for _ in range(3):
            assert served.ask(PORTS).citations[0].number == 8
    assert served.index.build_id == good.name
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alliance_qa")] == [
        f"keeping index build {good.name}: build {newer.name} was made with model 'some-other-model', "
        f"not the configured '{FAKE_MODEL}'"
    ]


def test_read_only_index_folder_fails_the_build_but_still_answers(
    pristine: Path, fake_embedder: HashEmbedder
) -> None:
    """Build: BuildError, exit 5, index untouched.  Loading and asking: still work, with a note."""
    with world_readable_dir("aqa-readonly-") as root:
        corpus_dir, index_dir, before = copy_pristine(pristine, root)
        edit(corpus_dir, "Rajin", "Sonbong")
        for folder, dirs, files in os.walk(index_dir):
            for name in dirs + files:
                if not (Path(folder) / name).is_symlink():
                    (Path(folder) / name).chmod(0o555 if name in dirs else 0o444)
        index_dir.chmod(0o555)
        with without_root():
            code, out, err = run_cli(corpus_dir, index_dir, "build")
            qa = assert_answers_from(corpus_dir, index_dir, fake_embedder, before)
            auto = Assistant(corpus_dir, index_dir, embedder=fake_embedder)
            auto_answer = auto.ask(PORTS)
            cli_code, cli_out, cli_err = run_cli(corpus_dir, index_dir, "ask", PORTS)
        locked = (
            f"cannot write to index folder {index_dir} (Permission denied): fix its permissions or set ALLIANCE_QA_INDEX"
        )
        assert (code, out, err) == (5, "", f"alliance-qa: error: {locked}\n")
        assert qa.notice == (
            "The documents have been edited since the index was built; run `alliance-qa build` to update answers."
        )
        assert auto_answer.citations[0].number == 8 and "Rajin" in auto_answer.citations[0].section_text
        assert auto.notice == (
            f"The documents have been edited since the index was built, and rebuilding failed "
            f"({locked.replace(str(index_dir), index_dir.name)}); answers come from the last built index."
        )
        assert str(root) not in auto.notice  # notes reach web users: no server paths
        assert cli_code == 0 and cli_out.startswith("**Access to Ports (8)**")
        assert cli_err == f"\nnote: {auto.notice}\n"
        assert current(index_dir) == before
        assert sorted(p.name for p in (index_dir / "builds").iterdir()) == [before.name]


# ----------------------------------------------------------------------------- SIGKILL from a subprocess

#: ``alliance-qa`` (fake embedder, no torch) with ``os.replace`` patched to SIGKILL the process at one step of the swap.
KILL_WRAPPER = """
import os, signal
from pathlib import Path
step = os.environ["AQA_KILL_AT"]
real_replace = os.replace
def replace(src, dst, *args, **kwargs):
    dst = Path(dst)
    if (step == "rename-build" and dst.parent.name == "builds") or (step == "swap-current" and dst.name == "current"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *args, **kwargs)
os.replace = replace
""" + CHILD_CLI


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child ``alliance-qa``: the fake model, no other ``ALLIANCE_QA_*`` setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLIANCE_QA_")}
    env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", ALLIANCE_QA_MODEL=FAKE_MODEL, **extra)
    return env


def lock_is_held(index_dir: Path) -> bool:
    """Whether some process holds the build lock of ``index_dir`` right now."""
    try:
        fd = os.open(index_dir / ".build.lock", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def add_bulk(corpus_dir: Path, sections: int) -> None:
    """A file of ``sections`` sections of 10 distinct sentences: a build has embedding work to do."""
    parts = ["# Bulk"]
    for n in range(11, 11 + sections):
        sentences = [
            f"Delegation {n}-{i} from Khabarovsk discussed shipment {n * 7 + i} of coal through depot {i}."
            for i in range(10)
        ]
        parts.append(f"## {n}. Shipments {n}\n\n" + " ".join(sentences))
    (corpus_dir / "bulk.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")


@pytest.mark.parametrize("step", ["rename-build", "swap-current"])
def test_build_killed_during_the_swap_leaves_the_last_good_index(
    step: str, good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
) -> None:
    """SIGKILL after every file is written but before the rename, or before the ``current`` swap."""
    corpus_dir, index_dir, before = good
    edit(corpus_dir, "Rajin", "Sonbong")
    proc = subprocess.run(
        [sys.executable, "-c", KILL_WRAPPER, "--corpus", str(corpus_dir), "--index", str(index_dir), "build"],
        env=child_env(AQA_KILL_AT=step), capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert current(index_dir) == before
    leftovers = sorted(p.name for p in index_dir.iterdir() if p.name.startswith(".current-"))
    leftovers += sorted(p.name for p in (index_dir / "builds").iterdir() if p.name.startswith(".tmp-"))
    assert len(leftovers) == 1, leftovers  # what the killed build left half done
    assert not lock_is_held(index_dir)  # the kernel released the lock with the process

    # The next load uses the last good build; it knows the corpus changed since.
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)
    # The next build finishes the job and cleans up.
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "") and "embedded" in out and "(1 section)" in out
    after = current(index_dir)
    assert after != before
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".current-")]
    assert not [p for p in (index_dir / "builds").iterdir() if p.name.startswith(".tmp-")]
    assert_answers_from(corpus_dir, index_dir, fake_embedder, after, marker="Sonbong")


def test_build_killed_while_embedding_leaves_the_last_good_index(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder, tmp_path: Path
) -> None:
    """An external SIGKILL while the build holds the lock and is inside its embedding (verified: the
    child's embedder says so and waits on its stdin; the lock is held)."""
    corpus_dir, index_dir, before = good
    add_bulk(corpus_dir, 20)
    started = tmp_path / "embedding-started"
    command = [sys.executable, "-c", CHILD_CLI, "--corpus", str(corpus_dir), "--index", str(index_dir), "build"]
    proc = subprocess.Popen(command, env=child_env(AQA_FAKE_STARTED=str(started)), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)  # fmt: skip
    try:
        wait_for(started.exists, 120, "the build to start embedding", alive=lambda: proc.poll() is None)
        pid, texts = started.read_text(encoding="utf-8").split()
        assert int(pid) == proc.pid and int(texts) > 0
        assert lock_is_held(index_dir), "the build embeds without holding the lock"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert current(index_dir) == before
    assert not lock_is_held(index_dir)
    assert_answers_from(corpus_dir, index_dir, fake_embedder, before)
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, err) == (0, "") and out.startswith("built index: 31 sections, ")
    assert sorted(p.name for p in (index_dir / "builds").iterdir()) == sorted([before.name, current(index_dir).name])
