"""Settings: keyword arguments first, then environment variables, then defaults.

``ALLIANCE_QA_CORPUS``, ``ALLIANCE_QA_INDEX`` and ``ALLIANCE_QA_MODEL`` override
the defaults; an explicit keyword argument overrides both.  Relative default
paths are resolved against the current working directory, so running from a
checkout uses its ``corpus/`` and ``index/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PathLike = str | os.PathLike[str]

#: The model name recorded in manifests for the bundled all-MiniLM-L6-v2.
DEFAULT_MODEL = "all-MiniLM-L6-v2"

ENV_CORPUS = "ALLIANCE_QA_CORPUS"
ENV_INDEX = "ALLIANCE_QA_INDEX"
ENV_MODEL = "ALLIANCE_QA_MODEL"

#: Questions longer than this many characters are refused with a friendly message.
MAX_QUESTION_CHARS = 1000


def env_count(name: str, default: int, error: type[Exception] | None = None) -> int:
    """A whole number of at least 1 from environment variable ``name`` ("2_000" allowed), else ``default``.

    Anything else raises ``error`` (default :class:`~alliance_qa.errors.AllianceQAError`) naming the value and the fix.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    digits = raw.replace("_", "")
    if not digits.isdigit() or int(digits) < 1:
        from .errors import AllianceQAError

        raise (error or AllianceQAError)(
            f"{name}={raw!r} is not a whole number of at least 1: set it to e.g. {default}, or unset it"
        )
    return int(digits)


@dataclass(frozen=True)
class Settings:
    """Where the corpus and index live and which embedding model to use."""

    corpus_dir: Path
    index_dir: Path
    model: str

    @classmethod
    def resolve(
        cls,
        corpus_dir: PathLike | None = None,
        index_dir: PathLike | None = None,
        model: str | None = None,
    ) -> Settings:
        """Combine keyword arguments, environment overrides and defaults."""
        corpus = corpus_dir or os.environ.get(ENV_CORPUS) or "corpus"
        index = index_dir or os.environ.get(ENV_INDEX) or "index"
        chosen = model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
        return cls(
            corpus_dir=Path(corpus).expanduser().absolute(),
            index_dir=Path(index).expanduser().absolute(),
            model=chosen,
        )
