"""Shared fixtures: the real model loaded once, and throw-away corpus/index folders in tmp_path."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alliance_qa.assistant import Assistant, reset_default_assistant  # noqa: E402
from alliance_qa.embed import SentenceTransformerEmbedder, load_embedder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARTICLE = REPO / "corpus" / "10-things-north-korea-and-russia-want.txt"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real bundled all-MiniLM-L6-v2, loaded once per test session."""
    return load_embedder()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the default settings at tmp_path so no test touches the repository's corpus/ or index/."""
    monkeypatch.setenv("ALLIANCE_QA_CORPUS", str(tmp_path / "corpus"))
    monkeypatch.setenv("ALLIANCE_QA_INDEX", str(tmp_path / "index"))
    monkeypatch.delenv("ALLIANCE_QA_MODEL", raising=False)
    reset_default_assistant()
    yield
    reset_default_assistant()


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A copy of the article in tmp_path/corpus."""
    folder = tmp_path / "corpus"
    folder.mkdir(exist_ok=True)
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    return folder


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    """An empty index folder path in tmp_path."""
    return tmp_path / "index"


@pytest.fixture
def assistant(corpus_dir: Path, index_dir: Path, embedder: SentenceTransformerEmbedder) -> Assistant:
    """An assistant over a fresh copy of the article, its index built in tmp_path with the real model."""
    qa = Assistant(corpus_dir, index_dir, embedder=embedder)
    qa.build()
    return qa


@pytest.fixture(scope="session")
def shared_assistant(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Assistant:
    """One read-only assistant over the article for the whole session (do not edit its corpus)."""
    root = tmp_path_factory.mktemp("shared")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    qa = Assistant(root / "corpus", root / "index", embedder=embedder)
    qa.build()
    return qa
