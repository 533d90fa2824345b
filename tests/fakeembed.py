"""A fake embedder for plumbing tests: deterministic vectors from a hash of each text's words.

Like simonw/llm's ``EmbedDemo``: no model, no torch, microseconds a text.  Each word (lower-cased,
crudely stemmed, :data:`STOP_WORDS` skipped) adds +-1 to one of :data:`DIMENSION` coordinates chosen by a BLAKE2 hash,
and the whole text adds a little to one more, so texts sharing words have a positive cosine,
different texts (almost) never tie, and the same text always gives the same vector, in any process.  Good enough for the corpus, index lifecycle, faults, CLI errors and most robustness
tests; never a proof that retrieval works (the quality tests use the real model).

Used in-process through the ``fake_model`` fixture (conftest), and in a child process by
:data:`CHILD_CLI`, which can also pause the child inside its first embedding call, so a test can
SIGKILL a build at a point it has verified.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

#: The model name recorded in manifests of indexes built with the fake (``ALLIANCE_QA_MODEL``).
NAME = "fake-hash-embedder"
DIMENSION = 384
TESTS = Path(__file__).resolve().parent
_WORD = re.compile(r"[^\W_]+")
#: Words that carry no topic: left out, so a question's vector leans on its content words.
STOP_WORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for", "from", "has", "have", "how", "i", "in", "is", "it", "its", "of", "on", "or", "should", "so", "that", "the", "their", "them", "they", "this", "to", "was", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your"]
)


def stem(word: str) -> str:
    """A crude stem: one common English ending dropped (``descaling``, ``descale`` -> ``descal``)."""
    for ending in ("ing", "ed", "es", "s", "e"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def _slot(word: str) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
    return digest % DIMENSION, 1.0 if digest >> 63 else -1.0


class HashEmbedder:
    """Unit-length float32 vectors from the hashed words of each text (an :class:`alliance_qa.embed.Embedder`).

    ``on_encode`` (optional) is called with the texts before each :meth:`encode`, e.g. to count
    them, to fail, or to pause.
    """

    def __init__(self, name: str = NAME, on_encode: Callable[[Sequence[str]], None] | None = None) -> None:
        self.name = name
        self.dimension = DIMENSION
        self.on_encode = on_encode
        self.calls = 0

    def vector(self, text: str) -> np.ndarray:
        """The vector of one text; a text without words gets a fixed unit vector."""
        out = np.zeros(DIMENSION, dtype=np.float32)
        for word in _WORD.findall(text.casefold()):
            if word in STOP_WORDS:
                continue
            slot, sign = _slot(stem(word))
            out[slot] += sign
        slot, sign = _slot("\x00" + text)  # a little of the whole text: different texts never tie exactly
        out[slot] += 0.05 * sign
        norm = float(np.linalg.norm(out))
        if norm == 0.0:
            out[0] = 1.0
            return out
        return out / norm

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """An ``(len(texts), DIMENSION)`` float32 array of L2-normalized vectors."""
        if self.on_encode is not None:
            self.on_encode(texts)
        self.calls += 1
        if len(texts) == 0:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.stack([self.vector(t) for t in texts])


def install(embedder: HashEmbedder) -> None:
    """Make this process's :class:`~alliance_qa.assistant.Assistant` load ``embedder`` for the model :data:`NAME`.

    Any other model name still goes to the real loader.  For a child process; tests use the
    ``fake_model`` fixture, which does the same with ``monkeypatch``.
    """
    from alliance_qa import assistant, embed

    real = embed.load_embedder

    def load(name: str = NAME) -> object:
        return embedder if name == NAME else real(name)

    assistant.load_embedder = load  # type: ignore[assignment]


def pause_in_encode(started: Path) -> Callable[[Sequence[str]], None]:
    """An ``on_encode`` hook for a child process: on the first call, create ``started``, then block
    until a line (or end of file) arrives on stdin.

    While it blocks, the build is inside its embedding and holds the index lock: the test that
    started the child can check that, kill it, or release it by writing to (or closing) its stdin.
    """
    state = {"first": True}

    def hook(texts: Sequence[str]) -> None:
        if not state["first"]:
            return
        state["first"] = False
        partial = started.with_name(started.name + ".tmp")
        partial.write_text(f"{os.getpid()} {len(texts)}\n", encoding="utf-8")
        os.replace(partial, started)  # appears whole: a test that sees it can read it
        sys.stdin.readline()

    return hook


#: ``python -c CHILD_CLI ARGS``: ``alliance-qa ARGS`` with the fake embedder (set ``ALLIANCE_QA_MODEL`` to
#: :data:`NAME`).  With ``AQA_FAKE_STARTED`` set, the first embedding call creates that file and waits for a
#: line on stdin (see :func:`pause_in_encode`).  No torch is imported.
CHILD_CLI = f"""
import os, sys
sys.path.insert(0, {str(TESTS)!r})
from pathlib import Path
import fakeembed
hook = None
if os.environ.get("AQA_FAKE_STARTED"):
    hook = fakeembed.pause_in_encode(Path(os.environ["AQA_FAKE_STARTED"]))
fakeembed.install(fakeembed.HashEmbedder(on_encode=hook))
from alliance_qa.cli import main
sys.argv[0] = "alliance-qa"
main()
"""
