"""The corpus profile: derived from tmp corpora with the real model, overrides, checked examples, calibration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alliance_qa.assistant import Assistant
from alliance_qa.calibrate import Calibration, load_bank
from alliance_qa.corpus import read_corpus
from alliance_qa.errors import CorpusError
from alliance_qa.profile import (
    Profile,
    demonyms,
    parties_of,
    read_overrides,
    section_word,
)

DATA = Path(__file__).with_name("data")

SHOP = """Pinewood Bakery Guide

Pinewood Bakery is a small neighbourhood bakery. This guide explains how it works, in five short parts.

1. Opening Times

The bakery opens at 7am and closes at 3pm from Tuesday to Sunday. It is closed on Mondays.

2. Bread and Pastries

Every morning we bake sourdough loaves, rye bread, croissants and cinnamon buns in a wood-fired oven.

3. Prices

A sourdough loaf costs $6 and a croissant costs $3. Members get ten percent off every order.

4. Delivery

Orders over $30 are delivered by bicycle within the town. Delivery takes 1-2 hours from the time of the order.

5. Allergies

All products may contain traces of nuts, sesame and gluten. Ask the staff about the ingredients of any item.
"""

TWO_SIDES = """What Norland and Suvia Want from Each Other

Norland and Suvia share a long river border. The Norlandic government in Halvik and the Suvian government in Tresa
meet every spring. Today the governments in Halvik and Tresa treat each other as partners.

1. River Trade

Norland wants cheaper river transport for its timber, while Suvia wants Norlandic timber for its builders.

2. Fishing Rights

Suvia wants a larger share of the river fish, and Norland wants Suvian boats to respect the quotas.

3. Tourism

Both Norland and Suvia want more visitors; Suvian hotels advertise in Norland every summer.

4. Schools

Norland offers places to Suvian students, and Suvia wants more teachers who speak Norlandic.
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_demonyms_follow_suffix_rules() -> None:
    assert "Korean" in demonyms("Korea") and "Chilean" in demonyms("Chile") and "Japanese" in demonyms("Japan")
    assert "Argentine" in demonyms("Argentina") and "Cubans" in demonyms("Cuba")


def test_section_word_comes_from_the_text_only_when_it_counts_its_own_sections(tmp_path: Path) -> None:
    sections, _ = read_corpus(write(tmp_path / "a", "guide.txt", SHOP))
    assert section_word(sections, "Pinewood Bakery Guide") == "section"  # "five short parts": not a unit noun phrase
    counted = SHOP.replace("in five short parts", "in its 5 parts")
    sections, _ = read_corpus(write(tmp_path / "b", "guide.txt", counted))
    assert section_word(sections, "Pinewood Bakery Guide") == "part"


def test_parties_capitals_and_demonyms_are_derived_from_the_text(tmp_path: Path) -> None:
    sections, _ = read_corpus(write(tmp_path / "c", "sides.txt", TWO_SIDES))
    parties = dict(parties_of(sections))
    assert set(parties) == {"Norland", "Suvia"}
    assert {"norlandic", "halvik"} <= set(parties["Norland"]) or "halvik" in parties["Norland"]
    assert "suvian" in parties["Suvia"] and "tresa" in parties["Suvia"]
    assert parties_of(read_corpus(write(tmp_path / "d", "guide.txt", SHOP))[0]) == ()


def test_two_party_test_corpus_names_its_sides_like_the_golden_header() -> None:
    header = json.loads((DATA / "two-party.golden.jsonl").read_text(encoding="utf-8").splitlines()[0])
    sections, _ = read_corpus(DATA / "two-party")
    parties = dict(parties_of(sections))
    assert set(parties) == set(header["parties"])
    for name, names in header["parties"].items():
        found = set(parties[name])
        expected = {n.casefold() for n in names}
        assert len(found & expected) >= 4, (name, found, expected)  # name, demonym, capital, seat of power


def test_overrides_file_is_read_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    folder = write(tmp_path / "o", "guide.txt", SHOP)
    (folder / "alliance-qa.toml").write_text(
        'title = "The Bakery"\nsection_word = "topic"\nexamples = ["When does the bakery open?"]\n'
        '[aliases]\n"Pinewood Bakery" = ["Pinewood"]\n', encoding="utf-8")
    overrides = read_overrides(folder)
    assert overrides.title == "The Bakery" and overrides.section_word == "topic"
    assert overrides.examples == ("When does the bakery open?",) and overrides.aliases == (("Pinewood Bakery", ("Pinewood",)),)
    (folder / "alliance-qa.toml").write_text('title = "unclosed\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"alliance-qa.toml is not valid TOML .*fix that line, or delete the file"):
        read_overrides(folder)
    (folder / "alliance-qa.toml").write_text('colour = "blue"\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"unknown setting.*colour.*use only"):
        read_overrides(folder)
    (folder / "alliance-qa.toml").write_text("examples = 3\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="examples = 3 must be a list of questions"):
        read_overrides(folder)


@pytest.fixture(scope="module")
def bakery(tmp_path_factory: pytest.TempPathFactory, embedder: object) -> Assistant:
    """The bakery guide built once with the real model."""
    root = tmp_path_factory.mktemp("bakery")
    write(root / "corpus", "pinewood-bakery.txt", SHOP)
    qa = Assistant(root / "corpus", root / "index", embedder=embedder)  # type: ignore[arg-type]
    qa.build()
    return qa


def test_build_saves_the_profile_with_checked_examples_and_calibrated_cutoffs(bakery: Assistant) -> None:
    index = bakery.index
    assert "profile.json" in index.manifest["files"]
    saved = Profile.from_json(json.loads((index.path / "profile.json").read_text(encoding="utf-8")))
    assert saved == bakery.profile
    assert saved.title == "Pinewood Bakery Guide" and saved.section_word == "section"
    assert saved.documents[0].path == "pinewood-bakery.txt" and saved.documents[0].sections == 6
    assert len(saved.examples) >= 3 and all("north korea" not in e.casefold() for e in saved.examples)
    for example in saved.examples:  # each one is answered, and the section ones retrieve the section they name
        answer = bakery.ask(example)
        assert not answer.abstained, example
    calibration = Calibration(**{k: v for k, v in saved.calibration.items()})
    assert calibration.bank.endswith("questions") and calibration.offtopic > 100 and calibration.inscope >= 10
    assert 0.05 < saved.abstain_below <= saved.names_only_below < 1.0
    assert saved.abstain_below <= calibration.foreign_below <= saved.names_only_below  # type: ignore[operator]
    assert load_bank(), "the general question bank ships with the package"


def test_examples_that_do_not_retrieve_their_own_section_are_dropped(bakery: Assistant) -> None:
    from alliance_qa.profile import candidate_examples, checked_examples
    from alliance_qa.retrieve import Retriever

    retriever = Retriever(bakery.index)
    candidates = candidate_examples(bakery.index.sections, "section")
    wrong = [(question, candidates[0][1]) for question, _ in candidates[1:3]]  # paired with another section
    kept = checked_examples(retriever, bakery.embedder, candidates + wrong)
    assert kept == [q for q, _ in candidates]


def test_examples_come_from_titles_that_read_as_topics_not_code() -> None:
    from alliance_qa.corpus import parse_document
    from alliance_qa.profile import candidate_examples

    titles = ['"trace"', "Basic authentication", "http_version", "Digest authentication", "timeout=5", "Proxies",
              "Client certificates", "SSL", "Event hooks"]
    doc = "# Guide\n\n" + "".join(f"## {t}\n\nSome text about this part of the guide, with details.\n\n" for t in titles)
    questions = [q for q, _ in candidate_examples(parse_document(doc, "guide.md"), "section")]
    assert questions == ["Tell me about basic authentication", "Tell me about digest authentication",
                         "Tell me about proxies", "Tell me about client certificates", "Tell me about event hooks"]
    # too few topical titles: every title may give an example, as before
    few = "# Guide\n\n## `get`\n\nSends a GET request to the URL given.\n\n## `post`\n\nSends a POST request too.\n"
    assert len(candidate_examples(parse_document(few, "api.md"), "section")) == 2


def test_declines_offer_the_corpus_examples_and_off_topic_is_declined(bakery: Assistant) -> None:
    answer = bakery.ask("Who painted the ceiling of the Sistine Chapel?")
    assert answer.abstained
    assert set(bakery.profile.examples) <= set(answer.suggestions)
    assert "North Korea" not in answer.text and "ports" not in answer.text


def test_figures_in_the_section_answer_how_long_how_much_and_when(bakery: Assistant) -> None:
    for question in ("How long does delivery take?", "How much does a croissant cost?", "When does the bakery open?"):
        answer = bakery.ask(question)
        assert not answer.abstained, (question, answer.text)


def test_overrides_win_and_an_overrides_edit_rebuilds_the_profile(tmp_path: Path, embedder: object) -> None:
    folder = write(tmp_path / "corpus", "pinewood-bakery.txt", SHOP)
    qa = Assistant(folder, tmp_path / "index", embedder=embedder)  # type: ignore[arg-type]
    qa.build()
    assert qa.profile.title == "Pinewood Bakery Guide"
    (folder / "alliance-qa.toml").write_text(
        'title = "Our Bakery"\nsection_word = "topic"\nexamples = ["What bread do you bake?"]\n', encoding="utf-8")
    report = qa.build()
    assert not report.unchanged and report.embedded == 0  # every vector reused
    assert (qa.profile.title, qa.profile.section_word, qa.profile.examples) == (
        "Our Bakery", "topic", ("What bread do you bake?",))


def test_an_old_build_without_a_profile_gets_one_derived_then_rebuilt(tmp_path: Path, embedder: object) -> None:
    folder = write(tmp_path / "corpus", "pinewood-bakery.txt", SHOP)
    qa = Assistant(folder, tmp_path / "index", embedder=embedder)  # type: ignore[arg-type]
    qa.build()
    index = qa.index
    manifest = json.loads((index.path / "manifest.json").read_text(encoding="utf-8"))
    for key in ("files", "sha256"):
        manifest[key].pop("profile.json")
    (index.path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (index.path / "profile.json").unlink()
    old = Assistant(folder, tmp_path / "index", embedder=embedder, auto_build=False)  # type: ignore[arg-type]
    assert old.profile.title == "Pinewood Bakery Guide" and not old.profile.calibration  # derived, not calibrated
    assert old.ask("When does the bakery open?").citations
    report = old.build()
    assert not report.unchanged and report.embedded == 0 and old.profile.calibration


def test_several_documents_get_one_profile_each(tmp_path: Path, embedder: object) -> None:
    folder = write(tmp_path / "corpus", "pinewood-bakery.txt", SHOP)
    write(folder, "norland-suvia.txt", TWO_SIDES)
    qa = Assistant(folder, tmp_path / "index", embedder=embedder)  # type: ignore[arg-type]
    qa.build()
    profile = qa.profile
    assert {d.path for d in profile.documents} == {"pinewood-bakery.txt", "norland-suvia.txt"}
    assert "Pinewood Bakery Guide" in profile.title and "Norland" in profile.title
    sides = {d.path: [n for n, _ in d.parties] for d in profile.documents}
    assert sides == {"pinewood-bakery.txt": [], "norland-suvia.txt": ["Norland", "Suvia"]}
    document = profile.document_of(["Norland", "Suvia"])
    assert document is not None and document.path == "norland-suvia.txt"


def test_the_question_bank_is_embedded_once_per_process_and_cached_in_each_index(tmp_path: Path) -> None:
    from alliance_qa.calibrate import forget_bank_vectors
    from fakeembed import HashEmbedder

    forget_bank_vectors()
    bank = set(load_bank())
    seen: list[set[str]] = []
    embedder = HashEmbedder(on_encode=lambda texts: seen.append(set(texts)))
    for name in ("first", "second"):
        (tmp_path / name / "corpus").mkdir(parents=True)
        (tmp_path / name / "corpus" / "bakery.txt").write_text(SHOP, encoding="utf-8")
        Assistant(tmp_path / name / "corpus", tmp_path / name / "index", embedder=embedder).build()
        assert list((tmp_path / name / "index" / "cache").glob("bank-*.npy"))
    bank_calls = [texts for texts in seen if len(texts & bank) > len(bank) // 2]
    assert len(bank_calls) == 1  # the second index folder reused this process's vectors (and cached them too)
    other = HashEmbedder(name="fake-hash-embedder", on_encode=lambda texts: seen.append(set(texts)))
    (tmp_path / "third" / "corpus").mkdir(parents=True)
    (tmp_path / "third" / "corpus" / "bakery.txt").write_text(SHOP, encoding="utf-8")
    Assistant(tmp_path / "third" / "corpus", tmp_path / "third" / "index", embedder=other).build()
    assert len([texts for texts in seen if len(texts & bank) > len(bank) // 2]) == 2  # another model object: embedded


def test_the_shipped_bank_vectors_are_the_current_banks() -> None:
    import numpy as np

    from alliance_qa.calibrate import SHIPPED_RESOURCE, bank_key, cleaned_bank

    bank = cleaned_bank()
    with np.load(Path(__file__).parents[1] / "src" / "alliance_qa" / "data" / SHIPPED_RESOURCE) as saved:
        assert str(saved["bank_sha256"]) == bank_key(bank), "the question bank changed: run `make bank-vectors`"
        assert saved["vectors"].shape == (len(bank), 384)


@pytest.mark.slow
def test_a_first_build_with_the_bundled_model_takes_the_shipped_bank_vectors(tmp_path: Path, embedder: Any) -> None:
    import numpy as np

    from alliance_qa.calibrate import cleaned_bank, forget_bank_vectors, shipped_vectors

    bank = cleaned_bank()
    shipped = shipped_vectors(bank, embedder)
    assert shipped is not None
    sample = [3, 101, 202, len(bank) - 2]  # others than the few the check itself re-embeds
    np.testing.assert_allclose(embedder.encode([bank[i] for i in sample]), shipped[sample], atol=1e-4)

    class Counting:
        def __init__(self) -> None:
            self.name, self.dimension, self.texts = embedder.name, embedder.dimension, list[str]()

        def encode(self, texts: list[str]) -> Any:
            self.texts += list(texts)
            return embedder.encode(texts)

    counting = Counting()
    forget_bank_vectors()
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "bakery.txt").write_text(SHOP, encoding="utf-8")
    Assistant(tmp_path / "corpus", tmp_path / "index", embedder=counting).build()  # type: ignore[arg-type]
    assert len(set(counting.texts) & set(bank)) <= 4  # only the check's few, not the bank
    assert not (tmp_path / "index" / "cache").exists() or not list((tmp_path / "index" / "cache").glob("bank-*"))


def almanac(sections: int) -> str:
    """A numbered document of ``sections`` short, distinct sections (enough that one edit is under 1%)."""
    crops = ["beans", "leeks", "kale", "onions", "squash", "carrots", "radishes", "peas", "garlic", "chard", "beets"]
    parts = ["Allotment Almanac", "", "Notes on every plot of the allotment, one numbered entry per plot."]
    for i in range(1, sections + 1):
        crop = crops[i % len(crops)]
        parts += ["", f"{i}. Plot {i} and its {crop}", "",
                  f"Plot {i} grows {crop} in row {i % 7 + 1} and is watered every {i % 5 + 2} days by its keeper."]
    return "\n".join(parts) + "\n"


def test_an_incremental_build_reuses_unchanged_documents_and_keeps_the_cutoffs_until_one_percent_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import math

    from alliance_qa import profile as profile_module
    from fakeembed import HashEmbedder

    derived: list[str] = []  # the documents whose parties were derived again, build by build
    real_parties_of = profile_module.parties_of

    def parties_of(sections: Any, extra: Any = ()) -> Any:
        derived.append(sections[0].source)
        return real_parties_of(sections, extra)

    monkeypatch.setattr(profile_module, "parties_of", parties_of)
    folder = write(tmp_path / "corpus", "pinewood-bakery.txt", SHOP)
    write(folder, "norland-suvia.txt", TWO_SIDES)
    write(folder, "almanac.txt", almanac(120))
    qa = Assistant(folder, tmp_path / "index", embedder=HashEmbedder())
    qa.build()
    first = qa.profile
    total = sum(d.sections for d in first.documents)
    assert "sections_changed_since" not in first.calibration and sorted(derived) == sorted(d.path for d in first.documents)
    assert math.ceil(profile_module.RECALIBRATE_SHARE * total) == 2  # so one edit keeps the cutoffs, two do not

    derived.clear()
    write(folder, "pinewood-bakery.txt", SHOP.replace("closes at 3pm", "closes at 4pm"))
    qa.build()
    kept = qa.profile
    assert derived == ["pinewood-bakery.txt"], "only the edited document is derived again"
    before, after = ({d.path: d for d in p.documents} for p in (first, kept))
    assert after["norland-suvia.txt"] == before["norland-suvia.txt"] and after["almanac.txt"] == before["almanac.txt"]
    assert after["pinewood-bakery.txt"].fingerprint != before["pinewood-bakery.txt"].fingerprint
    assert kept.calibration == {**first.calibration, "sections_changed_since": 1}
    assert (kept.abstain_below, kept.names_only_below) == (first.abstain_below, first.names_only_below)
    assert "4pm" in qa.ask("When does the bakery close?").text

    write(folder, "almanac.txt", almanac(120).replace("Plot 7 grows", "Plot 7 now grows"))
    qa.build()
    assert "sections_changed_since" not in qa.profile.calibration, "two changes since calibrating: calibrated again"

    write(folder, "almanac.txt", almanac(120).replace("Plot 9 grows", "Plot 9 now grows"))
    qa.build(full=True)
    assert "sections_changed_since" not in qa.profile.calibration, "a full build always calibrates"


def test_a_small_corpus_is_calibrated_again_at_every_edit(tmp_path: Path) -> None:
    from fakeembed import HashEmbedder

    folder = write(tmp_path / "corpus", "pinewood-bakery.txt", SHOP)
    qa = Assistant(folder, tmp_path / "index", embedder=HashEmbedder())
    qa.build()
    write(folder, "pinewood-bakery.txt", SHOP.replace("closes at 3pm", "closes at 4pm"))
    qa.build()
    assert qa.profile.calibration and "sections_changed_since" not in qa.profile.calibration
