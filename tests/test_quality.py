"""Answer quality with the real model: the golden set's floor, verbatim quotes, whole-article questions,
follow-ups, abstention, and what is embedded at query time.

The floor is asserted on the figures ``alliance-qa eval`` prints (computed once per session).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alliance_qa.answer import (
    ABSTAIN_BELOW,
    CONNECTING_PHRASES,
    DECLINE,
    EXAMPLES,
    Answer,
    unescape_markdown,
)
from alliance_qa.assistant import Assistant
from alliance_qa.errors import AllianceQAError
from alliance_qa.evaluate import COLUMNS, LOWER_IS_BETTER, Report, load_golden, run_eval
from alliance_qa.profile import plural

GOLDEN = Path(__file__).with_name("golden.jsonl")
ITEMS = load_golden(GOLDEN)


@pytest.fixture(scope="session")
def report(shared_assistant: Assistant) -> Report:
    """The eval table on the golden set (product and baselines), computed once."""
    return run_eval(shared_assistant, GOLDEN)


# ----------------------------------------------------------------------------- the floor


def test_golden_set_has_every_kind_of_question() -> None:
    areas = {a: sum(1 for i in ITEMS if i.area == (a or "intro") and i.kind not in ("followup", "whole"))
             for a in range(11)}
    assert len(ITEMS) >= 90, f"golden set has {len(ITEMS)} questions; the issue asks for at least 90"
    assert min(areas.values()) >= 5, f"questions per area (0 = intro): {areas}; each needs at least 5"
    kinds = {k: sum(1 for i in ITEMS if i.kind == k) for k in {i.kind for i in ITEMS}}
    assert kinds["whole"] >= 10 and kinds["offtopic"] >= 15 and kinds["followup"] >= 10, kinds
    assert all(i.history for i in ITEMS if i.kind == "followup"), "every follow-up needs its earlier question"
    assert {i.whole for i in ITEMS if i.kind == "whole"} == {"overview", "list", "nk_wants", "ru_wants"}
    for kind in ("direct", "paraphrase", "keyword", "typo", "lookalike", "caps"):
        assert kinds.get(kind, 0) >= 5, f"only {kinds.get(kind, 0)} {kind} questions"


def test_product_meets_the_floor(report: Report) -> None:
    product = report.rows[0]
    assert product.method == "product"
    assert product.top1 >= 0.95, f"top-1 {product.top1} < 0.95; missed: {product.misses}"
    assert product.offtopic_declined == 1.0, f"off-topic answered as if covered: {product.misses}"
    assert product.inscope_declined <= 0.02, f"in-scope wrongly declined {product.inscope_declined}: {product.misses}"
    assert product.followup >= 0.90, f"follow-ups {product.followup} < 0.90: {product.misses}"
    assert product.whole_article == 1.0, f"whole-article questions answered otherwise: {product.misses}"


def test_product_beats_every_baseline_on_every_column(report: Report) -> None:
    product, *baselines = report.rows
    assert [b.method for b in baselines] == ["BM25, raw text", "dense, raw text", "dense, normalized text"]
    for baseline in baselines:
        for key, label in COLUMNS:
            ours, theirs = getattr(product, key), getattr(baseline, key)
            ideal = 0.0 if key in LOWER_IS_BETTER else 1.0
            if key in LOWER_IS_BETTER:
                better = ours < theirs or ours == theirs == ideal
            else:
                better = ours > theirs or ours == theirs == ideal
            assert better, f"{label}: product {ours} is not ahead of {baseline.method} {theirs}\n{report.table()}"


# ----------------------------------------------------------------------------- verbatim answers


def allowed_words(qa: Assistant) -> set[str]:
    """Words an answer may contain outside its quotes: the fixed phrases, examples, side names, titles."""
    profile = qa.profile
    phrases = [re.sub(r"\{\w+\}", " ", p) for p in (*CONNECTING_PHRASES, *EXAMPLES, *profile.examples)]
    fixed = " ".join([*phrases, *(name for name, _ in profile.parties), profile.section_word, plural(profile.section_word),
                      *(d.title for d in profile.documents)])
    titles = " ".join(s.title for s in qa.index.sections)
    return {w.casefold() for w in re.findall(r"[^\W\d_]+", fixed + " " + titles)}


def residue(answer: Answer, qa: Assistant) -> list[str]:
    """The words of ``answer.text`` that are neither quoted corpus text nor allowed connecting words."""
    plain = unescape_markdown(answer.text)
    for quote in sorted({q for c in answer.citations for q in c.quotes}, key=len, reverse=True):
        plain = plain.replace(quote, " ")
    allowed = allowed_words(qa)
    return [w for w in re.findall(r"[^\W\d_]+", plain) if w.casefold() not in allowed]


def test_every_quote_is_verbatim_corpus_text_over_the_golden_set(shared_assistant: Assistant) -> None:
    texts = {s.id: s.text for s in shared_assistant.index.sections}
    for item in ITEMS:
        answer = shared_assistant.ask(item.question, list(item.history) or None)
        if answer.abstained:
            assert answer.text.startswith(DECLINE) and answer.citations == (), item.id
        for c in answer.citations:
            assert c.section_text == texts[c.section_id], f"{item.id}: citation text is not the corpus section"
            assert c.quote == c.quotes[0]
            for quote in c.quotes:
                assert quote and quote in c.section_text, f"{item.id}: {quote!r} is not in {c.label}"
        extra = residue(answer, shared_assistant)
        assert not extra, f"{item.id}: words neither quoted nor fixed connecting text: {extra}\n{answer.text}"


def test_an_answer_names_the_area_and_marks_each_quote(shared_assistant: Assistant) -> None:
    answer = shared_assistant.ask("wht abut the enrgy shortges in north korea")
    first = answer.citations[0]
    assert (first.number, first.title) == (2, "Energy Resources")
    assert answer.text.startswith("**Energy Resources (2)**")
    assert "North Korea, on the other hand, has been facing energy shortages." in first.quotes
    for quote in first.quotes:
        assert f"> {quote} [2]" in unescape_markdown(answer.text)


# ----------------------------------------------------------------------------- whole article


def bullet_lines(answer: Answer) -> list[str]:
    return [line for line in answer.text.splitlines() if line.startswith("- ")]


def test_a_measure_question_quotes_the_sentence_with_the_figure_first(shared_assistant: Assistant) -> None:
    from alliance_qa.answer import figure_first

    answer = shared_assistant.ask("How far is North Korea from Russia?")
    assert not answer.abstained and "miles" in answer.citations[0].quotes[0], answer.text
    plain = shared_assistant.ask("What does North Korea want from Russia in trade?")
    hit = plain.citations[0]
    assert figure_first("What does North Korea want from Russia in trade?", [hit])[0] is hit  # other questions
    unled = replace(hit, quotes=("It is good.", "It takes 3 days."), quote="It is good.")
    moved = figure_first("How long does it take?", [unled])[0]
    assert (moved.quote, moved.quotes) == ("It takes 3 days.", ("It takes 3 days.", "It is good."))


def test_list_question_gives_all_ten_areas_one_cited_line_each(shared_assistant: Assistant) -> None:
    answer = shared_assistant.ask("List the ten things")
    lines = bullet_lines(answer)
    assert answer.kind == "list" and not answer.abstained
    assert [c.number for c in answer.citations] == list(range(1, 11))
    assert len(lines) == 10
    for line, cite in zip(lines, answer.citations, strict=True):
        assert line.startswith(f"- **{cite.title} ({cite.number})**: ") and line.endswith(f"[{cite.number}]")


def test_overview_gives_the_intro_gist_and_the_ten_areas(shared_assistant: Assistant) -> None:
    answer = shared_assistant.ask("What is this article about?")
    assert answer.kind == "overview"
    intro, *areas = answer.citations
    assert intro.number is None and "shared interests" in intro.quote
    assert [c.number for c in areas] == list(range(1, 11))
    assert len(bullet_lines(answer)) == 10 and all(line.endswith("]") for line in bullet_lines(answer))


def test_whole_corpus_answers_over_many_documents_stay_within_forty_lines(tmp_path: Path, fake_model: object) -> None:
    """Fourteen documents, each with a two-line intro and six sections: the overview and the list show as many
    documents as fit in 40 lines and count the rest; every document shown or counted."""
    corpus = tmp_path / "docs"
    corpus.mkdir()
    topics = ["timeouts", "proxies", "certificates", "encodings", "transports", "hooks", "limits", "cookies",
              "redirects", "streaming", "retries", "logging", "caching", "headers"]
    for topic in topics:
        sections = "".join(f"## {topic.title()} part {k}\n\nHow {topic} behave in case {k}, with an example.\n\n"
                           for k in range(1, 7))
        intro = f"A note: the client handles {topic} for you.\nSee below for the settings that change it."
        (corpus / f"{topic}.md").write_text(f"# {topic.title()}\n\n{intro}\n\n{sections}", encoding="utf-8")
    qa = Assistant(corpus, tmp_path / "docs-index")
    for question, kind in [("What is this about?", "overview"), ("List the main points", "list")]:
        answer = qa.ask(question)
        assert answer.kind == kind, answer.text
        lines = answer.text.split("\n")
        shown = sum(1 for t in topics if f"**{t.title()}**" in lines)
        more = re.search(r"and (\d+) more documents", answer.text)
        assert len(lines) <= 40 and shown >= 3, answer.text
        assert shown + (int(more.group(1)) if more else 0) == len(topics), answer.text


@pytest.mark.parametrize(
    ("question", "kind", "own", "foreign"),
    [
        ("What does North Korea want from Russia?", "North Korea_wants", "North Korea seeks investment",
         "Russia is interested"),
        ("What's in it for Moscow?", "Russia_wants", "Russia aims to strengthen its influence", "North Korea seeks"),
    ],
)
def test_one_sides_wants_are_quoted_across_areas(
    shared_assistant: Assistant, question: str, kind: str, own: str, foreign: str
) -> None:
    answer = shared_assistant.ask(question)
    assert answer.kind == kind
    assert len(answer.citations) == 10, "every area, with that side's own wants first"
    assert len({c.number for c in answer.citations}) == 10
    quotes = " | ".join(c.quote for c in answer.citations)
    assert own in quotes and foreign not in quotes
    assert all(line.endswith("]") for line in bullet_lines(answer))


def test_a_question_naming_a_topic_is_not_a_whole_article_question(shared_assistant: Assistant) -> None:
    answer = shared_assistant.ask("What technology does North Korea want from Russia?")
    assert answer.kind == "area" and answer.citations[0].number == 5


# ----------------------------------------------------------------------------- follow-ups


@pytest.mark.parametrize(
    ("earlier", "question", "area"),
    [
        ("Tell me about the ports", "Why would that boost trade?", 8),
        ("What role could Russia play in denuclearization?", "Why?", 10),
        ("What technology does North Korea want from Russia?", "What about Russia's side of it?", 5),
        ("Could there be an energy deal between them?", "What's in it for Russia?", 2),
    ],
)
def test_a_follow_up_is_resolved_with_the_earlier_topic(
    shared_assistant: Assistant, earlier: str, question: str, area: int
) -> None:
    answer = shared_assistant.ask(question, history=[earlier])
    assert not answer.abstained and answer.citations[0].number == area, answer.text


def test_gradio_message_history_works_like_plain_strings(shared_assistant: Assistant) -> None:
    history: list[dict[str, Any] | str] = [
        {"role": "user", "content": [{"type": "text", "text": "Tell me about the ports"}]},
        {"role": "assistant", "content": "**Access to Ports (8)** ..."},
    ]
    assert shared_assistant.ask("Why would that boost trade?", history=history).citations[0].number == 8


def test_a_question_that_stands_alone_is_not_dragged_back(shared_assistant: Assistant) -> None:
    for question, area in [("What about denuclearization?", 10), ("And what about student and cultural exchanges?", 9)]:
        answer = shared_assistant.ask(question, history=["Tell me about the ports"])
        assert answer.citations[0].number == area
        assert 8 not in [c.number for c in answer.citations], f"the old topic came back: {answer.text}"


def test_an_off_topic_question_stays_declined_after_an_answered_one(shared_assistant: Assistant) -> None:
    for question in ("And who won the World Cup?", "What is the capital of France?"):
        answer = shared_assistant.ask(question, history=["What about security cooperation?"])
        assert answer.abstained, f"{question!r} answered from the earlier topic: {answer.text}"


def test_a_follow_up_to_an_off_topic_question_is_declined(shared_assistant: Assistant) -> None:
    assert shared_assistant.ask("Why?", history=["How do I reset my password?"]).abstained


def test_a_follow_up_without_history_is_declined_not_guessed(shared_assistant: Assistant) -> None:
    answer = shared_assistant.ask("Tell me more")
    assert answer.abstained and answer.suggestions


# ----------------------------------------------------------------------------- abstention


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "asdkjh qwe zxcmn",
        "When did Kim Jong Un come to power?",
        "How many nuclear warheads does North Korea have?",
        "Translate 'good morning' into Korean",
        "What currency does North Korea use?",
    ],
)
def test_off_topic_questions_are_declined_plainly_with_suggestions(shared_assistant: Assistant, question: str) -> None:
    answer = shared_assistant.ask(question)
    assert answer.abstained and answer.citations == () and answer.kind == "declined"
    assert answer.text.startswith(DECLINE)
    assert len(answer.suggestions) >= 3 and "Try asking" in answer.text


def test_the_cutoff_is_a_named_setting(
    shared_assistant: Assistant, embedder: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = shared_assistant.settings
    assert shared_assistant.abstain_below is None  # no override: the cutoffs calibrated for this build
    profile = shared_assistant.profile
    assert profile.calibration["inscope"] > 0 and 0.1 < profile.abstain_below <= profile.names_only_below < 0.6
    strict = Assistant(settings.corpus_dir, settings.index_dir, embedder=embedder, abstain_below=5.0)  # type: ignore[arg-type]
    assert strict.ask("Which ports matter for trade?").abstained
    monkeypatch.setenv("ALLIANCE_QA_ABSTAIN_BELOW", "5")
    from_env = Assistant(settings.corpus_dir, settings.index_dir, embedder=embedder)  # type: ignore[arg-type]
    assert from_env.abstain_below == 5.0 and from_env.ask("Which ports matter for trade?").abstained
    monkeypatch.setenv("ALLIANCE_QA_ABSTAIN_BELOW", "high")
    with pytest.raises(AllianceQAError) as info:
        Assistant(settings.corpus_dir, settings.index_dir, embedder=embedder)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"ALLIANCE_QA_ABSTAIN_BELOW='high' is not a number: set it to a score such as {ABSTAIN_BELOW}, or unset it"
    )


# ----------------------------------------------------------------------------- what is embedded


class CountingEmbedder:
    """Wraps the real embedder and records every batch it is asked to embed."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[attr-defined]
        self.dimension = inner.dimension  # type: ignore[attr-defined]
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.encode(texts)  # type: ignore[attr-defined]


def test_only_the_question_is_embedded_once_and_earlier_questions_come_from_the_cache(
    shared_assistant: Assistant, embedder: object
) -> None:
    counting = CountingEmbedder(embedder)
    settings = shared_assistant.settings
    qa = Assistant(settings.corpus_dir, settings.index_dir, embedder=counting, auto_build=False)  # type: ignore[arg-type]
    qa.ask("Tell me about the ports")
    assert counting.calls == [["Tell me about the ports"]]
    qa.ask("Why would that boost trade?", history=["Tell me about the ports"])
    assert counting.calls[1:] == [["Why would that boost trade?"]], "the earlier question must be a cache hit"
    qa.ask("What about denuclearization?", history=["Never asked here before"])
    assert counting.calls[2:] == [["What about denuclearization?"]], "a standalone question needs no history vector"
    qa.ask("Why?", history=["What role could Russia play in denuclearization?"])
    assert counting.calls[3:] == [["Why?"], ["What role could Russia play in denuclearization?"]]


def test_golden_file_is_valid_json_lines() -> None:
    for n, line in enumerate(GOLDEN.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        assert set(row) <= {"id", "kind", "question", "area", "history", "whole"}, f"line {n}: {sorted(row)}"


# ----------------------------------------------------------------------------- rules without a cutoff's help


_NO_FIGURE = "The workshop has a loading bay."
_NO_COMPARISON = "The hall, the bridge and the lake are popular with visitors."


@pytest.mark.parametrize(
    ("question", "section", "lacks"),
    [
        ("How far from the camera should I hold the package?", "Hold the package 15 to 20 cm from the webcam.",
         _NO_FIGURE),
        ("How long does importing 1,000 rows take?", "Importing 1,000 rows takes a few seconds.", _NO_FIGURE),
        ("How long does the upload take?", "The upload takes about 30 seconds.", _NO_FIGURE),
        ("How old must members be?", "The minimum age for members is 16.", _NO_FIGURE),
        ("How old do children have to be?", "Young people aged 12 to 15 may come with a parent.", _NO_FIGURE),
        ("How old are the students?", "Most are 18-year-olds.", _NO_FIGURE),
        # a comparison asks for a figure of its kind, like "how big / old / deep"
        ("Is the north hall bigger than the south hall?", "The north hall covers 400 square metres.", _NO_COMPARISON),
        ("Which is older, the bridge or the tower?", "The bridge is 120 years old; the tower is younger.",
         _NO_COMPARISON),
        ("Is the lake deeper than the river?", "The lake is 30 metres deep at its centre.", _NO_COMPARISON),
    ],
)
def test_a_figure_of_the_kind_asked_answers_how_far_long_old_and_comparisons(
    question: str, section: str, lacks: str
) -> None:
    from alliance_qa.intent import missing_answer_type

    assert missing_answer_type(question, [section]) is None
    assert missing_answer_type(question, [lacks]) == "measure"


def test_a_measure_question_answered_by_a_figure_is_not_a_match_on_names_alone() -> None:
    from alliance_qa.intent import answers_measure

    assert answers_measure("How far is Lisbon from Porto?", ["Lisbon and Porto, separated by hundreds of kilometres, trade."])
    assert not answers_measure("How far is Lisbon from Porto?", ["Lisbon and Porto trade wine and cork."])
    assert not answers_measure("What do Lisbon and Porto trade?", ["Separated by hundreds of kilometres, they trade."])


def test_the_sentences_stating_the_asked_figure_are_found_with_the_one_before_a_pronoun() -> None:
    from alliance_qa.intent import figure_sentences

    sentences = ["Members can rent a locker.", "It costs $5 at the desk.", "The desk opens at 9am.", "Tools last years."]
    assert figure_sentences("How much does a locker cost?", sentences) == [0, 1]
    assert figure_sentences("When does the desk open?", sentences) == [2]
    assert figure_sentences("How long do tools last?", sentences) == [3]
    assert figure_sentences("Which tools can I borrow?", sentences) is None


def one_document(tmp_path: Path, name: str, text: str, embedder: object) -> Assistant:
    """An assistant (the real model) over a corpus folder in ``tmp_path`` holding one document ``name``."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / name).write_text(text, encoding="utf-8")
    return Assistant(corpus, tmp_path / "index", embedder=embedder)  # type: ignore[arg-type]


TOOL_LIBRARY = """Riverside Tool Library

1. Membership

There are two plans. The Basic plan costs $10 a month and covers the hand tools. The Pro plan costs $30 a month.
It adds the power tools, including the table saw and the 3D printers.

2. Lockers

Members can rent a locker by the door. It costs $5 a month, and the key is kept at the desk.

3. Repairs

Report a broken tool at the desk. The volunteers aim to repair most tools within 4 days.
"""


def test_a_figure_stated_only_for_other_things_does_not_answer(
    tmp_path: Path, embedder: object
) -> None:
    """"How much does a new 3D printer cost?" is not answered by the plans' prices, though the section names the
    printers and states prices: no sentence with a price names a printer.  A price stated for what is asked, in
    the sentence, the one before "It costs ...", the title, or for a follow-up's earlier topic, still answers."""
    qa = one_document(tmp_path, "tool-library.txt", TOOL_LIBRARY, embedder)
    declined = qa.ask("How much does a new 3D printer cost?")
    assert declined.abstained and "not for what you asked about" in declined.text
    for question, title in [("How much does the Pro plan cost?", "Membership"), ("How much does renting cost?", "Lockers"),
                            ("What does a locker cost?", "Lockers")]:
        answer = qa.ask(question)
        assert not answer.abstained and answer.citations[0].title == title, (question, answer.text)
    follow_up = qa.ask("How long until it gets fixed?", history=["How do I report a broken tool?"])
    assert not follow_up.abstained and follow_up.citations[0].title == "Repairs", follow_up.text


@pytest.mark.parametrize(
    ("question", "answers", "lacks", "kind"),
    [
        ("Who wrote War and Peace?", "The report was written by the committee.", "The plan costs $45.", "attribute"),
        ("Who invented the 3D printer?", "She invented a new loom in 1801.", "We have two 3D printers.", "attribute"),
        ("How cold does it get in winter?", "Winter nights drop to -10 degrees.", "The pass closes in winter.",
         "measure"),
        ("What time zone is the city in?", "The city keeps its own time zone.", "The desk opens at 9am.", "attribute"),
    ],
)
def test_who_did_it_how_cold_and_time_zone_need_that_fact(question: str, answers: str, lacks: str, kind: str) -> None:
    from alliance_qa.intent import missing_answer_type

    assert missing_answer_type(question, [answers]) is None
    assert missing_answer_type(question, [lacks]) == kind


def test_foreign_words_outweigh_a_shared_product_name_but_not_a_real_match() -> None:
    from alliance_qa.lexical import LexicalIndex

    sections = ["The Maker plan adds the laser cutter and the filament printer.", "Lockers cost $8 a month."]
    lexical = LexicalIndex(sections)
    off = lexical.terms("Is printer filament biodegradable in landfill?")
    inside = lexical.terms("Which plan adds the laser cutter?")
    assert lexical.outweighed(off, 0) and not lexical.outweighed(inside, 0)
    # a party's other name is not foreign, though the text never uses it
    named = lexical.terms("Which plan does Halvik add?")
    assert lexical.outweighed(named, 0) and not lexical.outweighed(named, 0, frozenset({"halvik"}))


def test_a_real_word_is_not_taken_for_a_typo_of_another(tmp_path: Path) -> None:
    """"snow" is not a slip for "show", nor "flat" for "flag": a word of the model's vocabulary matches only its
    own forms and its other national spelling; a misspelling ("shwo", "lokers") still matches."""
    from alliance_qa.embed import model_words
    from alliance_qa.lexical import LexicalIndex

    sections = ["The show opens at the centre. Keep meat in the freezer.", "Lockers have a colour code and a flag."]
    dictionary = model_words("all-MiniLM-L6-v2")
    assert {"snow", "flat", "freeze", "colour"} <= dictionary and not {"shwo", "lokers"} & dictionary
    lexical = LexicalIndex(sections, dictionary=dictionary)
    found = {t.word: [s for s, _ in t.stems] for t in lexical.terms("snow flat shwo lokers freeze color center")}
    assert found == {"snow": [], "flat": [], "shwo": ["show"], "lokers": ["locker"], "freeze": ["freezer"],
                     "color": ["colour"], "center": ["centr"]}
    # without a dictionary (a model without a vocabulary file) every near spelling matches, as before
    assert [s for s, _ in LexicalIndex(sections).terms("snow")[0].stems] == ["show"]
    assert model_words(str(tmp_path)) == frozenset()


CHANGELOG = """# Changelog

## 0.28.0 (28th November, 2024)

* The deprecated `proxies` argument has now been removed.
* The `verify` argument as a string is deprecated and raises a warning.

## 0.27.0 (21st February, 2024)

* The `app` shortcut is deprecated; use an explicit transport instead.
* Requests now send a default `User-Agent` header.

## 0.26.0 (20th December, 2023)

* Added the `proxy` argument for a single proxy URL.
* Cookies set on a request are no longer persisted on the client.

## Contributing

Open an issue before a large change, and add a test for every fix you send.
"""


def test_a_date_in_a_section_s_heading_answers_when_for_its_whole_section(tmp_path: Path, embedder: object) -> None:
    """A changelog dates each release in its heading: "When was the proxies argument removed?" is answered from the
    release that removed it, though no sentence of that section holds a date."""
    qa = one_document(tmp_path, "CHANGELOG.md", CHANGELOG, embedder)
    answer = qa.ask("When was the proxies argument removed?")
    assert not answer.abstained and answer.citations[0].title == "0.28.0 (28th November, 2024)", answer.text
    assert qa.ask("When did the contributing rules change?").abstained  # no date for those anywhere


RELEASES = """# Changelog

## 0.28.1 (6th December, 2024)

* Fix the SSL case where `verify=False` is used together with client side certificates.

## 0.28.0 (28th November, 2024)

* The deprecated `proxies` argument has now been removed.
* The `verify` argument as a string is deprecated and raises a warning.

## 0.23.1 (18th November, 2022)

* Note: the 0.23.1 release should have used a proper version bump, rather than a minor point release. There are
  API surface area changes that may affect some users.

## 0.23.0 (23rd May, 2022)

* Drop support for Python 3.6, and add support for Python 3.11 on the command line client.
"""


def test_a_version_the_question_names_puts_its_release_first(tmp_path: Path, embedder: object) -> None:
    """"What changed in 0.28.1?" ranked "0.23.1" and "0.28.0" above "0.28.1" (they share its digits and say more
    about change); the section whose title holds the number the question names comes first."""
    qa = one_document(tmp_path, "CHANGELOG.md", RELEASES, embedder)
    for question in ("What changed in 0.28.1?", "What was fixed in 0.28.1?"):
        assert qa.search(question, k=1)[0].title == "0.28.1 (6th December, 2024)", question
        answer = qa.ask(question)
        assert not answer.abstained and answer.citations[0].title == "0.28.1 (6th December, 2024)", answer.text
    assert qa.search("What is new for Python 3.11?", k=1)[0].title == "0.23.0 (23rd May, 2022)"


TOKEN_NOTES = """# Token Service Notes

## Authorization Codes

Authorization codes must be short lived and used only once. A code that is presented twice is refused, and every
token issued from it is revoked.

## Authorization Response

The server sends the code to the client's redirect address. A maximum code lifetime of 10 minutes is recommended.

## Refresh Tokens

Refresh tokens let a client get a new access token without asking the user again.

## Scopes

A scope names what a token may be used for, such as reading a calendar or sending mail on the user's behalf.

## Client Registration

Before a client can ask for tokens, its developer registers it and receives an identifier and a secret.

## Transport Security

Every request to the server must use TLS, so that secrets and tokens cannot be read on the way.
"""


def test_a_close_runner_up_stating_the_asked_figure_answers_when_the_best_section_does_not(
    tmp_path: Path, embedder: object
) -> None:
    """"How long should an authorization code live?" matches "Authorization Codes" best (codes are "short lived"),
    but only "Authorization Response", close behind, says how long: it answers, instead of a decline."""
    qa = one_document(tmp_path, "tokens.md", TOKEN_NOTES, embedder)
    question = "How long should an authorization code live?"
    assert [h.title for h in qa.search(question, k=2)] == ["Authorization Codes", "Authorization Response"]
    answer = qa.ask(question)
    assert not answer.abstained and answer.citations[0].title == "Authorization Response", answer.text
    assert "10 minutes" in answer.citations[0].quote
    assert qa.ask("How long does wood glue take to dry?").abstained


def test_an_acronym_matches_only_a_word_the_corpus_writes_in_capitals(fake_assistant: Assistant, tmp_path: Path) -> None:
    """The "UN" of a question is not the "Un" of a name in the article; typed in lower case, or in a question all
    in capitals, the word matches as before; a corpus that writes "UN" matches it."""
    def known(qa: Assistant, question: str) -> dict[str, bool]:
        ranking = qa.state().retriever.rank(question, qa.embed_question(question))
        return {t.word: t.known for t in ranking.terms}

    assert "Un" in fake_assistant.state().retriever.sections[0].text
    assert known(fake_assistant, "Would Russia back them at the UN?")["un"] is False
    assert known(fake_assistant, "Who is Kim Jong Un?")["un"] is True
    assert known(fake_assistant, "WOULD RUSSIA BACK THEM AT THE UN?")["un"] is True
    corpus = tmp_path / "other"
    corpus.mkdir()
    (corpus / "notes.md").write_text("# Notes\n\n## Votes\n\nThe UN voted on the port.\n\n## Ports\n\nKim Jong Un saw it.\n")
    assert known(Assistant(corpus, tmp_path / "other-index"), "What did the UN vote on?")["un"] is True
