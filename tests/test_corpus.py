"""Reading the corpus: sections of the article, Markdown headings, sentences, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance_qa.corpus import parse_document, read_corpus, split_sentences
from alliance_qa.errors import CorpusError

TITLES = [
    "Economic Cooperation",
    "Energy Resources",
    "Regional Influence",
    "Security Cooperation",
    "Technology and Expertise",
    "Diplomatic Support",
    "Counterbalancing China",
    "Access to Ports",
    "Cultural and Educational Exchanges",
    "Denuclearization Talks",
]


def test_article_has_intro_and_ten_numbered_areas(corpus_dir: Path) -> None:
    sections, warnings = read_corpus(corpus_dir)
    assert warnings == []
    assert len(sections) == 11
    intro, *areas = sections
    assert intro.number is None
    assert intro.title == "10 Things North Korea and Russia Want from Each Other"
    assert "Kim Jong Un-Vladimir Putin" in intro.text
    assert intro.text.rstrip().endswith("from each other:")
    assert [a.number for a in areas] == list(range(1, 11))
    assert [a.title for a in areas] == TITLES
    assert areas[7].text.startswith("Russia's Vladivostok and North Korea's Rajin ports")


def test_section_ids_are_slug_plus_number_and_stable(corpus_dir: Path) -> None:
    first, _ = read_corpus(corpus_dir)
    path = next(corpus_dir.iterdir())
    path.write_text(path.read_text(encoding="utf-8").replace("Rajin", "Rason"), encoding="utf-8")
    second, _ = read_corpus(corpus_dir)
    assert [s.id for s in first] == [s.id for s in second]
    assert first[2].id == "10-things-north-korea-and-russia-want-2"
    assert first[0].id == "10-things-north-korea-and-russia-want-intro"
    changed = [a.id for a, b in zip(first, second, strict=True) if a.content_hash != b.content_hash]
    assert changed == ["10-things-north-korea-and-russia-want-8"]


def test_sentences_keep_initials_together_and_are_substrings(corpus_dir: Path) -> None:
    sections, _ = read_corpus(corpus_dir)
    security = sections[4]
    assert security.sentences[0].endswith("presence of U. S. military forces in South Korea and Japan.")
    for section in sections:
        assert section.sentences
        for sentence in section.sentences:
            assert sentence in section.text


def test_split_sentences_on_punctuation_and_paragraphs() -> None:
    text = "Dr. Kim met Mr. Lee. They talked! Did it work?\n\nA new paragraph"
    assert split_sentences(text) == ["Dr. Kim met Mr. Lee.", "They talked!", "Did it work?", "A new paragraph"]


def test_markdown_headings_start_sections() -> None:
    doc = "# Guide\n\nIntro text here.\n\n## 1. First thing\n\nAlpha.\n\n## Second thing\n\nBeta.\n"
    sections = parse_document(doc, "guide.md")
    assert [(s.number, s.title) for s in sections] == [(None, "Guide"), (1, "First thing"), (None, "Second thing")]
    assert sections[0].text == "Intro text here."
    assert len({s.id for s in sections}) == 3


def test_numbered_sentence_inside_text_is_not_a_heading() -> None:
    doc = "Title\n\n1. First\n\nThe year 2. was odd.\n\n2. Second\n\nText.\n"
    sections = parse_document(doc, "x.txt")
    assert [s.title for s in sections] == ["Title", "First", "Second"]


def test_file_without_numbered_items_is_one_intro_section(tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("A plain note\n\nIt has no numbered items at all.\n", encoding="utf-8")
    sections, _ = read_corpus(tmp_path)
    assert len(sections) == 1
    assert sections[0].number is None and sections[0].title == "A plain note"


def test_empty_corpus_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"has no \.txt or \.md files"):
        read_corpus(tmp_path)


def test_missing_corpus_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus(tmp_path / "nope")


def test_non_utf8_file_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait\n")
    with pytest.raises(CorpusError, match=r"bad\.txt is not UTF-8 \(byte 3"):
        read_corpus(tmp_path)


def test_empty_file_is_skipped_with_a_warning(corpus_dir: Path) -> None:
    (corpus_dir / "empty.md").write_text("", encoding="utf-8")
    sections, warnings = read_corpus(corpus_dir)
    assert len(sections) == 11
    assert warnings == ["skipped empty corpus file empty.md"]
