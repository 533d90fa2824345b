"""Module-level shortcuts over one process-wide :class:`~alliance_qa.assistant.Assistant`.

Settings come from ``ALLIANCE_QA_CORPUS``, ``ALLIANCE_QA_INDEX`` and
``ALLIANCE_QA_MODEL`` (or the defaults); build an ``Assistant`` yourself for
explicit settings.
"""

from __future__ import annotations

from .assistant import History, default_assistant
from .build import BuildReport
from .types import Answer, Hit


def search(question: str, k: int = 5) -> list[Hit]:
    """Return up to ``k`` sections matching ``question``, best first."""
    return default_assistant().search(question, k)


def ask(question: str, history: History = None) -> Answer:
    """Answer ``question`` from the documents with quotes and citations, or decline."""
    return default_assistant().ask(question, history)


def build_index(*, full: bool = False) -> BuildReport:
    """Rebuild the index incrementally (``full=True``: re-embed everything) and report the counts."""
    return default_assistant().build(full=full)
