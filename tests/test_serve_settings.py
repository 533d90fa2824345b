"""Serving settings: questions answered at once and model threads, from the environment, checked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from alliance_qa import web
from alliance_qa.assistant import Assistant
from alliance_qa.config import env_count
from alliance_qa.errors import AllianceQAError


@pytest.fixture
def _threads_restored() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_counts_come_from_the_environment_or_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLIANCE_QA_CONCURRENCY", raising=False)
    assert env_count("ALLIANCE_QA_CONCURRENCY", 8) == 8
    monkeypatch.setenv("ALLIANCE_QA_CONCURRENCY", " 12 ")
    assert env_count("ALLIANCE_QA_CONCURRENCY", 8) == 12
    for bad in ("0", "-3", "two", "1.5"):
        monkeypatch.setenv("ALLIANCE_QA_CONCURRENCY", bad)
        with pytest.raises(AllianceQAError) as exc:
            env_count("ALLIANCE_QA_CONCURRENCY", 8)
        assert str(exc.value) == (
            f"ALLIANCE_QA_CONCURRENCY={bad!r} is not a whole number of at least 1: set it to e.g. 8, or unset it"
        )


@pytest.mark.usefixtures("_threads_restored")
def test_warm_up_puts_the_model_on_its_serving_threads(assistant: Assistant) -> None:
    torch.set_num_threads(2)
    web.warm_up(assistant)
    assert torch.get_num_threads() == web.MODEL_THREADS == 1
    assert assistant.auto_build is False
