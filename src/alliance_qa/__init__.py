"""alliance-qa: quoted, cited answers from the documents in a corpus folder.

>>> import alliance_qa
>>> alliance_qa.ask("What is this about?").citations[0].document  # doctest: +SKIP
'my-document.txt'
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import ask, build_index, search
from .assistant import Assistant
from .build import BuildReport
from .errors import AllianceQAError
from .types import Answer, Citation, Hit

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
