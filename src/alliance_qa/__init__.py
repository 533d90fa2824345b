"""alliance-qa: cited answers from "10 Things North Korea and Russia Want from Each Other".

>>> import alliance_qa
>>> alliance_qa.search("Which ports matter for trade?", k=3)[0].number
8
"""

from __future__ import annotations

__version__ = "0.1.0"

from .answer import Answer, Citation  # noqa: E402
from .api import ask, build_index, search  # noqa: E402
from .assistant import Assistant  # noqa: E402
from .errors import AllianceQAError  # noqa: E402
from .index import BuildReport  # noqa: E402
from .retrieve import Hit  # noqa: E402

__all__ = [
    "AllianceQAError",
    "Answer",
    "Assistant",
    "BuildReport",
    "Citation",
    "Hit",
    "__version__",
    "ask",
    "build_index",
    "search",
]
