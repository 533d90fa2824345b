"""Question embeddings from concurrent callers, merged into one model call.

A server answering several questions at once would otherwise run the model once
per question; for short texts most of a call is fixed cost (one question ~9-14 ms
on this machine class, eight in one call ~3 ms each). :class:`Batcher` merges them:
the first caller runs the model for itself; callers arriving while that call runs
wait, and the next call encodes all of them together. No thread of its own, so a
lone caller pays one lock, and an answer still costs about one embedding.

Bounded: a model call reads at most :data:`MAX_BATCH_TEXTS` texts (a request
above it bypasses merging), and only callers already blocked in :meth:`encode`
are ever queued, so the queue is no longer than the number of concurrent callers
(the web server's queue concurrency). A failed merged call is retried request by
request, so an exception reaches only the callers whose texts raised it.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_BATCH_TEXTS", "Batcher", "batcher_for", "encode_batched"]

#: Most texts run through the model in one merged call (questions are cut to 64 word pieces each).
MAX_BATCH_TEXTS = 32


class _Request:
    __slots__ = ("error", "lead", "result", "texts", "wake")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.wake = threading.Event()
        self.lead = False
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None


class Batcher:
    """Merges concurrent :meth:`encode` calls on ``embedder`` into one ``embedder.encode`` call at a time."""

    def __init__(self, embedder: Any, *, max_texts: int = MAX_BATCH_TEXTS) -> None:
        self.embedder = embedder
        self.max_texts = max(1, int(max_texts))
        self._lock = threading.Lock()
        self._pending: deque[_Request] = deque()
        self._busy = False
        #: Model calls made and texts encoded through merging (for benchmarks and tests).
        self.calls = 0
        self.texts = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The embedder's vectors for ``texts`` (one row each), encoded together with concurrent callers' texts."""
        if len(texts) == 0 or len(texts) > self.max_texts:
            return np.asarray(self.embedder.encode(list(texts)))
        request = _Request(list(texts))
        with self._lock:
            self._pending.append(request)
            lead = not self._busy
            self._busy = True
        if not lead:
            request.wake.wait()  # set when our result is ready, or when it is our turn to run the model
            lead = request.lead
        if lead:
            self._run()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _run(self) -> None:
        """Encode the requests at the front of the queue (ours first), then hand the model to the next waiter."""
        with self._lock:
            batch = [self._pending.popleft()]
            size = len(batch[0].texts)
            while self._pending and size + len(self._pending[0].texts) <= self.max_texts:
                size += len(self._pending[0].texts)
                batch.append(self._pending.popleft())
        try:
            self._encode(batch)
        finally:
            with self._lock:
                if self._pending:
                    following = self._pending[0]
                    following.lead = True
                    following.wake.set()
                else:
                    self._busy = False
            for request in batch[1:]:
                request.wake.set()

    def _encode(self, batch: list[_Request]) -> None:
        flat = [text for request in batch for text in request.texts]
        try:
            vectors = np.asarray(self.embedder.encode(flat))
            if len(vectors) != len(flat):
                raise ValueError(f"the embedder returned {len(vectors)} vectors for {len(flat)} texts")
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            for request in batch:  # alone, so each caller gets its own result or its own error
                self._encode([request])
            return
        self.calls += 1
        self.texts += len(flat)
        start = 0
        for request in batch:
            request.result = vectors[start : start + len(request.texts)]
            start += len(request.texts)


_batchers: weakref.WeakKeyDictionary[Any, Batcher] = weakref.WeakKeyDictionary()
_batchers_lock = threading.Lock()


def batcher_for(embedder: Any) -> Batcher:
    """The process-wide :class:`Batcher` of ``embedder`` (one per embedder object, so its callers merge)."""
    with _batchers_lock:
        try:
            found = _batchers.get(embedder)
            if found is None:
                found = _batchers[embedder] = Batcher(embedder)
            return found
        except TypeError:  # not weakly referable: a batcher of its own for this call (correct, never merged)
            return Batcher(embedder)


def encode_batched(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """``embedder.encode(texts)``, merged with other threads' concurrent calls on the same embedder."""
    return batcher_for(embedder).encode(texts)
