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
        f"alliance-qa: error: golden set {missing} not found: run `alliance-qa eval` from the repository root "
        "or pass --golden PATH"
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
    assert len(sections) == 11 and [a for a, _ in sections] == list(range(11))
    assert "\u0435" in sections[2][1], "the raw baseline must see the article as received"
