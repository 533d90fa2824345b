"""Nothing under ``src/`` may know the shipped article: its countries, leaders, cities or phrases.

The article is one test case among several corpora; names and phrases come from the corpus profile
(and, for the article, from ``corpus/alliance-qa.toml``), never from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
#: The article's names and phrases (whole words, any case).
FORBIDDEN = (
    "North Korea", "North Korean", "Korea", "Korean", "Russia", "Russian", "Pyongyang", "Moscow", "Kremlin",
    "Kim Jong", "Kim", "Putin", "DPRK", "Vladivostok", "Rajin", "interest area", "interest areas",
    "ports matter", "10 Things", "Want from Each Other", "denuclearization", "Counterbalancing China",
)
PATTERN = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in FORBIDDEN) + r")\b", re.IGNORECASE)


def test_no_source_file_names_the_shipped_article() -> None:
    found = []
    for path in sorted(SRC.rglob("*")):
        if not path.is_file() or path.suffix not in {".py", ".txt", ".json", ".toml", ".md", ".html", ".css", ".js"}:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for m in PATTERN.finditer(line):
                found.append(f"{path.relative_to(SRC)}:{n}: {m.group(0)!r} in {line.strip()[:100]}")
    assert not found, "article-specific strings in src/:\n" + "\n".join(found)


def test_the_package_metadata_names_no_article() -> None:
    """``pyproject.toml``'s ``[project]`` table becomes the installed metadata (``src/*.egg-info/PKG-INFO``)."""
    import tomllib

    project = tomllib.loads((SRC.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "readme" not in project, "the README describes the shipped article; PKG-INFO would carry it"
    assert not PATTERN.search(project["description"]), project["description"]


def test_the_check_itself_finds_such_strings() -> None:
    assert PATTERN.search("EXAMPLES = ('Which ports matter for trade?',)")
    assert PATTERN.search("kremlin") and PATTERN.search("an Interest Area")
    assert not PATTERN.search("cloud computing, interesting areas")  # "putin" inside a word is not a name
