"""``alliance-qa eval``: the table and its JSON, the metric definitions, calibration and the golden file's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alliance_qa.assistant import Assistant
from alliance_qa.cli import main
from alliance_qa.errors import AllianceQAError
from alliance_qa.evaluate import (
    COLUMNS,
    Item,
    Outcome,
    best_cutoff,
    gap_cutoff,
    load_golden,
    raw_sections,
    score,
    split_halves,
)

GOLDEN = Path(__file__).with_name("golden.jsonl")
METHODS = ["product", "BM25, raw text", "dense, raw text", "dense, normalized text"]


def small_golden(tmp_path: Path) -> Path:
    """A few golden questions of every kind, for running the command quickly."""
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]
    keep = [r for r in rows if r["id"] in {"a8-direct-1", "a2-typo-1", "a5-lookalike-1", "whole-4", "off-1",
                                           "off-13", "fu-1", "fu-15"}]
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
    return path


def run(qa: Assistant, *args: str) -> tuple[int, str, str]:
    settings = qa.settings
    result = CliRunner().invoke(main, ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_eval_prints_one_table_and_the_same_figures_as_json(shared_assistant: Assistant, tmp_path: Path) -> None:
    golden = small_golden(tmp_path)
    code, out, _ = run(shared_assistant, "eval", "--golden", str(golden))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:1] == ["method"] and all(label in lines[0] for _, label in COLUMNS)
    table = {line[:22].strip(): line[22:].split() for line in lines[2:6]}
    assert list(table) == METHODS
    code, raw, _ = run(shared_assistant, "eval", "--golden", str(golden), "--json")
    assert code == 0
    data = json.loads(raw)
    assert data["counts"] == {"area": 3, "whole": 1, "offtopic": 2, "followup": 2}
    assert [r["method"] for r in data["rows"]] == METHODS
    for row in data["rows"]:
        assert table[row["method"]] == [f"{row[key]:.3f}" for key, _ in COLUMNS]
    product = data["rows"][0]
    assert product["top1"] == 1.0 and product["offtopic_declined"] == 1.0 and product["followup"] == 1.0


def test_eval_holdout_reports_both_halves(shared_assistant: Assistant, tmp_path: Path) -> None:
    code, raw, _ = run(shared_assistant, "eval", "--golden", str(small_golden(tmp_path)), "--json", "--holdout")
    assert code == 0
    held = json.loads(raw)["holdout"]
    assert [r["method"] for r in held["rows"]] == ["product, tuning half", "product, held-out half"]
    assert set(held["thresholds"]) == {"abstain_below", "names_only_below"}


def test_eval_with_a_missing_golden_file_says_so_in_one_line(shared_assistant: Assistant, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    code, out, err = run(shared_assistant, "eval", "--golden", str(missing))
    assert code != 0 and out == ""
    assert err.strip() == (
        f"alliance-qa: error: golden set {missing} not found: pass --golden PATH (e.g. tests/golden.jsonl in the "
        "repository)"
    )


def test_a_bad_golden_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x", "kind": "direct", "question": "q", "area": 1}\n{"id": "y"}\n', encoding="utf-8")
    with pytest.raises(AllianceQAError) as info:
        load_golden(path)
    assert str(info.value).startswith(f"golden set {path} line 2 is not a valid question (")


def test_metrics_follow_their_definitions() -> None:
    items = [
        Item("a", "direct", "q", 2),
        Item("b", "typo", "q", 3),
        Item("c", "offtopic", "q", None),
        Item("d", "followup", "q", 8, ("earlier",)),
        Item("e", "whole", "q", None, whole="list"),
    ]
    outcomes = [
        Outcome((2, 1, 3), declined=False),
        Outcome((1, 2, 3), declined=True),  # declined: no top-1, but MRR and recall@3 still count its ranking
        Outcome((5,), declined=False),  # off-topic answered
        Outcome((8,), declined=False),
        Outcome((0,), declined=False, kind="list"),
    ]
    row = score("product", items, outcomes)
    assert (row.top1, row.mrr, row.recall3) == (0.5, 0.6667, 1.0)
    assert (row.offtopic_declined, row.inscope_declined, row.followup, row.whole_article) == (0.0, 0.25, 1.0, 1.0)
    assert set(row.misses) == {"b", "c"}


def test_cutoffs() -> None:
    items = [Item("i1", "direct", "q", 1), Item("i2", "direct", "q", 2), Item("o", "offtopic", "q", None)]
    assert best_cutoff(items, [0.5, 0.3, 0.2]) == pytest.approx(0.2 + 1e-6)
    assert gap_cutoff([0.5, 0.3], [0.2, 0.1], default=9.0) == 0.25
    assert gap_cutoff([0.5], [], default=9.0) == 9.0
    assert gap_cutoff([0.5, 0.15], [0.2, 0.1], default=9.0) in (0.125, 0.35)  # one mistake either way


def test_halves_alternate_within_each_kind() -> None:
    items = load_golden(GOLDEN)
    tune, test = split_halves(items)
    assert len(tune) + len(test) == len(items) and not {i.id for i in tune} & {i.id for i in test}
    for kind in {i.kind for i in items}:
        a = sum(i.kind == kind for i in tune)
        b = sum(i.kind == kind for i in test)
        assert a - b in (0, 1), kind


def test_raw_baseline_text_keeps_the_look_alike_letters(corpus_dir: Path) -> None:
    sections = raw_sections(corpus_dir)
    assert len(sections) == 11 and [k for (_, k), _ in sections] == ["intro", *range(1, 11)]
    assert "\u0435" in sections[2][1], "the raw baseline must see the article as received"


# ----------------------------------------------------------------------------- golden format 2, several corpora

DATA = Path(__file__).with_name("data")


def test_format_2_is_read_with_documents_sections_and_parties() -> None:
    from alliance_qa.evaluate import read_golden

    golden = read_golden(DATA / "two-party.golden.jsonl")
    assert golden.version == 2 and golden.header["documents"] == ["what-chile-and-argentina-want.txt"]
    wants = [i for i in golden.items if i.whole == "wants"]
    assert wants and all(i.party in {"Chile", "Argentina"} for i in wants)
    assert {i.area for i in golden.items if i.kind not in ("offtopic", "whole") and i.area is not None} >= {"intro", 1, 10}
    assert all(i.document == "what-chile-and-argentina-want.txt" for i in golden.items if i.area is not None)


def test_matching_a_section_by_document_number_title_or_parent() -> None:
    from alliance_qa.evaluate import matches, whole_matches

    item = Item("x", "direct", "q", "Writing Recipes", document="guide.md", parent="Recipes")
    assert matches(item, ("guide.md", "writing recipes")) and matches(item, ("guide.md", "Recipes"))
    assert not matches(item, ("other.md", "Writing Recipes"))
    assert matches(Item("y", "direct", "q", "intro"), ("a.txt", "intro")) and matches(Item("z", "direct", "q", 0), "intro")
    assert whole_matches(Item("w", "whole", "q", None, whole="nk_wants"), "North Korea_wants")
    assert whole_matches(Item("w", "whole", "q", None, whole="wants", party="Chile"), "Chile_wants")
    assert not whole_matches(Item("w", "whole", "q", None, whole="wants", party="Chile"), "Argentina_wants")


def test_a_golden_set_for_another_corpus_is_refused_with_the_fix(shared_assistant: Assistant) -> None:
    from alliance_qa.evaluate import check_golden, read_golden

    with pytest.raises(AllianceQAError) as info:
        check_golden(read_golden(DATA / "numbered-txt.golden.jsonl"), shared_assistant.index.sections)
    message = str(info.value)
    assert "does not match the corpus it is run against" in message
    assert "harbor-street-workshop-handbook.txt" in message and "--corpus tests/data/numbered-txt" in message


@pytest.mark.slow  # builds its corpus with the real model
def test_eval_runs_a_format_2_set_on_its_own_corpus_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [json.loads(line) for line in (DATA / "two-party.golden.jsonl").read_text(encoding="utf-8").splitlines()]
    header, items = rows[0], rows[1:]
    keep = [r for r in items if r["id"] in {"a1-direct-1", "off-13", "whole-1"}] or items[:3]
    small = DATA / "two-party.small-test.golden.jsonl"  # beside the corpus, so its header's path resolves
    try:
        small.write_text("".join(json.dumps(r) + "\n" for r in [header, *keep]), encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("ALLIANCE_QA_CORPUS")
        result = CliRunner().invoke(main, ["eval", "--golden", str(small), "--json"])
    finally:
        small.unlink(missing_ok=True)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["corpus"].endswith("tests/data/two-party")
    assert data["cutoffs"]["source"] == "calibrated for this build" and data["cutoffs"]["abstain_below"] > 0
    assert not (tmp_path / "index").exists(), "a golden set's own corpus is indexed in a temporary folder"
