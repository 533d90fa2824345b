"""Shared fixtures: the real model loaded once, the fake embedder for plumbing, throw-away corpus/index
folders in tmp_path, and session-wide in-process chat servers.

Tiers: a test that needs the real model (``embedder``, ``assistant``, ``shared_assistant``, a server
over them), a browser or a subprocess is ``slow`` (marked here by the fixtures it uses, or by hand);
``pytest -m "not slow"`` runs the rest in well under a minute.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# One model thread per test process (before torch is imported, so child processes inherit it too): the suite
# runs on as many workers as cores, and two OpenMP threads per worker contend for the cores; under that load
# one question's embedding took ~225 ms instead of ~10 (the article's eval: 56 s against 7 s single-threaded).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alliance_qa import assistant as assistant_module
from alliance_qa.assistant import Assistant, reset_default_assistant
from alliance_qa.embed import SentenceTransformerEmbedder, load_embedder
from fakeembed import NAME as FAKE_MODEL
from fakeembed import HashEmbedder

REPO = Path(__file__).resolve().parents[1]
ARTICLE = REPO / "corpus" / "10-things-north-korea-and-russia-want.txt"
#: The article's corpus settings (the names the text never states beside its countries), copied with it.
OVERRIDES = REPO / "corpus" / "alliance-qa.toml"


#: Fixtures that make a test slow: the real model (import ~8 s, then real builds), servers, browsers.
SLOW_FIXTURES = {"embedder", "assistant", "shared_assistant", "chat_server", "probe_server", "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses one of :data:`SLOW_FIXTURES` (directly or through another fixture)."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real bundled all-MiniLM-L6-v2, loaded once per test session."""
    return load_embedder()


@pytest.fixture(scope="session")
def fake_embedder() -> HashEmbedder:
    """The fake embedder (hashed words, no model): for plumbing tests only, never as proof of retrieval."""
    return HashEmbedder()


@pytest.fixture
def fake_model(fake_embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch) -> HashEmbedder:
    """Make the configured model the fake one for this test: ``ALLIANCE_QA_MODEL`` names it, and every
    :class:`Assistant` that loads its model (the API, the in-process CLI) gets ``fake_embedder``.

    Other model names still go to the real loader (e.g. a missing ``--model`` folder).
    """
    real = assistant_module.load_embedder
    monkeypatch.setenv("ALLIANCE_QA_MODEL", FAKE_MODEL)
    monkeypatch.setattr(
        assistant_module, "load_embedder", lambda name=FAKE_MODEL: fake_embedder if name == FAKE_MODEL else real(name)
    )
    return fake_embedder


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
    if OVERRIDES.is_file():
        shutil.copy(OVERRIDES, folder / OVERRIDES.name)
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


@pytest.fixture
def fake_assistant(corpus_dir: Path, index_dir: Path, fake_model: HashEmbedder) -> Assistant:
    """An assistant over a fresh copy of the article, its index built with the fake embedder (plumbing only)."""
    qa = Assistant(corpus_dir, index_dir, embedder=fake_model)
    qa.build()
    return qa


@pytest.fixture(scope="session")
def shared_assistant(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Assistant:
    """One read-only assistant over the article for the whole session (do not edit its corpus)."""
    root = tmp_path_factory.mktemp("shared")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    if OVERRIDES.is_file():
        shutil.copy(OVERRIDES, root / "corpus" / OVERRIDES.name)
    qa = Assistant(root / "corpus", root / "index", embedder=embedder)
    qa.build()
    return qa


@pytest.fixture(scope="session")
def chat_server(shared_assistant: Assistant, embedder: SentenceTransformerEmbedder) -> Iterator[Any]:
    """The real chat server (``web.launch``, in this process) over the shared article index, read-only.

    Yields a ``serverutil.InProcessServer`` (``.url``, ``.client()``, ``.ask()``, ``.log_text()``).
    Do not edit its corpus; start your own with ``serverutil.serving`` (or ``running_server`` for a
    subprocess) for that.
    """
    from serverutil import serving

    settings = shared_assistant.settings
    with serving(Assistant(settings.corpus_dir, settings.index_dir, embedder=embedder)) as server:
        yield server


@pytest.fixture(scope="session")
def probe_server(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Iterator[Any]:
    """The real chat server (in this process) over the article plus ``zz-probe.md``, whose title and text
    carry ``<img onerror>``, ``<script>`` and template payloads (``serverutil.write_probe_corpus``)."""
    from serverutil import serving, write_probe_corpus

    root = tmp_path_factory.mktemp("probe-server")
    corpus = write_probe_corpus(root / "corpus")
    qa = Assistant(corpus, root / "index", embedder=embedder)
    qa.build()
    with serving(qa) as server:
        yield server


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, fake_embedder: HashEmbedder) -> Path:
    """The article built once per test module with the fake embedder, to be copied per test (see ``good``)."""
    from robustutil import build_pristine

    return build_pristine(tmp_path_factory.mktemp("pristine"), fake_embedder)


@pytest.fixture
def good(pristine: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(corpus_dir, index_dir, current build)``: a fresh copy of a good build of the article."""
    from robustutil import copy_pristine

    return copy_pristine(pristine, tmp_path)


@pytest.fixture
def parsed_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The corpus files parsed from now on (``corpus.parse_document``'s ``source`` each time), in order."""
    import alliance_qa.corpus as corpus_module

    parsed: list[str] = []
    real_parse = corpus_module.parse_document

    def parse_document(text: str, source: str, **kwargs: Any) -> list[Any]:
        parsed.append(source)
        return real_parse(text, source, **kwargs)

    monkeypatch.setattr(corpus_module, "parse_document", parse_document)
    return parsed


@pytest.fixture
def hashed_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the index files hashed from now on (``verify.file_sha256``), in order."""
    from alliance_qa import verify

    hashed: list[str] = []
    real = verify.file_sha256

    def counting(path: Path) -> str:
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(verify, "file_sha256", counting)
    return hashed
