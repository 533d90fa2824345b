"""Look-alike letters: the article's Cyrillic "е" and curly apostrophes, and questions typed either way."""

from __future__ import annotations

import json
from pathlib import Path

from alliance_qa.assistant import Assistant
from alliance_qa.normalize import normalize


def test_article_lookalikes_become_latin() -> None:
    raw = "Thе North Korеan-Russian alliancе, Russia’s Vladivostok"
    assert normalize(raw) == "The North Korean-Russian alliance, Russia's Vladivostok"


def test_genuine_cyrillic_and_korean_words_are_kept() -> None:
    assert normalize("Россия и Северная Корея") == "Россия и Северная Корея"
    assert normalize("What does Россия want from 조선?") == "What does Россия want from 조선?"
    # A Russian sentence made of look-alike-only words stays Russian.
    assert normalize("сор у реки") == "сор у реки"


def test_nfkc_and_caps_lookalikes() -> None:
    assert normalize("ＥＮＥＲＧＹ") == "ENERGY"
    assert normalize("ЕNЕRGY") == "ENERGY"  # Cyrillic capital IE inside a Latin word


def test_no_cyrillic_ie_left_in_indexed_text(fake_assistant: Assistant) -> None:
    build = fake_assistant.index.path
    for name in ("units.jsonl", "sections.jsonl", "manifest.json"):
        text = (build / name).read_text(encoding="utf-8")
        assert "\u0435" not in text, name
        assert "\u2019" not in text, name
    titles = [json.loads(line)["title"] for line in (build / "sections.jsonl").read_text().splitlines()]
    assert "Energy Resources" in titles


def test_energy_typed_or_pasted_with_lookalikes_retrieves_area_2(shared_assistant: Assistant) -> None:
    for question in ("energy", "еnеrgy", "ЕNЕRGY", "What about energy?", "What about еnеrgy?"):
        hits = shared_assistant.search(question, k=3)
        assert hits[0].number == 2, (question, [(h.number, h.score) for h in hits])


def test_raw_corpus_file_is_unchanged_by_indexing(fake_assistant: Assistant, corpus_dir: Path) -> None:
    raw = next(corpus_dir.iterdir()).read_text(encoding="utf-8")
    assert raw.count("\u0435") > 100  # the corpus stays exactly as received
