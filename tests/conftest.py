"""Shared fixtures: the real model loaded once, and throw-away corpus/index folders in tmp_path."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alliance_qa.assistant import Assistant, reset_default_assistant
from alliance_qa.embed import SentenceTransformerEmbedder, load_embedder

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


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Iterator[Any]:
    """The real chat server (``alliance-qa serve`` subprocess) over a read-only copy of the article.

    Its index is built here first with the session's model, so the server only loads it.
    Yields a ``serverutil.ServerProcess`` (``.url``, ``.client()``, ``.ask()``, ``.log_text()``).
    Do not edit its corpus; start your own with ``serverutil.running_server`` for that.
    """
    from serverutil import copy_article, running_server

    root = tmp_path_factory.mktemp("chat-server")
    corpus = copy_article(root / "corpus")
    Assistant(corpus, root / "index", embedder=embedder).build()
    with running_server(corpus, root / "index") as server:
        yield server


@pytest.fixture(scope="session")
def probe_server(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Iterator[Any]:
    """The real chat server over the article plus ``zz-probe.md``, whose title and text carry
    ``<img onerror>``, ``<script>`` and template payloads (``serverutil.write_probe_corpus``)."""
    from serverutil import running_server, write_probe_corpus

    root = tmp_path_factory.mktemp("probe-server")
    corpus = write_probe_corpus(root / "corpus")
    Assistant(corpus, root / "index", embedder=embedder).build()
    with running_server(corpus, root / "index") as server:
        yield server
