"""The public Python API and the CLI (in-process), including their error paths.

Answers come from the real model over the session's read-only article index (``shared_env``); tests
that build or only check errors use the fake embedder (``fake_env``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import alliance_qa
from alliance_qa.assistant import Assistant, previous_questions
from alliance_qa.cli import main
from alliance_qa.errors import QuestionError


def point_at(qa: Assistant, monkeypatch: pytest.MonkeyPatch) -> Assistant:
    """Point the env-var settings (see conftest) at ``qa``'s corpus and index."""
    monkeypatch.setenv("ALLIANCE_QA_CORPUS", str(qa.settings.corpus_dir))
    monkeypatch.setenv("ALLIANCE_QA_INDEX", str(qa.settings.index_dir))
    return qa


@pytest.fixture
def shared_env(shared_assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> Assistant:
    """The settings name the session's article index, built with the real model (read-only: do not build)."""
    return point_at(shared_assistant, monkeypatch)


@pytest.fixture
def fake_env(fake_assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> Assistant:
    """The settings name a tmp copy of the article, built with the fake embedder (the configured model)."""
    return point_at(fake_assistant, monkeypatch)


def test_public_api_is_small_and_typed() -> None:
    assert set(alliance_qa.__all__) >= {"ask", "search", "build_index", "Assistant", "Answer", "Hit", "Citation"}
    for name in ("ask", "search", "build_index"):
        func = getattr(alliance_qa, name)
        assert func.__doc__ and func.__annotations__


def test_module_level_search_and_ask(shared_env: Assistant) -> None:
    hits = alliance_qa.search("Which ports matter for trade?", k=5)
    assert 1 <= len(hits) <= 5
    assert hits[0].number == 8 and hits[0].title == "Access to Ports"
    assert hits == sorted(hits, key=lambda h: -h.score)
    assert hits[0].quote in hits[0].section_text

    answer = alliance_qa.ask("Which ports matter for trade?", history=None)
    assert not answer.abstained
    assert answer.citations[0].number == 8
    assert "Access to Ports (8)" in answer.text
    for citation in answer.citations:
        for quote in citation.quotes:
            assert quote in citation.section_text


def test_module_level_build_index_is_incremental(fake_env: Assistant) -> None:
    report = alliance_qa.build_index()
    assert report.unchanged and report.embedded == 0 and report.sections == 11


def test_explicit_settings_beat_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLIANCE_QA_INDEX", str(tmp_path / "elsewhere"))
    qa = Assistant(index_dir=tmp_path / "mine")
    assert qa.settings.index_dir == tmp_path / "mine"
    assert qa.settings.corpus_dir == tmp_path / "corpus"


def test_history_accepts_message_dicts_and_strings() -> None:
    history = [
        {"role": "user", "content": "Which ports matter?"},
        {"role": "assistant", "content": "Access to Ports (8)"},
        {"role": "user", "content": [{"type": "text", "text": "And energy?"}]},
        "What about China?",
    ]
    assert previous_questions(history) == ["Which ports matter?", "And energy?", "What about China?"]


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "Please type a question"), ("   \n\t ", "Please type a question"), ("x" * 1001, "1,001 characters long")],
)
def test_bad_questions_raise_a_friendly_error(tmp_path: Path, question: str, message: str) -> None:
    qa = Assistant(tmp_path / "corpus", tmp_path / "index")  # refused before any corpus, index or model is needed
    with pytest.raises(QuestionError, match=message):
        qa.ask(question)
    assert not (tmp_path / "index").exists()


def test_bad_k_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(QuestionError, match="k must be a whole number of at least 1, not 0"):
        Assistant(tmp_path / "corpus", tmp_path / "index").search("ports", k=0)
    assert not (tmp_path / "index").exists()


def test_cli_ask_prints_a_cited_answer(shared_env: Assistant) -> None:
    result = CliRunner().invoke(main, ["ask", "Which ports matter for trade?"])
    assert result.exit_code == 0, result.output
    assert "Access to Ports (8)" in result.output
    assert "Vladivostok" in result.output


def test_cli_ask_json_for_scripts(shared_env: Assistant) -> None:
    result = CliRunner().invoke(main, ["ask", "Which ports matter for trade?", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"answer", "abstained", "citations"}
    assert data["abstained"] is False
    first = data["citations"][0]
    assert set(first) >= {"number", "title", "quote", "score"}
    assert first["number"] == 8 and first["title"] == "Access to Ports"


def test_cli_search_lists_hits(shared_env: Assistant) -> None:
    result = CliRunner().invoke(main, ["search", "fuel and electricity supply", "-k", "3"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line[:2] in {"1.", "2.", "3."}]
    assert len(lines) == 3 and lines[0].startswith("1. Energy Resources (2)")


def test_cli_build_reports_counts(fake_env: Assistant) -> None:
    article = next(fake_env.settings.corpus_dir.glob("*.txt"))
    article.write_text(article.read_text(encoding="utf-8").replace("Rajin", "Sonbong"), encoding="utf-8")
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.output
    assert "embedded 1 text (1 section)" in result.output and "removed 0 sections" in result.output


def test_cli_empty_question_is_one_line_and_exit_2(fake_env: Assistant) -> None:
    result = CliRunner().invoke(main, ["ask", "   "])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        'alliance-qa: error: Please type a question about the documents, e.g. "What is this about?"'
    ]
    assert "Traceback" not in result.output


def test_cli_missing_corpus_is_one_line_and_exit_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "i"), "build"])
    assert result.exit_code == 3
    assert len(result.output.strip().splitlines()) == 1
    assert "corpus folder" in result.output and "does not exist" in result.output


def test_cli_bad_k_is_rejected_by_click(fake_env: Assistant) -> None:
    result = CliRunner().invoke(main, ["search", "ports", "-k", "0"])
    assert result.exit_code == 2
    assert "0 is not in the range 1<=x<=100" in result.output


@pytest.mark.slow  # the real loader: imports sentence-transformers before it fails
def test_cli_missing_model_is_one_line(fake_env: Assistant, tmp_path: Path) -> None:
    shutil.rmtree(fake_env.settings.index_dir)
    result = CliRunner().invoke(main, ["--model", str(tmp_path / "no-such-model"), "ask", "ports?"])
    assert result.exit_code == 7, result.output
    assert "cannot load embedding model" in result.output and "ALLIANCE_QA_MODEL" in result.output


def test_cli_ask_shows_quotes_as_written_and_keeps_a_code_block_s_lines(tmp_path: Path, fake_model: object) -> None:
    """The terminal gets the quotes without Markdown escapes; in the Markdown answer a quote of several lines keeps
    its line breaks inside the block quote."""
    corpus = tmp_path / "docs"
    corpus.mkdir()
    code = "```\n>>> r = client.get(url, timeout=5)\n>>> r.status_code\n```"
    (corpus / "client.md").write_text(f"# Client\n\n## Timeouts\n\nSet timeout_s with a *number*:\n\n{code}\n",
                                      encoding="utf-8")
    result = CliRunner().invoke(main, ["--corpus", str(corpus), "--index", str(tmp_path / "idx"), "ask",
                                       "How do I set timeout_s with a number?"])
    assert result.exit_code == 0, result.output
    assert "Set timeout_s with a *number*:" in result.output and "\\" not in result.output
    answer = Assistant(corpus, tmp_path / "idx").ask("client.get timeout status_code")
    block = [line for line in answer.text.split("\n") if "status" in line or "client.get" in line]
    assert block and all(line.startswith("> ") for line in block), answer.text
