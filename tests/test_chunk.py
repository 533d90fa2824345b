"""Units from sections: one pass of the model over every word ("pooled", "averaged"), and the earlier "separate" scheme."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from alliance_qa.build import AVERAGED_OPENING, build_index
from alliance_qa.chunk import chunking_setting, section_units, section_windows
from alliance_qa.corpus import Section, read_corpus
from alliance_qa.embed import SentenceTransformerEmbedder, encode_windows
from alliance_qa.errors import BuildError
from alliance_qa.load import load_index
from fakeembed import HashEmbedder
from robustutil import current


def _long_section(sentences: int = 60) -> Section:
    text = " ".join(f"Sentence number {i} talks about harbour cranes and grain quotas in some detail." for i in range(sentences))
    from alliance_qa.corpus import split_sentences

    return Section("doc.md#3", 3, "Grain Trade", text, "doc.md", 3, tuple(split_sentences(text)))


def test_pooled_windows_cover_every_sentence_once_within_the_budget(embedder: SentenceTransformerEmbedder) -> None:
    section = _long_section()
    windows, units, long = section_windows(section, 254, embedder.count_tokens)
    assert long and len(windows) > 1
    sentences = [u for u in units if u.kind == "sentence"]
    assert [u.sentence for u in sentences] == list(range(len(section.sentences)))  # each sentence once, in order
    assert [u.text for u in sentences] == list(section.sentences)
    for window in windows:
        assert window.text.startswith("Grain Trade. ")  # every window carries the title
        assert embedder.count_tokens([window.text])[0] <= 254
        for unit, span in zip(window.units, window.spans, strict=True):
            if span is not None and unit.kind == "sentence":
                assert window.text[span[0] : span[1]] == unit.text
    assert [u.kind for u in units[:2]] == ["title", "section"] and windows[0].spans[0] == (0, len("Grain Trade."))
    # Windows are filled evenly: none is a small remainder.
    sizes = embedder.count_tokens([w.text for w in windows])
    assert min(sizes) > 0.6 * max(sizes), sizes


def test_a_sentence_longer_than_a_window_is_cut_into_runs(embedder: SentenceTransformerEmbedder) -> None:
    text = "word " * 600 + "the end."
    section = Section("d.md#1", 1, "Long", text.strip(), "d.md", 1, (text.strip(),))
    windows, units, long = section_windows(section, 254, embedder.count_tokens)
    runs = [u for u in units if u.kind == "sentence"]
    assert long and len(runs) >= 3 and {u.sentence for u in runs} == {0}
    assert " ".join(u.text for u in runs) == text.strip()
    assert all(embedder.count_tokens([w.text])[0] <= 254 for w in windows)


def test_encode_spans_whole_window_equals_encode_and_spans_are_unit_vectors(
    embedder: SentenceTransformerEmbedder,
) -> None:
    text = "Grain Trade. The port ships wheat north every spring. Cranes were repaired in May."
    spans = [None, (0, 12), (13, 53), (54, len(text))]
    [vectors] = embedder.encode_spans([text], [spans])
    assert vectors.shape == (4, embedder.dimension)
    np.testing.assert_allclose(vectors[0], embedder.encode([text])[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    alone = embedder.encode([text[a:b] for a, b in spans[1:]])  # type: ignore[misc]
    same = (vectors[1:] * alone).sum(axis=1)
    assert (same > 0.5).all(), same  # in context, yet still about the same thing
    assert not np.allclose(vectors[2], vectors[3], atol=1e-3)


class NoSpansEmbedder:
    """The real model without ``encode_spans``: the build embeds each unit's text alone."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.name, self.dimension, self.inner = inner.name, inner.dimension, inner
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += list(texts)
        return self.inner.encode(texts)


def test_encode_windows_without_encode_spans_embeds_each_unit_alone(embedder: SentenceTransformerEmbedder) -> None:
    windows, _, _ = section_windows(_long_section(8), 254, embedder.count_tokens)
    plain = NoSpansEmbedder(embedder)
    vectors = encode_windows(plain, windows)
    assert [v.shape[0] for v in vectors] == [len(w.units) for w in windows]
    np.testing.assert_allclose(vectors[0][0], embedder.encode(["Grain Trade."])[0], atol=1e-5)


def test_pooled_build_reads_each_word_once_and_rebuilds_only_edited_sections(
    corpus_dir: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    report = build_index(corpus_dir, index_dir, embedder, model=embedder.name, chunking="pooled")
    loaded = load_index(index_dir)
    assert loaded.manifest["chunking"] == "pooled" and report.embedded == report.units == len(loaded.units)
    kinds = {kind: sum(1 for u in loaded.units if u.kind == kind) for kind in ("title", "section", "sentence")}
    sections, _ = read_corpus(corpus_dir)
    assert kinds["sentence"] >= sum(len(s.sentences) for s in sections)
    assert kinds["title"] == sum(1 for s in sections if s.title)
    # Sentence vectors come from the windows: close to, not equal to, the sentence embedded alone.
    row = next(i for i, u in enumerate(loaded.units) if u.kind == "sentence" and len(u.text.split()) > 8)
    alone = embedder.encode([loaded.units[row].text])[0]
    assert 0.5 < float(loaded.vectors[row] @ alone) < 0.9999

    article = next(corpus_dir.glob("*.txt"))
    article.write_text(article.read_text(encoding="utf-8").rstrip() + " A new closing line was added.\n", encoding="utf-8")
    again = build_index(corpus_dir, index_dir, embedder, model=embedder.name, chunking="pooled")
    assert again.sections_embedded == 1 and again.reused == again.units - again.embedded
    edited = sections[-1].id
    reloaded = load_index(index_dir)
    untouched = [i for i, u in enumerate(reloaded.units) if u.section_id != edited]
    before = {(u.section_id, u.kind, u.text): loaded.vectors[i] for i, u in enumerate(loaded.units)}
    for i in untouched:
        u = reloaded.units[i]
        np.testing.assert_array_equal(reloaded.vectors[i], before[(u.section_id, u.kind, u.text)])


class CountingEmbedder(NoSpansEmbedder):
    """The real model, its word-piece counter and window size, recording every text it reads."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        super().__init__(inner)
        self.max_tokens, self.count_tokens = inner.max_tokens, inner.count_tokens


def test_averaged_build_reads_each_title_and_sentence_once_and_averages_the_windows(
    corpus_dir: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    body = " ".join(f"Clause {i} of the treaty covers fishing rights near island {i}." for i in range(60))
    (corpus_dir / "annex.md").write_text(f"# Annex\n\n## 1. Fishing\n\n{body}\n", encoding="utf-8")
    counting = CountingEmbedder(embedder)
    report = build_index(corpus_dir, index_dir, counting, model=embedder.name, chunking="averaged")
    loaded = load_index(index_dir)
    units, vectors = list(loaded.units), loaded.vectors
    windows = [i for i, u in enumerate(units) if u.kind == "section"]
    assert loaded.manifest["chunking"] == "averaged" and report.embedded == len(set(counting.seen) & {u.text for u in units})
    assert not {units[i].text for i in windows} & set(counting.seen), "a window was read by the model"
    annex = [i for i in windows if units[i].section_id.startswith("annex.md")]
    assert len(annex) >= 2  # a long section: several windows, each starting with "Fishing. "
    for i in annex:
        held = list(range(i + 1, next(j for j in range(i + 1, len(units) + 1) if j == len(units) or units[j].kind != "sentence")))
        title = next(j for j, u in enumerate(units) if u.kind == "title" and u.section_id == units[i].section_id)
        parts = [title, *held]
        weights = np.array([len(units[j].text.split()) for j in parts], dtype=np.float32)
        weights[0] *= AVERAGED_OPENING  # the window's opening (here its title) leans as the model's own vector does
        mean = (vectors[parts] * weights[:, None]).sum(axis=0)
        np.testing.assert_allclose(vectors[i], mean / np.linalg.norm(mean), atol=1e-6)
        assert units[i].text == "Fishing. " + " ".join(units[j].text for j in held)
    # Sentences and titles are the model's own vectors for their text, as in "sentences".
    row = next(i for i, u in enumerate(units) if u.kind == "sentence" and len(u.text.split()) > 8)
    np.testing.assert_allclose(vectors[row], embedder.encode([units[row].text])[0], atol=1e-5)

    article = next(corpus_dir.glob("*.txt"))
    article.write_text(article.read_text(encoding="utf-8").rstrip() + " A new closing line was added.\n", encoding="utf-8")
    counting.seen.clear()
    again = build_index(corpus_dir, index_dir, counting, model=embedder.name, chunking="averaged")
    read_again = [t for t in counting.seen if t in {u.text for u in load_index(index_dir).units}]
    assert again.sections_embedded == 1 and again.embedded == 1 and read_again == ["A new closing line was added."]
    fresh = build_index(corpus_dir, index_dir.parent / "fresh", embedder, model=embedder.name, chunking="averaged")
    assert fresh.units == again.units
    np.testing.assert_allclose(load_index(index_dir).vectors, load_index(index_dir.parent / "fresh").vectors, atol=1e-5)


def test_changing_the_chunking_rebuilds_everything(
    corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(corpus_dir, index_dir, fake_embedder, model=fake_embedder.name, chunking="separate")
    monkeypatch.setenv("ALLIANCE_QA_CHUNKING", "pooled")
    report = build_index(corpus_dir, index_dir, fake_embedder, model=fake_embedder.name)
    assert report.full and report.reused == 0
    assert json.loads((current(index_dir) / "manifest.json").read_text())["chunking"] == "pooled"
    monkeypatch.setenv("ALLIANCE_QA_CHUNKING", "words")
    with pytest.raises(BuildError, match="chunking 'words' is not one of averaged, sentences, pooled, separate"):
        chunking_setting()


def test_long_sections_give_one_warning_and_the_detail_under_verbose(
    corpus_dir: Path, index_dir: Path, embedder: SentenceTransformerEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    body = " ".join(f"Clause {i} of the treaty covers fishing rights near island {i}." for i in range(120))
    for n in (1, 2):
        (corpus_dir / f"annex-{n}.md").write_text(f"# Annex {n}\n\n## 1. Fishing {n}\n\n{body}\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="alliance_qa.build"):
        report = build_index(corpus_dir, index_dir, embedder, model=embedder.name, chunking="pooled")
    long = [w for w in report.warnings if "longer than the model reads" in w]
    assert long == ["2 sections were longer than the model reads at once and were embedded in several windows "
                    "(run with -v for the list)"]
    details = [r.getMessage() for r in caplog.records if "consecutive windows" in r.getMessage()]
    assert len(details) == 2 and "annex-1.md" in details[0]


def test_separate_scheme_still_makes_overlapping_windows() -> None:
    section = _long_section()
    units, notes = section_units(section)
    windows = [u for u in units if u.kind == "section"]
    assert len(windows) > 2 and notes and "overlapping windows" in notes[0]


def test_an_index_keeps_its_chunking_until_the_setting_names_another(
    corpus_dir: Path, index_dir: Path, fake_embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALLIANCE_QA_CHUNKING", raising=False)
    build_index(corpus_dir, index_dir, fake_embedder, model=fake_embedder.name, chunking="sentences")
    article = next(corpus_dir.glob("*.txt"))
    article.write_text(article.read_text(encoding="utf-8").rstrip() + " A new closing line was added.\n", encoding="utf-8")
    report = build_index(corpus_dir, index_dir, fake_embedder, model=fake_embedder.name)  # an upgrade's new default
    assert report.sections_embedded == 1 and not report.full, "an unchanged setting re-embedded everything"
    assert json.loads((current(index_dir) / "manifest.json").read_text())["chunking"] == "sentences"
    report = build_index(corpus_dir, index_dir, fake_embedder, model=fake_embedder.name, full=True)
    assert json.loads((current(index_dir) / "manifest.json").read_text())["chunking"] == "sentences"
    monkeypatch.setenv("ALLIANCE_QA_CHUNKING", "averaged")
    report = build_index(corpus_dir, index_dir, fake_embedder, model=fake_embedder.name)
    assert report.full and json.loads((current(index_dir) / "manifest.json").read_text())["chunking"] == "averaged"
    monkeypatch.delenv("ALLIANCE_QA_CHUNKING")
    build_index(corpus_dir, index_dir.parent / "fresh", fake_embedder, model=fake_embedder.name)  # a new index
    assert json.loads((current(index_dir.parent / "fresh") / "manifest.json").read_text())["chunking"] == "averaged"
