"""Bad questions through the Python API and the CLI (in-process): a friendly reply or one line, never a traceback.

Every case asserts the exact outcome (the message or the cited area, the exit
code) and then that a normal question still answers.  The same questions go
through the web API in ``test_robust_server.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import alliance_qa
from alliance_qa.answer import DECLINE, Answer
from alliance_qa.assistant import Assistant, reset_default_assistant
from alliance_qa.cli import main
from alliance_qa.errors import QuestionError
from robustutil import CASES, NORMAL, Case, latin1_noise, long_question


def check_answer(case: Case, answer: Answer) -> None:
    """The exact outcome for a question that gets an answer; markup from the question never comes back."""
    assert isinstance(answer, Answer)
    if case.declines:
        assert answer.abstained, f"{case.id}: answered as if covered: {answer.text!r}"
        assert answer.text.startswith(DECLINE) and answer.citations == ()
    else:
        assert not answer.abstained, f"{case.id}: declined: {answer.text!r}"
        assert answer.citations and answer.citations[0].number == case.area
        assert "Vladivostok" in answer.citations[0].section_text
    for payload in ("<script", "<img", "<b>", "javascript:", "onerror", "\x00", "\ud800"):
        assert payload not in answer.text, f"{case.id}: {payload!r} came back in the answer"


def assert_still_answers(qa: Assistant) -> None:
    """A normal question still cites area 8."""
    answer = qa.ask(NORMAL)
    assert not answer.abstained and answer.citations[0].number == 8


# ----------------------------------------------------------------------------- Python API


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_question_through_the_assistant(case: Case, shared_assistant: Assistant) -> None:
    if case.error is not None:
        with pytest.raises(QuestionError) as info:
            shared_assistant.ask(case.question)
        assert str(info.value) == case.error
        with pytest.raises(QuestionError) as info:
            shared_assistant.search(case.question, k=3)
        assert str(info.value) == case.error
    else:
        check_answer(case, shared_assistant.ask(case.question))
        hits = shared_assistant.search(case.question, k=3)
        assert 1 <= len(hits) <= 3
    assert_still_answers(shared_assistant)


def test_random_latin1_longer_than_the_cap_is_refused(shared_assistant: Assistant) -> None:
    question = latin1_noise(4, size=4000)
    with pytest.raises(QuestionError, match=r"^That question is [\d,]+ characters long; please keep it under 1,000"):
        shared_assistant.ask(question)
    assert_still_answers(shared_assistant)


@pytest.mark.parametrize("bad", [None, 42, b"Which ports matter for trade?", ["Which ports?"]])
def test_a_question_that_is_not_text_is_refused(bad: object, shared_assistant: Assistant) -> None:
    with pytest.raises(QuestionError, match=f"^a question must be text, not {type(bad).__name__}$"):
        shared_assistant.ask(bad)  # type: ignore[arg-type]
    assert_still_answers(shared_assistant)


def test_malformed_history_is_ignored_not_fatal(shared_assistant: Assistant) -> None:
    """Garbage turns in ``history`` (wrong types, bad questions, odd content shapes) are skipped."""
    history: list[object] = [
        None,
        42,
        "",
        "😀",
        long_question(),
        {"role": "user", "content": None},
        {"role": "user", "content": {"nested": {"text": 1}}},
        {"role": "user", "content": [{"type": "text", "text": "Какие порты важны?"}, None, 7]},
        {"role": "assistant", "content": "<script>alert(1)</script>"},
        {"content": "\x00\x01"},
        *(["Which ports matter for trade?"] * 5000),
    ]
    answer = shared_assistant.ask(NORMAL, history=history)  # type: ignore[arg-type]
    assert not answer.abstained and answer.citations[0].number == 8
    assert_still_answers(shared_assistant)


@pytest.fixture
def public_api(shared_assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``alliance_qa.ask`` (the process-wide assistant) at the shared, built index."""
    monkeypatch.setenv("ALLIANCE_QA_CORPUS", str(shared_assistant.settings.corpus_dir))
    monkeypatch.setenv("ALLIANCE_QA_INDEX", str(shared_assistant.settings.index_dir))
    reset_default_assistant()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_question_through_the_module_api(case: Case, public_api: None) -> None:
    if case.error is not None:
        with pytest.raises(QuestionError) as info:
            alliance_qa.ask(case.question)
        assert str(info.value) == case.error
    else:
        check_answer(case, alliance_qa.ask(case.question, history=[case.question, {"role": "user", "content": ""}]))
    assert alliance_qa.ask(NORMAL).citations[0].number == 8


# ----------------------------------------------------------------------------- CLI


def run_cli(qa: Assistant, *args: str) -> tuple[int, str, str]:
    """Run ``alliance-qa --corpus C --index I ARGS`` in-process; return exit code, stdout, stderr."""
    result = CliRunner().invoke(
        main, ["--corpus", str(qa.settings.corpus_dir), "--index", str(qa.settings.index_dir), *args]
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the CLI raised {result.exception!r}: {result.output}") from result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def assert_cli_still_answers(qa: Assistant) -> None:
    """``alliance-qa ask --json`` with a normal question still cites area 8."""
    code, out, _ = run_cli(qa, "ask", "--json", NORMAL)
    assert code == 0 and json.loads(out)["citations"][0]["number"] == 8


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_question_through_the_cli(case: Case, shared_assistant: Assistant) -> None:
    for command in (["ask"], ["ask", "--json"], ["search", "-k", "3"]):
        code, out, err = run_cli(shared_assistant, *command, case.question)
        if case.error is not None:
            assert code == 2, (command, out, err)
            assert err == f"alliance-qa: error: {case.error}\n"  # exactly one line
            assert out == ""
        elif command == ["ask", "--json"]:
            assert code == 0, err
            data = json.loads(out)
            if case.declines:
                assert data["abstained"] is True and data["citations"] == []
                assert data["answer"].startswith(DECLINE)
            else:
                assert data["abstained"] is False and data["citations"][0]["number"] == case.area
        elif command == ["ask"]:
            assert code == 0, err
            if case.declines:
                assert out.startswith(DECLINE)
            else:
                assert out.startswith(f"**Access to Ports ({case.area})**")
            assert "<script" not in out and "onerror" not in out
        else:
            assert code == 0, err
            assert re.match(r"1\. .+ \((\d+|intro)\)  score -?\d\.\d{3}\n", out), out
            if not case.declines:
                assert out.startswith(f"1. Access to Ports ({case.area})")
    assert_cli_still_answers(shared_assistant)


def test_cli_k_out_of_range_is_one_line(shared_assistant: Assistant) -> None:
    code, out, err = run_cli(shared_assistant, "search", "-k", "0", NORMAL)
    assert code == 2 and out == ""
    assert "Invalid value for '-k': 0 is not in the range 1<=x<=100." in err and "Traceback" not in err
    assert_cli_still_answers(shared_assistant)


def test_cli_turns_an_unexpected_exception_into_one_line(
    shared_assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug below the CLI still reaches the user as one line and exit 1, not a traceback."""

    def broken(self: Assistant, question: str, history: object = None) -> Answer:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Assistant, "ask", broken)
    code, out, err = run_cli(shared_assistant, "ask", NORMAL)
    assert code == 1 and out == ""
    assert err == (
        "alliance-qa: internal error: ZeroDivisionError: division by zero "
        "(run again with -v for the traceback, and please report it)\n"
    )
    monkeypatch.undo()
    assert_cli_still_answers(shared_assistant)


def test_cli_reads_the_question_argument_even_when_it_looks_like_an_option(shared_assistant: Assistant) -> None:
    code, out, err = run_cli(shared_assistant, "ask", "--", "--help me: which ports matter for trade?")
    assert code == 0, err
    assert out.startswith("**Access to Ports (8)**")


def test_questions_do_not_touch_the_corpus_or_index(shared_assistant: Assistant) -> None:
    """Bad questions leave no trace on disk: same build, same corpus files."""
    index_dir: Path = shared_assistant.settings.index_dir
    before = (index_dir / "current").resolve()
    files = sorted(p.name for p in shared_assistant.settings.corpus_dir.iterdir())
    for case in CASES:
        run_cli(shared_assistant, "ask", case.question)
    assert (index_dir / "current").resolve() == before
    assert sorted(p.name for p in shared_assistant.settings.corpus_dir.iterdir()) == files


# ----------------------------------------------------------------------------- bounded cost per question


def nested(depth: int, inner: object) -> object:
    """``inner`` wrapped in ``depth`` lists (built without recursion)."""
    for _ in range(depth):
        inner = [inner]
    return inner


def test_a_history_nested_50000_deep_is_ignored_not_a_recursion_error(shared_assistant: Assistant) -> None:
    deep = nested(50_000, {"type": "text", "text": "Which ports matter for trade?"})
    history = [{"role": "user", "content": deep}, {"role": "assistant", "content": deep}]
    answer = shared_assistant.ask(NORMAL, history=history)
    assert not answer.abstained and answer.citations[0].number == 8
    follow_up = shared_assistant.ask("Why would that boost trade?", history=history)  # the deep turn is not read
    assert isinstance(follow_up, Answer)


def test_only_recent_short_history_turns_are_read() -> None:
    from alliance_qa.assistant import previous_questions
    from alliance_qa.limits import MAX_HISTORY_TURNS

    turns = [f"Question {i}?" for i in range(1000)]
    assert previous_questions(turns) == turns[-MAX_HISTORY_TURNS:]
    too_long = "Which ports matter for trade? " + "x" * 1000  # over the 1,000-character question limit
    assert previous_questions(["Which ports?", too_long, {"role": "user", "content": [{"text": too_long}]}]) == [
        "Which ports?"
    ]


class RecordingEmbedder:
    """The shared model, recording how many word pieces each text it embeds has."""

    def __init__(self, real: object) -> None:
        self.real, self.pieces = real, []  # type: ignore[var-annotated]
        self._model = real._model  # type: ignore[attr-defined]
        self.dimension = real.dimension  # type: ignore[attr-defined]

    def encode(self, texts: list[str], **kwargs: object) -> object:
        self.pieces += [len(self._model.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        return self.real.encode(texts)  # type: ignore[attr-defined]


def test_adversarial_text_has_bounded_embedding_and_typo_matching(
    shared_assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """999 random characters: the model reads at most 64 word pieces (not ~850), typo matching at most 12 words."""
    import random
    import string

    from alliance_qa.lexical import LexicalIndex

    recorder = RecordingEmbedder(shared_assistant.embedder)
    qa = Assistant(shared_assistant.settings.corpus_dir, shared_assistant.settings.index_dir,
                   embedder=recorder, auto_build=False)  # type: ignore[arg-type]
    scans: list[str] = []
    real_near = LexicalIndex._near
    def near(self: LexicalIndex, word: str) -> Any:
        scans.append(word)
        return real_near(self, word)

    monkeypatch.setattr(LexicalIndex, "_near", near)
    rng = random.Random(7)
    words = " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9))) for _ in range(150))
    printable = "".join(rng.choice(string.printable[:94]) for _ in range(999))
    for question in (words[:999], "".join(rng.choice(string.ascii_lowercase) for _ in range(999)), printable):
        scans.clear()
        assert qa.ask(question).abstained
        assert len(scans) <= 12 and all(len(w) <= 30 for w in scans), (len(scans), max(map(len, scans), default=0))
    assert 0 < max(recorder.pieces) <= 64
    assert_still_answers(qa)
