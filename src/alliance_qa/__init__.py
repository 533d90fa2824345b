"""alliance-qa: cited answers from "10 Things North Korea and Russia Want from Each Other".

>>> import alliance_qa
>>> alliance_qa.search("Which ports matter for trade?", k=3)[0].number
8
"""

from __future__ import annotations

__version__ = "0.1.0"

from .answer import Answer, Citation
from .api import ask, build_index, search
from .assistant import Assistant
from .errors import AllianceQAError
from .index import BuildReport
from .retrieve import Hit

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
