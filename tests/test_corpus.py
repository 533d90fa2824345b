"""Reading the corpus: sections of the article, Markdown headings, sentences, bad files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from alliance_qa import walk
from alliance_qa.corpus import corpus_files, corpus_fingerprint, parse_document, read_corpus, split_sentences
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
    assert first[2].id == "10-things-north-korea-and-russia-want.txt#2"
    assert first[0].id == "10-things-north-korea-and-russia-want.txt#intro"
    changed = [a.id for a, b in zip(first, second, strict=True) if a.content_hash != b.content_hash]
    assert changed == ["10-things-north-korea-and-russia-want.txt#8"]


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
    assert [s.title for s in sections] == ["First", "Second"]  # "Title" alone is the document title, no intro


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


# --- Section interface: documents, labels, ids ------------------------------------------------


def test_every_section_carries_its_document_and_title(corpus_dir: Path) -> None:
    sections, _ = read_corpus(corpus_dir)
    assert {s.document for s in sections} == {"10-things-north-korea-and-russia-want.txt"}
    assert {s.document_title for s in sections} == {"10 Things North Korea and Russia Want from Each Other"}
    assert [s.intro for s in sections] == [True] + [False] * 10
    assert sections[0].label == "10 Things North Korea and Russia Want from Each Other (intro)"
    assert sections[8].label == "Access to Ports (8)"


def test_labels_number_title_or_intro() -> None:
    doc = "# Guide\n\nWhat this guide is for.\n\n## 2. Numbered part\n\nAlpha.\n\n## Plain part\n\nBeta.\n"
    intro, numbered, plain = parse_document(doc, "guide.md")
    assert (intro.label, numbered.label, plain.label) == ("Guide (intro)", "Numbered part (2)", "Plain part")
    assert (intro.intro, numbered.intro, plain.intro) == (True, False, False)


def test_document_without_sections_is_one_section_cited_by_its_title() -> None:
    (only,) = parse_document("# Release notes\n\nVersion 2 fixes the login bug.\n", "notes.md")
    assert (only.title, only.label, only.intro, only.number) == ("Release notes", "Release notes", False, None)
    assert only.text == "Version 2 fixes the login bug."
    (plain,) = parse_document("Shopping list\n\nEggs and milk.\n", "list.txt")
    assert (plain.label, plain.document_title, plain.intro) == ("Shopping list", "Shopping list", False)


@pytest.mark.parametrize(
    ("files", "ids"),
    [
        (
            {"report.txt": "Report\n\n1. Wheat\n\nWheat goes by rail.\n", "report.md": "# Report\n\n## 1. Squid\n\nSquid goes by sea.\n"},
            ["report.md#1", "report.txt#1"],
        ),
        (
            {"a/faq.md": "# FAQ\n\n## Billing\n\nPay monthly.\n", "b/faq.md": "# FAQ\n\n## Billing\n\nPay yearly.\n"},
            ["a/faq.md#billing", "b/faq.md#billing"],
        ),
        (
            {"README.md": "# Tool\n\nIntro.\n\n## Install\n\nRun pip.\n", "docs/README.md": "# Tool\n\nIntro.\n\n## Install\n\nRun make.\n"},
            ["README.md#intro", "README.md#install", "docs/README.md#intro", "docs/README.md#install"],
        ),
    ],
    ids=["same-stem", "same-name-other-folder", "two-readmes"],
)
def test_section_ids_are_unique_across_files_sharing_a_name(tmp_path: Path, files: dict[str, str], ids: list[str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    sections, _ = read_corpus(tmp_path)
    assert [s.id for s in sections] == ids
    assert all(s.id.startswith(s.document + "#") for s in sections)
    assert {s.document for s in sections} == set(files)


def test_files_that_are_not_text_are_named_in_a_warning_not_silently_ignored(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\n\nSome text.\n", encoding="utf-8")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.html").write_text("<p>Hi</p>", encoding="utf-8")
    (tmp_path / "alliance-qa.toml").write_text('title = "Notes"\n', encoding="utf-8")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    sections, warnings = read_corpus(tmp_path)
    assert [s.document for s in sections] == ["notes.md"]
    assert warnings == ["skipped 2 file(s) that are not .txt or .md: report.pdf, sub/page.html; save them as text "
                        "(.txt) or Markdown (.md) to have them read"]
    (tmp_path / "notes.md").unlink()
    with pytest.raises(CorpusError, match=r"has no \.txt or \.md files \(it holds report\.pdf, sub/page\.html\)"):
        read_corpus(tmp_path)


def test_a_repeated_label_within_one_document_warns(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\n## Ports\n\nOne.\n\n## Ports\n\nTwo.\n\n## Other\n\nThree.\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# B\n\n## Ports\n\nFour.\n", encoding="utf-8")
    sections, warnings = read_corpus(tmp_path)
    assert [s.id for s in sections] == ["a.md#ports", "a.md#ports-2", "a.md#other", "b.md#ports"]
    assert warnings == ["duplicate section 'Ports' in a.md: rename one so citations can tell them apart"]


def test_a_repeated_sub_heading_is_named_with_the_heading_it_sits_under(tmp_path: Path) -> None:
    """Real documentation repeats "Example" / "Configuration" under each of its topics: citations name the topic."""
    doc = ("# Transports\n\nHow requests are sent.\n\n## WSGI Transport\n\nThis transport calls a WSGI app directly, without any network.\n\n### Example\n\n"
           "Mount the Flask app.\n\n## ASGI Transport\n\nThis transport calls an ASGI app directly, without any network.\n\n### Example\n\nMount the Starlette app.\n")
    (tmp_path / "transports.md").write_text(doc, encoding="utf-8")
    sections, warnings = read_corpus(tmp_path)
    assert [s.label for s in sections] == ["Transports (intro)", "WSGI Transport", "WSGI Transport: Example",
                                           "ASGI Transport", "ASGI Transport: Example"]
    assert [s.id for s in sections][2::2] == ["transports.md#wsgi-transport-example", "transports.md#asgi-transport-example"]
    assert warnings == []


def test_markdown_opening_with_prose_is_named_after_its_file() -> None:
    doc = "HTTPX supports SSL. It verifies certificates by default.\n\n## Disabling verification\n\nPass verify=False.\n"
    intro, part = parse_document(doc, "advanced-ssl.md")
    assert intro.document_title == part.document_title == "Advanced ssl"
    assert (intro.label, intro.text) == ("Advanced ssl (intro)", "HTTPX supports SSL. It verifies certificates by default.")
    wrapped = "You can control the pool size\nwith the limits keyword argument.\n"  # a hard-wrapped first paragraph
    assert parse_document(wrapped, "resource-limits.md")[0].title == "Resource limits"


def test_section_ids_are_quoted_paths_and_repeat_titles_get_a_suffix() -> None:
    doc = "# Notes\n\n## Setup\n\nOne.\n\n## Setup\n\nTwo.\n\n## 4. Setup\n\nThree.\n\n## 4. Again\n\nFour.\n"
    ids = [s.id for s in parse_document(doc, "my notes/week 1.md")]
    assert ids == ["my%20notes/week%201.md#setup", "my%20notes/week%201.md#setup-2",
                   "my%20notes/week%201.md#4", "my%20notes/week%201.md#4-2"]
    assert not any(" " in i for i in ids)


def test_ids_depend_only_on_the_current_text() -> None:
    before = "Doc\n\nIntro.\n\n1. Alpha\n\nA text.\n\n2. Beta\n\nB text.\n"
    reordered = "Doc\n\nIntro.\n\n1. Beta\n\nB text.\n\n2. Alpha\n\nA text.\n"
    first, second = parse_document(before, "d.txt"), parse_document(reordered, "d.txt")
    assert [s.id for s in first] == [s.id for s in second] == ["d.txt#intro", "d.txt#1", "d.txt#2"]
    assert [s.title for s in second] == ["Doc", "Beta", "Alpha"]
    assert first[1].content_hash == parse_document(reordered.replace("Beta", "Gamma"), "d.txt")[2].content_hash
    assert parse_document(before, "d.txt") == first


# --- Markdown -------------------------------------------------------------------------------

GUIDE = """# Tool Guide

A guide to the tool.

## Installation

Install it with pip and check the version afterwards.

```bash
# install the tool
pip install tool
## not a heading either
```

~~~~
# tilde fence
```
# still inside the tilde fence
~~~~

- In a list:

    ```
    # an indented fence
    ```

## 3. Configuration

The config file lives in your home folder and is read at start-up.

### Environment

Variables override the config file; they start with TOOL_.

## Usage

Two ways:

### Running

Run the tool with the input file and it prints the result.

### Nothing here

## Troubleshooting

If it fails, run it with -v and read the log.
"""


def test_markdown_code_blocks_are_code_not_headings() -> None:
    sections = parse_document(GUIDE, "guide.md")
    assert [s.title for s in sections] == ["Tool Guide", "Installation", "Configuration", "Environment", "Running",
                                           "Troubleshooting"]
    install = sections[1]
    for comment in ("# install the tool", "## not a heading either", "# tilde fence", "# still inside the tilde fence",
                    "# an indented fence"):
        assert comment in install.text


def test_markdown_title_intro_nesting_and_short_parents() -> None:
    intro, install, config, env, running, trouble = parse_document(GUIDE, "guide.md")
    assert {s.document_title for s in (intro, install, trouble)} == {"Tool Guide"}
    assert (intro.intro, intro.text) == (True, "A guide to the tool.")
    assert (config.number, config.label, env.number, env.label) == (3, "Configuration (3)", None, "Environment")
    assert env.text == "Variables override the config file; they start with TOOL_."
    # "Usage" has two words of its own before its sub-heading: they open "Running" instead.
    assert running.text == "Two ways:\n\nRun the tool with the input file and it prints the result."
    assert "Nothing here" not in [s.title for s in (intro, install, config, env, running, trouble)]


def test_markdown_several_top_headings_are_all_sections() -> None:
    doc = "# Install\n\nRun pip install tool.\n\n# Use\n\nRun tool FILE.\n"
    sections = parse_document(doc, "page.md")
    assert [(s.title, s.intro) for s in sections] == [("Install", False), ("Use", False)]
    assert {s.document_title for s in sections} == {"Install"}


def test_markdown_setext_front_matter_and_inline_marks() -> None:
    doc = ("---\ntitle: \"The Handbook\"\nauthor: someone\n---\nWelcome text.\n\nGetting **started**\n"
           "==================\n\nFirst steps for new people who join the workshop this year.\n\n"
           "## The `config` file and [links](http://x) {#cfg}\n\nLives in your home folder.\n\n"
           "Trouble\n-------\n\nAsk at the desk.\n")
    sections = parse_document(doc, "handbook.md")
    assert [s.label for s in sections] == ["The Handbook (intro)", "Getting started", "The config file and links",
                                           "Trouble"]
    assert sections[0].text == "Welcome text."
    assert {s.document_title for s in sections} == {"The Handbook"}
    assert sections[1].text == "First steps for new people who join the workshop this year."


def test_markdown_without_a_top_heading_is_titled_by_its_first_line() -> None:
    doc = "Quick notes on the tool\n\nSome intro.\n\n## Part\n\nPart text.\n"
    intro, part = parse_document(doc, "notes.md")
    assert intro.document_title == part.document_title == "Quick notes on the tool"
    assert intro.label == "Quick notes on the tool (intro)"
    assert intro.text == "Quick notes on the tool\n\nSome intro."


# --- Plain text -----------------------------------------------------------------------------


def _titles(doc: str) -> list[tuple[int | None, str]]:
    return [(s.number, s.title) for s in parse_document(doc, "doc.txt")]


PROTOCOL = """Token Protocol

Table of Contents

   1. Introduction ....................................................2
     1.1. Roles .......................................................2
   2. Registration ....................................................3

1.  Introduction

   This note describes the protocol and how clients use it to get tokens.

1.1.  Roles

   There are four roles: the owner, the client, the server and the resource server.

1.2  Flow

   The client asks the owner, then the server, for a token it can use. About
   3.5 million clients do so every day.

2.  Registration

   Clients register with the server before they can ask for any tokens at all.

2.1.  Client Types

   There are two client types, confidential and public, by how they keep a secret.

1.3.  Misplaced

   A number from another section is text of this one, not its heading at all.

2.1.1.  Confidential Clients

   Confidential clients can keep a secret, for example on a server they run.
"""


def test_plain_text_sub_sections_are_split_off_under_their_section_and_contents_lines_are_not_headings() -> None:
    """An RFC-style text: "1.1.  Roles" under "1.  Introduction" is a sub-section titled as printed; a table of
    contents ("1. Introduction ....2") names headings without being them; "1.3." inside section 2 is text."""
    sections = parse_document(PROTOCOL, "protocol.txt")
    assert [(s.number, s.title) for s in sections][1:] == [
        (1, "Introduction"), (None, "1.1 Roles"), (None, "1.2 Flow"), (2, "Registration"), (None, "2.1 Client Types"),
        (None, "2.1.1 Confidential Clients"),
    ]
    assert "Table of Contents" in sections[0].text
    assert "3.5 million clients" in sections[3].text
    assert "1.3.  Misplaced" in sections[5].text


_CHAPTER_TEXT = " ".join(["Alice", "was", "beginning", "to", "get", "very", "tired", "of", "sitting", "by", "her"] * 2) + "."


@pytest.mark.parametrize(
    ("heads", "titles"),
    [
        (["CHAPTER I.", "CHAPTER II.", "CHAPTER III."], ["CHAPTER I", "CHAPTER II", "CHAPTER III"]),
        (["CHAPTER I.\nDown the Rabbit-Hole", "CHAPTER II.\nThe Pool of Tears"],
         ["CHAPTER I. Down the Rabbit-Hole", "CHAPTER II. The Pool of Tears"]),
        (["Part One: Arrival", "Part Two: Departure"], ["Part One: Arrival", "Part Two: Departure"]),
        # a charter's articles beside titles in capitals: divisions stay titles whatever their case
        (["PREAMBLE", "Article 1.", "Article 2.", "FINAL PROVISIONS", "CLOSING WORDS"],
         ["PREAMBLE", "Article 1", "Article 2", "FINAL PROVISIONS", "CLOSING WORDS"]),
    ],
)
def test_a_book_s_chapters_are_sections(heads: list[str], titles: list[str]) -> None:
    """Books mark chapters with "CHAPTER I." (a full stop a title line would not have), often over the chapter's
    own title; each is a section holding only its text."""
    doc = "A Book\n\n" + "".join(f"{head}\n\n{_CHAPTER_TEXT}\n\n" for head in heads)
    sections = parse_document(doc, "book.txt")
    assert [s.title for s in sections] == titles
    assert all(s.text == _CHAPTER_TEXT for s in sections)


LICENCE = """Sample Licence

   1. Definitions.

      "Licence" means these terms, and "You" means whoever uses the work.

   2. Grant of Copyright Licence. Subject to these terms, each contributor
      grants You a perpetual licence to copy the work.

   3. Redistribution. You may give copies of the work to others, provided
      that You follow these two rules:

      1. Keep this notice.
      2. Mark your changes.

   4. Trademarks. This licence gives no right to use the trade names.
"""


def test_run_in_numbered_headings_are_titled_by_their_phrase_and_the_rest_opens_the_section() -> None:
    """Licences and policies put the heading at the start of the paragraph: "2. Grant of Copyright Licence. Subject
    to ..." is section 2, "Grant of Copyright Licence", whose text opens with "Subject to"; its list stays in it."""
    sections = parse_document(LICENCE, "licence.txt")
    assert [(s.number, s.title) for s in sections] == [
        (1, "Definitions"), (2, "Grant of Copyright Licence"), (3, "Redistribution"), (4, "Trademarks")]
    assert sections[1].text.startswith("Subject to these terms, each contributor")
    assert "1. Keep this notice." in sections[2].text and sections[3].text.startswith("This licence gives")


def test_a_book_with_roman_chapter_numbers_over_titles_in_capitals() -> None:
    """A Gutenberg-style book: "I" alone, then "THE ORIGIN OF MUSIC"; short mixed-case lines standing alone (verse,
    captions) are not titles when the text writes its titles in capitals; an index's "C" is no chapter."""
    prose = " ".join(["Music began with the voice, and the voice with the feelings of the people who sang."] * 3)
    doc = (f"Essays\n\nPREFACE\n\n{prose}\n\nI\n\nTHE ORIGIN OF MUSIC\n\n{prose}\n\nOthers read\n\n{prose}\n\n"
           f"II\n\nORIGIN OF SONG vs. ORIGIN OF DANCE\n\n{prose}\n\nIII\n\nTHE MUSIC OF GREECE\n\n{prose}\n\n"
           f"INDEX\n\n{prose}\n\nC\n\nCaccini, 177, 209.\n\n{prose}\n")
    sections = parse_document(doc, "essays.txt")
    assert [s.title for s in sections] == ["PREFACE", "I. THE ORIGIN OF MUSIC", "II. ORIGIN OF SONG vs. ORIGIN OF DANCE",
                                           "III. THE MUSIC OF GREECE", "INDEX"]
    assert sections[1].text.startswith("Music began") and "Others read" in sections[1].text


def test_a_project_gutenberg_text_is_its_book_without_the_licence_around_it() -> None:
    prose = " ".join(["Alice was beginning to get very tired of sitting by her sister on the bank."] * 2)
    doc = ("The Project Gutenberg eBook of Alice, by Lewis Carroll\n\nThis eBook is for the use of anyone anywhere.\n\n"
           "Title: Alice's Adventures in Wonderland\n\nAuthor: Lewis Carroll\n\n"
           "*** START OF THE PROJECT GUTENBERG EBOOK ALICE ***\n\n"
           f"CHAPTER I.\nDown the Rabbit-Hole\n\n{prose}\n\nCHAPTER II.\nThe Pool of Tears\n\n{prose}\n\n"
           "*** END OF THE PROJECT GUTENBERG EBOOK ALICE ***\n\nSection 1. General Terms of Use of the licence.\n")
    sections = parse_document(doc, "alice.txt")
    assert [s.title for s in sections] == ["CHAPTER I. Down the Rabbit-Hole", "CHAPTER II. The Pool of Tears"]
    assert {s.document_title for s in sections} == {"Alice's Adventures in Wonderland"}
    assert all("eBook" not in s.text and "licence" not in s.text for s in sections)


def test_gappy_numbers_late_in_a_long_text_are_not_its_sections() -> None:
    """A book's numbered examples (7, 10, 11, 13) after most of its text are not its section numbering: the chapters
    are found by their title lines instead."""
    prose = " ".join(["The dance was slow and stately, and every court in Europe knew it well."] * 3)
    chapters = "".join(f"{title}\n\n{prose}\n\n{prose}\n\n" for title in ("EARLY FORMS", "THE SUITE", "OLD DANCES"))
    examples = "".join(f"{n}. {name}\n\nIn form and rhythm it is like the others.\n\n"
                       for n, name in ((7, "Tambourin"), (10, "Chaconne"), (11, "Waltz"), (13, "Allemande")))
    sections = parse_document(f"Essays on Music\n\n{chapters}{examples}", "essays.txt")
    assert [(s.number, s.title) for s in sections] == [(None, "EARLY FORMS"), (None, "THE SUITE"), (None, "OLD DANCES")]
    assert "13. Allemande" in sections[-1].text


def test_a_faq_s_questions_are_its_sections() -> None:
    faq = ("Acme Cloud FAQ\n\nQ: How do I reset my password?\nA: Open Settings and click Reset password.\n\n"
           "Q: Can I change my plan later?\nA: Yes, from the Billing page.\n\n"
           "Question: Where are my files stored?\nAnswer: In Frankfurt and Dublin.\n")
    sections = parse_document(faq, "faq.txt")
    assert [s.title for s in sections] == ["How do I reset my password?", "Can I change my plan later?",
                                           "Where are my files stored?"]
    assert sections[1].text == "A: Yes, from the Billing page." and sections[0].document_title == "Acme Cloud FAQ"


HANDBOOK = """Workshop Handbook

Welcome to the workshop. This handbook explains the rules.

1. Opening Hours

We open at 9am and close at 9pm every day.

2. Getting Started

Before you use any machine:

{list}

Then ask a steward to sign your card.

3. Safety

Wear goggles at all times.

4. Lockers

Lockers cost $12 a month.
"""


@pytest.mark.parametrize(
    "items",
    [
        "1. Edit source code\n2. Run the tests\n3. Commit the change",
        "1. Edit source code\n\n2. Run the tests\n\n3. Commit the change",
        "1. Edit source code\nOpen the file.\n\n2. Run the tests\nUse the runner.\n\n3. Commit the change\nWrite why.",
        "1. Edit source code\n\nOpen the file.\n\n2. Run the tests\n\nUse the runner.",
        "1. Book a slot.\n2. Sign the sheet.\n3. Clean up.\n4. Lock the door.",
    ],
    ids=["tight-list", "blank-separated-list", "items-with-bodies", "two-items-with-bodies", "items-are-sentences"],
)
def test_numbered_list_inside_a_section_stays_in_it(items: str) -> None:
    doc = HANDBOOK.format(list=items)
    assert _titles(doc) == [(None, "Workshop Handbook"), (1, "Opening Hours"), (2, "Getting Started"),
                            (3, "Safety"), (4, "Lockers")]
    started = parse_document(doc, "doc.txt")[2]
    assert "Edit source code" in started.text or "Book a slot" in started.text
    assert started.text.endswith("Then ask a steward to sign your card.")


def test_list_in_a_later_section_that_runs_up_to_the_next_number() -> None:
    doc = HANDBOOK.format(list="See below.").replace(
        "Wear goggles at all times.", "Rules:\n\n1. Goggles\n\nAlways.\n\n2. Gloves\n\nOften.\n\n3. Boots\n\nSteel caps."
    )
    assert [n for n, _ in _titles(doc)] == [None, 1, 2, 3, 4]
    assert "3. Boots" in parse_document(doc, "doc.txt")[3].text


def test_table_of_contents_is_not_a_set_of_sections() -> None:
    doc = "Guide\n\nContents\n1. Alpha\n2. Beta\n\n1. Alpha\n\nAlpha text here.\n\n2. Beta\n\nBeta text here.\n"
    sections = parse_document(doc, "doc.txt")
    assert [(s.number, s.title) for s in sections] == [(None, "Guide"), (1, "Alpha"), (2, "Beta")]
    assert "Contents\n1. Alpha\n2. Beta" in sections[0].text


def test_a_numbered_line_before_the_real_numbering_is_not_a_section() -> None:
    doc = "Guide\n\nIntro words.\n\n1) See below\n\nMore intro.\n\n1. One\n\nBody one.\n\n2. Two\n\nBody two.\n"
    assert _titles(doc) == [(None, "Guide"), (1, "One"), (2, "Two")]


def test_a_lone_numbered_title_standing_alone_is_a_section() -> None:
    doc = "Addendum\n\nA note.\n\n  8. Access to Ports\n\n    The container terminal handles timber.\n"
    assert _titles(doc) == [(None, "Addendum"), (8, "Access to Ports")]


def test_a_note_that_is_only_a_list_is_one_section() -> None:
    for items in ("1. Install Python\n2. Run make", "1. Install Python\n\n2. Run make\n\n3. Done"):
        assert _titles(f"Setup notes\n\nSteps:\n\n{items}\n") == [(None, "Setup notes")]


def test_plain_text_without_numbers_splits_at_title_lines() -> None:
    doc = ("A Plain Essay\n\nWhy Gardens Matter\n\nGardens give people a place to rest, grow food and meet their "
           "neighbours in the city.\n\nHow to Start\n=============\n\nPick a sunny spot, test the soil, and start with "
           "a few easy vegetables such as beans.\n")
    sections = parse_document(doc, "essay.txt")
    assert [s.label for s in sections] == ["Why Gardens Matter", "How to Start"]
    assert sections[1].text.startswith("Pick a sunny spot")
    assert {s.document_title for s in sections} == {"A Plain Essay"}


def test_plain_text_title_lines_need_real_text_after_them() -> None:
    short = "Notes\n\nBuy milk\n\nAnd eggs too.\n\nCall Sam\n\nAbout the party.\n"
    assert _titles(short) == [(None, "Notes")]
    one = "Notes\n\nThe Only Heading\n\nGardens give people a place to rest, grow food and meet their neighbours often.\n"
    assert _titles(one) == [(None, "Notes")]


# --- Corpus walk limits ---------------------------------------------------------------------


def _many(folder: Path, count: int, size: int = 10) -> None:
    for n in range(count):
        sub = folder / f"part{n:03d}"
        sub.mkdir(parents=True)
        (sub / "doc.txt").write_text(f"Doc {n}\n\n" + "x" * size + "\n", encoding="utf-8")


def test_too_many_files_is_refused_naming_folder_count_and_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _many(tmp_path / "c", 6)
    with pytest.raises(CorpusError) as info:
        read_corpus(tmp_path / "c", max_files=5)
    assert str(info.value) == (
        f"corpus folder {tmp_path / 'c'} has more than 5 .txt/.md files (ALLIANCE_QA_MAX_FILES=5): point "
        "ALLIANCE_QA_CORPUS at the folder that holds only your documents, or raise ALLIANCE_QA_MAX_FILES"
    )
    assert len(read_corpus(tmp_path / "c", max_files=6)[0]) == 6
    monkeypatch.setenv("ALLIANCE_QA_MAX_FILES", "5")
    with pytest.raises(CorpusError, match=r"more than 5 \.txt/\.md files"):
        corpus_files(tmp_path / "c")
    assert len(corpus_files(tmp_path / "c", max_files=10)) == 6  # the keyword wins over the environment


def test_too_many_bytes_is_refused_naming_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _many(tmp_path / "c", 3, size=400)
    monkeypatch.setenv("ALLIANCE_QA_MAX_BYTES", "1_000")
    with pytest.raises(CorpusError) as info:
        read_corpus(tmp_path / "c")
    assert str(info.value) == (
        f"corpus folder {tmp_path / 'c'} has more than 1,000 bytes of .txt/.md files (3 files, {3 * 408:,} bytes so far; "
        "ALLIANCE_QA_MAX_BYTES=1,000): point ALLIANCE_QA_CORPUS at the folder that holds only your documents, "
        "or raise ALLIANCE_QA_MAX_BYTES"
    )
    assert len(read_corpus(tmp_path / "c", max_bytes=2000)[0]) == 3


def test_bad_limit_setting_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _many(tmp_path / "c", 1)
    monkeypatch.setenv("ALLIANCE_QA_MAX_FILES", "lots")
    with pytest.raises(CorpusError, match=r"^ALLIANCE_QA_MAX_FILES='lots' is not a whole number of at least 1: set it to e\.g\. 2000, or unset it$"):
        read_corpus(tmp_path / "c")


def test_walk_stops_as_soon_as_a_limit_is_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _many(tmp_path / "c", 40)
    visited: list[str] = []
    real_walk = os.walk

    def counting_walk(top: Path, **kwargs: object) -> Iterator[tuple[str, list[str], list[str]]]:
        for root, dirs, files in real_walk(top, followlinks=False):
            visited.append(root)
            yield root, dirs, files

    monkeypatch.setattr(walk.os, "walk", counting_walk)
    with pytest.raises(CorpusError, match="more than 3 "):
        corpus_files(tmp_path / "c", max_files=3)
    assert len(visited) == 5  # the top folder and the first four parts, not all 40


def test_walk_counts_every_entry_so_a_huge_tree_is_refused_quickly(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "doc.txt").write_text("Doc\n\nText.\n", encoding="utf-8")
    for n in range(61):
        (folder / f"image{n}.png").write_bytes(b"")
    with pytest.raises(CorpusError) as info:
        corpus_files(folder, max_files=3)
    assert str(info.value).startswith(
        f"corpus folder {folder} holds more than 60 files and folders (the walk stops at 20 x ALLIANCE_QA_MAX_FILES=3): "
    )
    assert corpus_files(folder, max_files=4) == [folder / "doc.txt"]


def test_the_filesystem_root_is_refused_not_walked() -> None:
    with pytest.raises(CorpusError, match=r"^corpus folder / (holds|has) more than "):
        read_corpus(Path("/"))


@pytest.mark.parametrize("where", ["index", "index/deeper", "."])
def test_a_corpus_that_contains_the_index_folder_is_refused(corpus_dir: Path, where: str) -> None:
    index = corpus_dir / where
    with pytest.raises(CorpusError) as info:
        read_corpus(corpus_dir, index_dir=index)
    assert str(info.value) == (
        f"corpus folder {corpus_dir} contains the index folder {index}: keep the index outside the corpus "
        "(set ALLIANCE_QA_INDEX or ALLIANCE_QA_CORPUS)"
    )
    assert len(read_corpus(corpus_dir, index_dir=corpus_dir.parent / "index")[0]) == 11
    assert corpus_fingerprint(corpus_dir, index_dir=index) == {}


# --- The test corpora of tests/data (branch data): every golden section is parsed as written --

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("name", ["numbered-txt", "two-party", "markdown-guide"])
def test_golden_sections_of_the_test_corpora_are_found(name: str) -> None:
    golden = DATA / f"{name}.golden.jsonl"
    if not golden.exists():
        pytest.skip(f"SKIPPED: {golden} is not in this checkout (tests/data comes from the data branch)")
    rows = [json.loads(line) for line in golden.read_text(encoding="utf-8").splitlines() if line.strip()]
    sections, warnings = read_corpus(DATA / name)
    assert warnings == []
    found = {(s.document, "intro" if s.intro else s.number if s.number is not None else s.title) for s in sections}
    wanted = {(r["document"], r["section"]) for r in rows[1:] if r.get("document") and r.get("section") is not None}
    assert wanted <= found
    assert {s.document for s in sections} == set(rows[0]["documents"])
    numbered = [s.number for s in sections if s.number is not None]
    assert numbered == sorted(numbered) and len(numbered) == len(set(numbered))


def test_a_title_line_alone_is_not_an_intro() -> None:
    sections = parse_document("Addendum\n\n  8. Access to Ports\n\n    The terminal handles timber.\n", "add.txt")
    assert [(s.label, s.document_title) for s in sections] == [("Access to Ports (8)", "Addendum")]
    (only,) = parse_document("Just a title\n", "one.txt")
    assert (only.label, only.text) == ("Just a title", "Just a title")


def test_markdown_call_out_markers_are_not_text_but_their_titles_and_contents_are() -> None:
    doc = ("# Guide\n\n## Install\n\n> [!NOTE]\n> Use version 2 or later of the tool.\n\n!!! hint\n"
           "    If you come from Requests, use Client.\n\n!!! warning \"Deprecated\"\n    The old flag is gone.\n\n"
           "```\n!!! a line of code\n```\n")
    (install,) = parse_document(doc, "guide.md")
    assert "[!NOTE]" not in install.text and "!!! hint" not in install.text and "!!! warning" not in install.text
    assert "Use version 2 or later of the tool." in install.text and "If you come from Requests" in install.text
    assert "Deprecated" in install.sentences and "!!! a line of code" in install.text


def test_markdown_html_comments_are_neither_text_nor_headings() -> None:
    doc = "# Doc\n\n<!--\n## Hidden heading\nhidden text\n-->\nShown intro.\n\n<!-- one line -->\n## Real\n\nReal text.\n"
    intro, real = parse_document(doc, "c.md")
    assert (intro.text, real.title, real.text) == ("Shown intro.", "Real", "Real text.")


def test_a_deleted_section_leaves_a_gap_in_the_numbering_not_a_merge() -> None:
    doc = HANDBOOK.format(list="See the board.").replace("3. Safety\n\nWear goggles at all times.\n\n", "")
    assert _titles(doc) == [(None, "Workshop Handbook"), (1, "Opening Hours"), (2, "Getting Started"), (4, "Lockers")]
    doc = HANDBOOK.format(list="1. Edit source code\n\nOpen it.\n\n2. Run the tests\n\nRun them.").replace(
        "3. Safety\n\nWear goggles at all times.\n\n", ""
    )
    assert [n for n, _ in _titles(doc)] == [None, 1, 2, 4]


def test_a_long_handbook_keeps_every_section_and_every_list_inside() -> None:
    parts = ["Essays\n\nA collection.\n"]
    for n in range(1, 1201):
        parts.append(f"{n}. Essay Number {n}\n\nThe essay {n} begins.\n\nSteps:\n\n1. Edit source code\n\nOpen it.\n\n"
                     "2. Run the tests\n\nRun them.\n\n3. Commit\n\nDone.\n")
    sections = parse_document("\n".join(parts), "essays.txt")
    assert [s.number for s in sections] == [None, *range(1, 1201)]
    assert all(s.text.endswith("Done.") for s in sections[1:])


def test_markdown_closing_hashes_are_dropped_but_a_hash_in_a_word_is_kept() -> None:
    doc = "Notes on C#\n\n## C#\n\nA language.\n\n## Title ##\n\nText.\n"
    assert [(s.title, s.document_title) for s in parse_document(doc, "l.md")] == [
        ("C#", "Notes on C#"), ("Title", "Notes on C#")
    ]


def test_numbered_list_items_with_long_bodies_are_not_title_lines() -> None:
    body = "Open the terminal and type the command shown on the screen, then wait until it finishes its work."
    doc = f"Setup notes\n\nFollow these steps.\n\n1. Install Python\n\n{body}\n\n3. Run make\n\n{body}\n"
    assert _titles(doc) == [(None, "Setup notes"), (1, "Install Python"), (3, "Run make")]
    doc = f"Setup notes\n\nFollow these steps.\n\n1. Install Python\n\n{body}\n\n9. Run make\n\n{body}\n"
    assert _titles(doc) == [(None, "Setup notes"), (1, "Install Python")]


def test_a_documents_title_is_its_own_line_else_its_intros_else_its_file_name_read_only_as_far_as_needed() -> None:

    from alliance_qa.corpus import Section, document_title

    def section(title: str, *, document_title: str = "", intro: bool = False) -> Section:
        return Section(id=f"d.txt#{title}", number=None, title=title, text="Some text.", source="notes/d.txt", position=0,
                       document_title=document_title, intro=intro)

    def then_fail(first: Section) -> Iterator[Section]:
        yield first
        raise AssertionError("read past the section that gave the title")

    assert document_title(then_fail(section("Intro", document_title="The Guide", intro=True)), "notes/d.txt") == "The Guide"
    assert document_title([section("Setup"), section("Welcome", intro=True)], "notes/d.txt") == "Welcome"
    assert document_title([section("Setup")], "notes/field_notes-2024.md") == "Field notes 2024"
