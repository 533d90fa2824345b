"""Index builds in tmp_path: incremental reuse, removal, atomic failure, staleness, model mismatch.

Plumbing: the fake embedder (``fake_model``) stands in for the model; retrieval quality is test_quality's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from alliance_qa.assistant import Assistant
from alliance_qa.build import build_index, section_units, stale_reasons
from alliance_qa.corpus import read_corpus
from alliance_qa.errors import BuildError, CorpusError, IndexStateError
from alliance_qa.load import current_build, load_index
from fakeembed import NAME as FAKE_MODEL
from fakeembed import HashEmbedder
from robustutil import current

pytestmark = pytest.mark.usefixtures("fake_model")


class CountingEmbedder:
    """Wraps an embedder and records every text it is asked to embed."""

    def __init__(self, inner: HashEmbedder, fail_after: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.seen: list[str] = []
        self.fail_after = fail_after

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.seen) + len(texts) > self.fail_after:
            raise RuntimeError("simulated crash while embedding")
        self.seen += list(texts)
        return self.inner.encode(texts)


def _article(corpus_dir: Path) -> Path:
    return next(corpus_dir.glob("*.txt"))


def _edit(corpus_dir: Path, old: str, new: str) -> None:
    path = _article(corpus_dir)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_manifest_records_model_versions_and_hashes(fake_assistant: Assistant) -> None:
    manifest = json.loads((fake_assistant.index.path / "manifest.json").read_text())
    assert manifest["model"] == FAKE_MODEL
    assert manifest["dimension"] == 384
    assert manifest["normalization_version"] >= 1
    assert manifest["package_version"]
    assert manifest["built_at"].endswith("+00:00")
    assert len(manifest["sections"]) == 11
    assert all(len(info["hash"]) == 64 for info in manifest["sections"].values())
    kinds = {json.loads(line)["kind"] for line in (fake_assistant.index.path / "units.jsonl").read_text().splitlines()}
    assert kinds == {"title", "section", "sentence"}


def test_incremental_build_embeds_only_the_edited_section(
    corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder
) -> None:
    first = CountingEmbedder(fake_embedder)
    report = build_index(corpus_dir, index_dir, first, model=FAKE_MODEL)
    corpus_texts = {u.text for u in load_index(index_dir).units}  # the profile's calibration embeds other texts
    windows = {u.text for u in load_index(index_dir).units if u.kind == "section"}
    # every title and sentence read once (the intro's title is also its first sentence); windows are their means
    assert report.embedded == len(set(first.seen) & corpus_texts) == report.units - 1 - len(windows)
    assert not windows & set(first.seen)
    assert report.reused == 0 and report.sections_embedded == 11

    # "Rajin" occurs in one sentence of area 8: that sentence is read again, and the section window re-averaged.
    _edit(corpus_dir, "Rajin ports", "Rajin and Chongjin ports")
    second = CountingEmbedder(fake_embedder)
    report = build_index(corpus_dir, index_dir, second, model=FAKE_MODEL)
    assert report.sections_embedded == 1 and report.sections_reused == 10 and report.removed == 0
    edited = [text for text in second.seen if text in {u.text for u in load_index(index_dir).units}]
    assert report.embedded == 1 == len(edited)
    assert all("Chongjin" in text for text in edited)
    assert report.reused == report.units - 2  # the edited sentence and its window
    assert "embedded 1 text (1 section)" in report.summary()


def test_an_incremental_build_parses_only_the_changed_files_and_equals_a_fresh_build(
    corpus_dir: Path, index_dir: Path, tmp_path: Path, fake_embedder: HashEmbedder, parsed_files: list[str]
) -> None:
    import alliance_qa.corpus as corpus_module

    parsed = parsed_files
    (corpus_dir / "addendum.md").write_text("# Addendum\n\n## Ferries\n\nA ferry crosses twice a week.\n", encoding="utf-8")
    build_index(corpus_dir, index_dir, fake_embedder, model=FAKE_MODEL)
    parsed.clear()
    (corpus_dir / "addendum.md").write_text("# Addendum\n\n## Ferries\n\nA ferry crosses daily.\n", encoding="utf-8")
    report = build_index(corpus_dir, index_dir, fake_embedder, model=FAKE_MODEL)
    assert parsed == ["addendum.md"], "the unchanged article was parsed again"
    assert report.sections_embedded == 1
    incremental = load_index(index_dir)
    assert incremental.manifest["parser_version"] == corpus_module.PARSER_VERSION

    parsed.clear()
    build_index(corpus_dir, tmp_path / "fresh", fake_embedder, model=FAKE_MODEL, full=True)
    assert sorted(parsed) == sorted(["addendum.md", _article(corpus_dir).name])
    fresh = load_index(tmp_path / "fresh")
    assert [(s, s.sentences, s.document_title, s.intro) for s in incremental.sections] == \
        [(s, s.sentences, s.document_title, s.intro) for s in fresh.sections]
    assert incremental.manifest["sections"] == fresh.manifest["sections"]

    assert any("ferry crosses daily" in s.text for s in incremental.sections)


def test_unchanged_corpus_needs_no_embedding(corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder) -> None:
    build_index(corpus_dir, index_dir, fake_embedder, model=FAKE_MODEL)
    loader_calls: list[int] = []

    def loader() -> HashEmbedder:
        loader_calls.append(1)
        return fake_embedder

    report = build_index(corpus_dir, index_dir, loader, model=FAKE_MODEL)
    assert report.unchanged and report.embedded == 0 and loader_calls == []


def test_edit_is_reflected_in_answers(fake_assistant: Assistant, corpus_dir: Path) -> None:
    _edit(corpus_dir, "Rajin ports", "Rajin ports, frozen solid every winter,")
    report = fake_assistant.build()
    assert report.sections_embedded == 1
    hits = fake_assistant.search("Which ports freeze in winter?", k=1)
    assert hits[0].number == 8
    assert "frozen solid every winter" in hits[0].section_text


def test_deleted_section_disappears_from_results(fake_assistant: Assistant, corpus_dir: Path) -> None:
    path = _article(corpus_dir)
    text = path.read_text(encoding="utf-8")
    start, end = text.index("  8. Acc"), text.index("  9. Cultural")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    report = fake_assistant.build()
    assert report.removed == 1 and report.sections == 10
    hits = fake_assistant.search("Which ports matter for trade?", k=10)
    assert 8 not in [h.number for h in hits]
    assert all("Vladivostok" not in h.section_text for h in hits)


def test_failed_build_leaves_the_old_index_answering(
    fake_assistant: Assistant, corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder
) -> None:
    before = current_build(index_dir)
    _edit(corpus_dir, "Rajin", "Sonbong")
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(corpus_dir, index_dir, CountingEmbedder(fake_embedder, fail_after=0), model=FAKE_MODEL)
    assert current_build(index_dir) == before
    assert not list((index_dir / "builds").glob(".tmp-*"))
    fresh = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False)
    answer = fresh.ask("Which ports matter for trade?")
    assert answer.citations[0].number == 8
    assert "Rajin" in answer.citations[0].section_text  # still the old, intact build


def test_unreadable_corpus_file_fails_before_touching_the_index(
    fake_assistant: Assistant, corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder
) -> None:
    before = current_build(index_dir)
    (corpus_dir / "broken.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CorpusError, match=r"broken\.txt is not UTF-8"):
        build_index(corpus_dir, index_dir, fake_embedder, model=FAKE_MODEL)
    assert current_build(index_dir) == before
    assert load_index(index_dir).build_id == before.name if before else False


def test_write_failure_is_a_build_error_and_keeps_the_index(
    fake_assistant: Assistant, corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = current_build(index_dir)
    _edit(corpus_dir, "Rajin", "Sonbong")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(BuildError, match=r"No space left on device.*previous index is unchanged"):
        build_index(corpus_dir, index_dir, fake_embedder, model=FAKE_MODEL)
    assert current_build(index_dir) == before
    assert not list((index_dir / "builds").glob(".tmp-*"))


def test_stale_index_is_detected_and_rebuilt_on_load(
    fake_assistant: Assistant, corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _edit(corpus_dir, "Rajin", "Sonbong")
    sections, _ = read_corpus(corpus_dir)
    reasons = stale_reasons(load_index(index_dir), sections, FAKE_MODEL)
    assert reasons == ["corpus changed since the index was built (1 section new or edited, 0 removed)"]

    served = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=False)
    served.ask("Which ports matter for trade?")
    assert served.notice and "edited since the index was built" in served.notice

    with caplog.at_level("WARNING"):
        fresh = Assistant(corpus_dir, index_dir, embedder=fake_embedder)
        hits = fresh.search("Which ports matter for trade?", k=1)
    assert "index is stale" in caplog.text
    assert "Sonbong" in hits[0].section_text


def test_missing_index_is_built_automatically(
    corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        hits = Assistant(corpus_dir, index_dir, embedder=fake_embedder).search("Which ports matter for trade?", k=1)
    assert hits[0].number == 8
    assert "no index in" in caplog.text and "building it now" in caplog.text


def test_model_mismatch_is_a_clear_message_and_only_a_build_re_embeds(
    fake_assistant: Assistant, corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder
) -> None:
    manifest_path = fake_assistant.index.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model"] = "some-other-model"
    manifest_path.write_text(json.dumps(manifest))
    before = current_build(index_dir)

    for auto_build in (False, True):  # a question never re-embeds a (maybe shared) index
        qa = Assistant(corpus_dir, index_dir, embedder=fake_embedder, auto_build=auto_build)
        with pytest.raises(IndexStateError, match=r"built with model 'some-other-model'.*unset ALLIANCE_QA_MODEL.*"
                                                  r"run `alliance-qa build` to rebuild it"):
            qa.ask("Which ports matter for trade?")
        assert current_build(index_dir) == before

    rebuilt = Assistant(corpus_dir, index_dir, embedder=fake_embedder)
    assert rebuilt.build().full
    assert rebuilt.ask("Which ports matter for trade?").citations[0].number == 8
    assert json.loads((current(index_dir) / "manifest.json").read_text())["model"] == FAKE_MODEL


def test_dimension_mismatch_never_reaches_faiss(fake_assistant: Assistant) -> None:
    with pytest.raises(IndexStateError, match=r"dimension 10 but the index .* has 384"):
        fake_assistant.index.search(np.ones(10, dtype=np.float32), 3)


def test_long_section_is_embedded_in_windows_with_a_warning(corpus_dir: Path) -> None:
    sections, _ = read_corpus(corpus_dir)
    long = sections[1].__class__(**{**sections[1].__dict__, "text": "word " * 1000 + "the very tail.", "sentences": ()})
    units, warnings = section_units(long)
    windows = [u for u in units if u.kind == "section"]
    assert len(windows) > 5 and windows[-1].text.endswith("the very tail.")
    assert warnings and "embedded as" in warnings[0]


def test_progress_bar_is_quiet_when_not_a_terminal(
    corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    build_index(corpus_dir, index_dir, fake_embedder, model=FAKE_MODEL)
    captured = capsys.readouterr()
    assert "embedding" not in captured.err and "%|" not in captured.err


def test_ranking_many_questions_in_one_search_equals_ranking_each(fake_assistant: Assistant) -> None:
    retriever = fake_assistant.state().retriever
    questions = ["Which ports matter?", "What about energy?", "nothing shared at all", "cyber space exploration"]
    vectors = np.stack([fake_assistant.embed_question(q) for q in questions])
    for one, many in zip([retriever.rank(q, v) for q, v in zip(questions, vectors, strict=True)],
                         retriever.rank_many(questions, vectors), strict=True):
        np.testing.assert_array_equal(one.scores, many.scores)
    with pytest.raises(IndexStateError, match="dimension 3 but the index"):
        fake_assistant.index.search_many(np.ones((2, 3), dtype=np.float32), 5)
