"""The question batcher: concurrent encode calls merged into one model call, each caller getting its own rows."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alliance_qa.assistant import Assistant
from alliance_qa.batch import Batcher, batcher_for
from alliance_qa.embed import SentenceTransformerEmbedder


class _Fake:
    """Vectors computed from each text alone; the first call can be held open; texts 'boom*' fail their call."""

    name = "fake"
    dimension = 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        self.entered.set()
        assert self.release.wait(30), "the test never released the model call"
        if any(t.startswith("boom") for t in texts):
            raise ValueError(f"cannot embed {[t for t in texts if t.startswith('boom')]}")
        return np.array([[len(t), ord(t[0]), sum(map(ord, t))] for t in texts], dtype=np.float32)


class _Queue(deque[Any]):
    """The batcher's queue, signalling once ``target`` requests wait in it."""

    def __init__(self, target: int) -> None:
        super().__init__()
        self.target = target
        self.full = threading.Event()

    def append(self, item: Any) -> None:
        super().append(item)
        if len(self) >= self.target:
            self.full.set()


def _hold_then_queue(batcher: Batcher, fake: _Fake, first: list[str], others: list[list[str]]) -> dict[int, Any]:
    """Run ``first`` and hold its model call open while every request of ``others`` queues; then release.

    Returns each request's result (or exception) by position: 0 is ``first``.
    """
    out: dict[int, Any] = {}
    queue = _Queue(len(others))
    batcher._pending = queue

    def call(i: int, texts: list[str]) -> None:
        try:
            out[i] = batcher.encode(texts)
        except Exception as exc:
            out[i] = exc

    fake.release.clear()
    leader = threading.Thread(target=call, args=(0, first))
    leader.start()
    assert fake.entered.wait(30)
    threads = [threading.Thread(target=call, args=(i + 1, t)) for i, t in enumerate(others)]
    for thread in threads:
        thread.start()
    assert queue.full.wait(30), "the callers did not all queue behind the running model call"
    fake.release.set()
    for thread in [leader, *threads]:
        thread.join(30)
        assert not thread.is_alive()
    return out


def test_concurrent_calls_are_merged_and_each_caller_gets_its_own_rows() -> None:
    fake = _Fake()
    alone = _Fake()
    batcher = Batcher(fake)
    others = [["second question?"], ["third", "and fourth"], ["fifth one"]]
    out = _hold_then_queue(batcher, fake, ["first question?"], others)
    assert len(fake.calls) == 2 and fake.calls[0] == ["first question?"]  # the queued three in one call
    assert sorted(fake.calls[1]) == sorted(["second question?", "third", "and fourth", "fifth one"])
    for i, texts in enumerate([["first question?"], *others]):
        assert np.array_equal(out[i], alone.encode(texts)), (i, texts)
    assert batcher.calls == 2 and batcher.texts == 5


def test_an_exception_reaches_only_its_callers() -> None:
    fake = _Fake()
    batcher = Batcher(fake)
    out = _hold_then_queue(batcher, fake, ["fine"], [["also fine"], ["boom: bad text"], ["still fine", "ok"]])
    assert isinstance(out[2], ValueError) and "boom: bad text" in str(out[2])
    for i, texts in ((0, ["fine"]), (1, ["also fine"]), (3, ["still fine", "ok"])):
        assert np.array_equal(out[i], _Fake().encode(texts)), i
    # the merged call failed, so each request was retried alone
    assert sorted(fake.calls[1]) == sorted(["also fine", "boom: bad text", "still fine", "ok"])
    assert sorted(map(tuple, fake.calls[2:])) == [("also fine",), ("boom: bad text",), ("still fine", "ok")]
    # and the batcher still works afterwards
    assert np.array_equal(batcher.encode(["after"]), _Fake().encode(["after"]))


def test_a_merged_call_never_exceeds_the_text_limit() -> None:
    fake = _Fake()
    batcher = Batcher(fake, max_texts=4)
    others = [["a1", "a2"], ["b1", "b2"], ["c1", "c2"], ["d1", "d2", "d3", "d4", "d5"]]  # d bypasses merging
    out = _hold_then_queue(batcher, fake, ["first"], others[:3])
    merged = fake.calls[1:]
    assert len(merged) == 2 and all(len(call) <= 4 for call in merged)  # 6 texts: 4 + 2
    assert sorted(t for call in merged for t in call) == sorted(t for row in others[:3] for t in row)
    assert all(np.array_equal(out[i + 1], _Fake().encode(t)) for i, t in enumerate(others[:3]))
    assert np.array_equal(batcher.encode(others[3]), _Fake().encode(others[3]))
    assert fake.calls[-1] == others[3] and all(len(c) <= 5 for c in fake.calls)
    assert batcher.encode([]).shape[0] == 0


def test_one_batcher_per_embedder() -> None:
    fake = _Fake()
    assert batcher_for(fake) is batcher_for(fake)
    assert batcher_for(fake) is not batcher_for(_Fake())


def test_real_model_rows_match_one_by_one_encoding(embedder: SentenceTransformerEmbedder) -> None:
    questions = [
        f"What does section {i} say about {w}?" for i, w in enumerate(["trade", "ports", "energy", "food"] * 4)
    ]
    alone = [embedder.encode([q])[0] for q in questions]
    batcher = Batcher(embedder)
    start = threading.Barrier(len(questions))
    got: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        start.wait()
        got[i] = batcher.encode([questions[i]])[0]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(got) == list(range(len(questions)))
    for i, vector in got.items():
        assert vector.shape == (embedder.dimension,)
        assert float(vector @ alone[i]) == pytest.approx(1.0, abs=1e-5), questions[i]
        assert np.allclose(vector, alone[i], atol=1e-5)
    assert batcher.texts == len(questions) and batcher.calls < len(questions)  # some calls were merged


def test_one_text_skips_encodes_set_up_and_gives_its_vector_to_the_bit(embedder: SentenceTransformerEmbedder) -> None:
    texts = ["Which ports matter for trade?", "ÉNERGIE — naïve café ☕ 42", " ".join(["long"] * 400), "x"]
    for text in texts:  # the last is cut at the model's 256 word pieces, as encode cuts it
        reference = embedder.model.encode([text], normalize_embeddings=True, convert_to_numpy=True)
        got = embedder.encode([text])
        assert got.dtype == np.float32 and got.shape == (1, embedder.dimension)
        np.testing.assert_array_equal(got, reference.astype(np.float32))
    # in a batch the shorter text is padded, which moves its last bits (as in encode itself), no more
    np.testing.assert_allclose(embedder.encode(texts[:2])[1], embedder.encode([texts[1]])[0], atol=1e-6)


def test_concurrent_answers_match_sequential_ones(assistant: Assistant, tmp_path: Path) -> None:
    questions = ["Why does trade matter?", "What about energy?", "tell me about ports", "food aid"]
    expected = [assistant.ask(q).text for q in questions]
    fresh = Assistant(assistant.settings.corpus_dir, assistant.settings.index_dir, embedder=assistant.embedder,
                      auto_build=False)  # fmt: skip
    start = threading.Barrier(len(questions))
    got: dict[int, str] = {}

    def ask(i: int) -> None:
        start.wait()
        got[i] = fresh.ask(questions[i]).text

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [got[i] for i in range(len(questions))] == expected
